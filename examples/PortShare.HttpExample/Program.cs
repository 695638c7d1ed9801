// PortShare.HttpExample: calls a server N times through an HttpClient whose connections all come from this host's
// port slice, and prints the client endpoint the server saw for each request.
//
//   dotnet run --project examples/PortShare.HttpExample -- --slice 40000-40511 [--count 5] [--parallel 3]
//              [--egress 127.0.0.1] [--strategy auto|kernel|fallback] [--state-file PATH] [--url URL]
//
// Without --url it starts a small Kestrel server on 127.0.0.1 (port 0) that answers with the client's address:port.
// The setup an application needs is the three lines marked below; the rest is the example's own plumbing.
using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using PortShare.Connect;

const int ExitOk = 0;
const int ExitOutsideSlice = 1;
const int ExitUsage = 2;
const int ExitFailed = 3;

var switches = new Dictionary<string, string>(StringComparer.Ordinal)
{
    ["--slice"] = "PortShare:Slice",
    ["--state-file"] = "PortShare:StateFile",
    ["--egress"] = "PortShare:EgressAddress",
    ["--strategy"] = "PortShare:Strategy",
    ["--url"] = "Example:Url",
    ["--count"] = "Example:Count",
    ["--parallel"] = "Example:Parallel",
};

if (args.Any(a => a is "--help" or "-h"))
{
    Console.WriteLine("usage: PortShare.HttpExample [--slice LO-HI | --state-file PATH] [--egress ADDRESS] [--strategy auto|kernel|fallback] [--url URL] [--count N] [--parallel N]");
    return ExitOk;
}

if (args.Length % 2 != 0)
{
    Console.Error.WriteLine($"error: option {args[^1]} needs a value; run with --help for usage.");
    return ExitUsage;
}

if (args.Where((_, i) => i % 2 == 0).FirstOrDefault(a => !switches.ContainsKey(a)) is { } unknown)
{
    Console.Error.WriteLine($"error: unknown option '{unknown}'; run with --help for usage.");
    return ExitUsage;
}

var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = AppContext.BaseDirectory });
builder.Configuration.AddCommandLine(args, switches);
builder.Logging.AddSimpleConsole(o => o.SingleLine = true);

// --- the setup an application needs (plus "PortShare": { "Slice": "..." } in appsettings.json) ---
builder.Services.AddHttpClient("example").UsePortSlice();
// -----------------------------------------------------------------------------------------------

var count = builder.Configuration.GetValue("Example:Count", 5);
var parallel = builder.Configuration.GetValue("Example:Parallel", 1);
if (count < 1 || parallel < 1)
{
    Console.Error.WriteLine("error: --count and --parallel must be at least 1.");
    return ExitUsage;
}

using var host = builder.Build();
try
{
    // ValidateOnStart: a bad slice stops here, before any request.
    await host.StartAsync();
}
catch (OptionsValidationException ex)
{
    Console.Error.WriteLine("error: PortShare is not configured correctly:");
    foreach (var failure in ex.Failures)
    {
        Console.Error.WriteLine($"  - {failure}");
    }

    return ExitUsage;
}

var connector = host.Services.GetRequiredService<SliceConnector>();
var client = host.Services.GetRequiredService<IHttpClientFactory>().CreateClient("example");

await using var localServer = builder.Configuration["Example:Url"] is null ? await EchoServer.StartAsync() : null;
var target = localServer?.Address ?? new Uri(builder.Configuration["Example:Url"]!);
Console.WriteLine($"Calling {target} {count} time(s), {parallel} at a time, from slice {connector.Slice} ({connector.Slice.Count} ports, {connector.Strategy} strategy, egress {connector.LocalAddress?.ToString() ?? "chosen by routing"}).");

var seen = new IPEndPoint?[count];
var failed = 0;
using var gate = new SemaphoreSlim(parallel);
await Task.WhenAll(Enumerable.Range(0, count).Select(async i =>
{
    await gate.WaitAsync();
    try
    {
        using var response = await client.GetAsync(target);
        var body = (await response.Content.ReadAsStringAsync()).Trim();
        if (IPEndPoint.TryParse(body, out var endpoint))
        {
            seen[i] = endpoint;
            var where = connector.Slice.Contains(endpoint.Port) ? "inside" : "OUTSIDE";
            Console.WriteLine($"request {i + 1,3}: server saw {endpoint} ({where} slice {connector.Slice})");
        }
        else
        {
            Console.WriteLine($"request {i + 1,3}: HTTP {(int)response.StatusCode}, {body.Length} characters (the server does not echo the client endpoint)");
        }
    }
    catch (HttpRequestException ex)
    {
        Interlocked.Increment(ref failed);
        Console.Error.WriteLine($"request {i + 1,3}: failed: {ex.Message}");
    }
    finally
    {
        gate.Release();
    }
}));

var endpoints = seen.OfType<IPEndPoint>().ToList();
var outside = endpoints.Count(e => !connector.Slice.Contains(e.Port));
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"{count - failed} of {count} request(s) answered; {endpoints.Select(e => e.Port).Distinct().Count()} distinct local port(s); {outside} outside the slice."));
await host.StopAsync();
return failed > 0 ? ExitFailed : outside > 0 ? ExitOutsideSlice : ExitOk;

/// <summary>A Kestrel server on 127.0.0.1, port 0, that answers every request with the client endpoint it saw.</summary>
internal sealed class EchoServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private EchoServer(WebApplication app, Uri address)
    {
        _app = app;
        Address = address;
    }

    public Uri Address { get; }

    public static async Task<EchoServer> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        app.Run(context => context.Response.WriteAsync(
            new IPEndPoint(context.Connection.RemoteIpAddress!, context.Connection.RemotePort).ToString(), context.RequestAborted));
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        return new EchoServer(app, new Uri(address));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
