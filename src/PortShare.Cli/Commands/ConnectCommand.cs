using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using PortShare.Connect;

namespace PortShare.Cli.Commands;

/// <summary><c>portshare connect</c>: open N connections from a slice, hold them until all are made, print the endpoints.</summary>
internal static class ConnectCommand
{
    private static readonly Option<PortSlice?> s_slice = CliOptions.Slice();
    private static readonly Option<IPAddress?> s_local = CliOptions.LocalAddress();
    private static readonly Option<ConnectStrategy?> s_strategy = CliOptions.Strategy();
    private static readonly Option<bool> s_json = CliOptions.Json();

    private static readonly Option<int> s_count = new("--count", "-n")
    {
        Description = "How many connections to open (all are held open until the last is made).",
        DefaultValueFactory = _ => 1,
        Validators =
        {
            r =>
            {
                if (r.GetValueOrDefault<int>() is < 1 or > 1_000_000)
                {
                    r.AddError("--count must be between 1 and 1000000.");
                }
            },
        },
    };

    private static readonly Option<double> s_timeout = new("--timeout")
    {
        Description = "Seconds to wait for each connection (and, with --udp, for each reply).",
        DefaultValueFactory = _ => 10,
        Validators =
        {
            r =>
            {
                if (r.GetValueOrDefault<double>() is not (> 0 and <= 3600))
                {
                    r.AddError("--timeout must be more than 0 and at most 3600 seconds.");
                }
            },
        },
    };

    private static readonly Option<bool> s_udp = new("--udp")
    {
        Description = "UDP instead of TCP: open flows from the slice, send one datagram on each and print any reply.",
    };

    private static readonly Option<string?> s_mode = new("--mode")
    {
        Description = "UDP only: shared (ports shared across destinations, connectx-style, default) or unique (one flow per port, IP_LOCAL_PORT_RANGE).",
    };

    private static readonly Option<string?> s_payload = new("--payload")
    {
        Description = "UDP only: the datagram to send (default \"portshare\").",
    };

    private static readonly Argument<string> s_destination = new("HOST:PORT")
    {
        Description = "The destination, e.g. 127.0.0.1:8080, [::1]:8080 or localhost:8080.",
        Validators =
        {
            r =>
            {
                var text = r.Tokens.Count > 0 ? r.Tokens[0].Value : string.Empty;
                if (!CliOptions.TryParseHostPort(text, out _, out _, out var error))
                {
                    r.AddError(error);
                }
            },
        },
    };

    public static Command Create(CliConsole console)
    {
        var command = new Command("connect", "Open TCP connections (or UDP flows with --udp) from a port slice and print their local and remote endpoints. The slice comes from --slice, from --plan with --host, or else from this host's slice file (portshare host apply).")
        {
            s_slice, s_local, s_strategy, s_count, s_timeout, s_json, s_udp, s_mode, s_payload, s_destination,
        };
        foreach (var option in SliceSource.All)
        {
            command.Options.Add(option);
        }

        command.SetAction((parseResult, ct) => CommandRunner.RunAsync(console, () => RunAsync(console, parseResult, ct)));
        return command;
    }

    private static async Task<int> RunAsync(CliConsole console, ParseResult parse, CancellationToken ct)
    {
        var udp = parse.GetValue(s_udp);
        if (!udp && (parse.GetValue(s_mode) is not null || parse.GetValue(s_payload) is not null))
        {
            throw new UsageException("--mode and --payload apply to UDP flows only: add --udp, or drop them.");
        }

        if (udp && parse.GetValue(s_strategy) is not null)
        {
            throw new UsageException("--strategy applies to TCP; for UDP choose --mode shared or unique.");
        }

        CliOptions.TryParseHostPort(parse.GetValue(s_destination)!, out var host, out var port, out _);
        var addresses = await ResolveAsync(host, ct);
        var local = parse.GetValue(s_local);
        var source = SliceSource.Resolve(parse, s_slice, local, console.Now, addresses.Length > 0 && addresses.All(a => a.AddressFamily == addresses[0].AddressFamily) ? addresses[0].AddressFamily : null);
        if (source.Local is { } egress && !addresses.Any(a => a.AddressFamily == egress.AddressFamily))
        {
            throw new PortShareException($"{host} has no {(egress.AddressFamily == AddressFamily.InterNetworkV6 ? "IPv6" : "IPv4")} address, so no connection can come from egress address {egress}.");
        }

        var timeout = TimeSpan.FromSeconds(parse.GetValue(s_timeout));
        return udp
            ? await UdpConnect.RunAsync(console, source.Slice, source.Local, parse.GetValue(s_mode), parse.GetValue(s_count), parse.GetValue(s_json), Pick(addresses, source.Local, port), parse.GetValue(s_payload), timeout, CurrentNamespace.Instance, ct)
            : await RunTcpAsync(console, parse, source, host, addresses, port, timeout, ct);
    }

    private static async Task<IPAddress[]> ResolveAsync(string host, CancellationToken ct)
    {
        if (AddressText.TryParse(host, out var literal))
        {
            return [SliceGuard.Unmap(literal)!];
        }

        try
        {
            var found = await Dns.GetHostAddressesAsync(host, ct);
            return found.Length > 0 ? found : throw new PortShareException($"'{host}' resolved to no address.");
        }
        catch (SocketException ex)
        {
            throw new PortShareException($"Cannot resolve '{host}': {Interop.Errors.Describe(ex.SocketErrorCode)}.", ex);
        }
    }

    private static IPEndPoint Pick(IPAddress[] addresses, IPAddress? local, int port) =>
        new(local is null ? addresses[0] : addresses.First(a => a.AddressFamily == local.AddressFamily), port);

    private static async Task<int> RunTcpAsync(CliConsole console, ParseResult parse, SliceSource.Resolved source, string host, IPAddress[] addresses, int port, TimeSpan timeout, CancellationToken ct)
    {
        var (slice, local, _) = source;
        var json = parse.GetValue(s_json);
        var count = parse.GetValue(s_count);
        var connector = new SliceConnector(slice, local, parse.GetValue(s_strategy) ?? ConnectStrategy.Auto);
        // Strategy is never Auto once made; the names as --json has always written them (Enum.ToString is reflection).
        var strategy = connector.Strategy == ConnectStrategy.Kernel ? "kernel" : "fallback";
        var held = new List<Socket>(Math.Min(count, 65536));
        // The table only for the human output (with --json nothing is printed through it).
        var table = json ? null : new TextTable { Title = $"slice {slice} ({slice.Count} ports), strategy {strategy}" }.Column("#", right: true).Column("local").Column("remote");
        try
        {
            for (var i = 0; i < count; i++)
            {
                using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
                deadline.CancelAfter(timeout);
                Socket socket;
                try
                {
                    // Resolved once above (it chose the slice by family); each address is tried in turn.
                    socket = await connector.ConnectAsync(addresses, port, deadline.Token);
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    throw new PortShareException($"Connection {i + 1} to {host}:{port} timed out after {timeout.TotalSeconds} s.");
                }
                catch (SocketException ex)
                {
                    var from = local is null ? $"slice {slice}" : $"{local} (slice {slice})";
                    throw new PortShareException($"Connection {i + 1} to {host}:{port} from {from} failed: {Interop.Errors.Describe(ex.SocketErrorCode)}.", ex);
                }

                held.Add(socket);
                var l = (IPEndPoint)socket.LocalEndPoint!;
                var r = AddressText.Format((IPEndPoint)socket.RemoteEndPoint!);
                if (json)
                {
                    console.RawOut.WriteLine(JsonSerializer.Serialize(new ConnectionRecord(AddressText.Format(l.Address), l.Port, r, "tcp", strategy), CliJsonContext.Default.ConnectionRecord));
                }
                else
                {
                    table!.Row((i + 1).ToString(CultureInfo.InvariantCulture), AddressText.Format(l), r);
                }
            }
        }
        catch (PortShareException)
        {
            if (table is not null && held.Count > 0)
            {
                table.WriteTo(console.RawOut);
            }

            Console.Out.Flush();
            throw;
        }
        finally
        {
            foreach (var s in held)
            {
                s.Dispose();
            }
        }

        if (table is not null)
        {
            table.WriteTo(console.RawOut);
            console.RawOut.WriteLine($"{held.Count} connection(s) from slice {slice}, every local port inside it.");
        }

        return ExitCodes.Success;
    }
}
