using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace PortShare.Http.Tests.Infrastructure;

/// <summary>
/// A real Kestrel server on a loopback address and a fresh port (so client ports in TIME_WAIT toward other tests'
/// servers never matter). It answers every request with the client endpoint it saw and records it.
/// </summary>
internal sealed class LoopbackServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private LoopbackServer(WebApplication app, Uri baseAddress)
    {
        _app = app;
        BaseAddress = baseAddress;
    }

    public Uri BaseAddress { get; }

    public int Port => BaseAddress.Port;

    /// <summary>Every request's client endpoint, as the server saw it.</summary>
    public ConcurrentQueue<IPEndPoint> Clients { get; } = new();

    /// <summary>Starts a server on <paramref name="address"/>; <paramref name="beforeAnswer"/> runs before each answer (to hold requests).</summary>
    public static async Task<LoopbackServer> StartAsync(IPAddress address, Func<HttpContext, Task>? beforeAnswer = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(address, 0));
        var app = builder.Build();
        LoopbackServer? server = null;
        app.Run(async context =>
        {
            var client = new IPEndPoint(context.Connection.RemoteIpAddress!, context.Connection.RemotePort);
            server!.Clients.Enqueue(client);
            if (beforeAnswer is not null)
            {
                await beforeAnswer(context);
            }

            await context.Response.WriteAsync(client.ToString(), context.RequestAborted);
        });
        await app.StartAsync(TestContext.Current.CancellationToken);
        var bound = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        server = new LoopbackServer(app, new Uri(bound.Replace("0.0.0.0", address.ToString(), StringComparison.Ordinal)));
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
