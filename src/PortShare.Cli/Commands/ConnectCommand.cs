using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using PortShare.Connect;
using Spectre.Console;

namespace PortShare.Cli.Commands;

/// <summary><c>portshare connect</c>: open N connections from a slice, hold them until all are made, print the endpoints.</summary>
internal static class ConnectCommand
{
    private static readonly Option<PortRange?> s_slice = CliOptions.Slice();
    private static readonly Option<IPAddress?> s_local = CliOptions.LocalAddress();
    private static readonly Option<ConnectStrategy> s_strategy = CliOptions.Strategy();
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
        Description = "Seconds to wait for each connection.",
        DefaultValueFactory = _ => 10,
    };

    private static readonly Option<bool> s_udp = new("--udp")
    {
        Description = "UDP instead of TCP: open flows from the slice, send one datagram on each and print any reply.",
    };

    private static readonly Option<string> s_mode = new("--mode")
    {
        Description = "UDP only: shared (ports shared across destinations, connectx-style, default) or unique (one flow per port, IP_LOCAL_PORT_RANGE).",
        DefaultValueFactory = _ => "shared",
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

        command.SetAction((parseResult, ct) => parseResult.GetValue(s_udp)
            ? RunUdpAsync(console, parseResult, ct)
            : CommandRunner.RunAsync(console, () => RunAsync(console, parseResult, ct)));
        return command;
    }

    private static async Task<int> RunUdpAsync(CliConsole console, ParseResult parse, CancellationToken ct)
    {
        CliOptions.TryParseHostPort(parse.GetValue(s_destination)!, out var host, out var port, out _);
        if (!IPAddress.TryParse(host, out var address))
        {
            try
            {
                address = (await Dns.GetHostAddressesAsync(host, ct)).First();
            }
            catch (SocketException ex)
            {
                console.WriteError($"Cannot resolve '{host}': {ex.Message}.");
                return ExitCodes.Failure;
            }
        }

        PortRange slice;
        IPAddress? local;
        try
        {
            (slice, local, _) = SliceSource.Resolve(parse, s_slice, parse.GetValue(s_local));
        }
        catch (UsageException ex)
        {
            console.WriteError(ex.Message);
            return ExitCodes.Usage;
        }
        catch (PortShareException ex)
        {
            console.WriteError(ex.Message);
            return ExitCodes.Failure;
        }

        return await UdpConnect.RunAsync(
            console,
            slice,
            local,
            parse.GetValue(s_mode)!,
            parse.GetValue(s_count),
            parse.GetValue(s_json),
            new IPEndPoint(address, port),
            parse.GetValue(s_payload),
            ct);
    }

    private static async Task<int> RunAsync(CliConsole console, ParseResult parse, CancellationToken ct)
    {
        var (slice, local, _) = SliceSource.Resolve(parse, s_slice, parse.GetValue(s_local));
        var json = parse.GetValue(s_json);
        var count = parse.GetValue(s_count);
        CliOptions.TryParseHostPort(parse.GetValue(s_destination)!, out var host, out var port, out _);

        var connector = new SliceConnector(slice, local, parse.GetValue(s_strategy));
        var strategy = connector.Strategy.ToString().ToLowerInvariant();
        var held = new List<Socket>(Math.Min(count, 65536));
        var table = new Table().AddColumns("#", "local", "remote").Border(TableBorder.Rounded);
        table.Title = new TableTitle($"slice {slice} ({slice.Count} ports), strategy {strategy}");
        try
        {
            for (var i = 0; i < count; i++)
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
                timeout.CancelAfter(TimeSpan.FromSeconds(parse.GetValue(s_timeout)));
                Socket socket;
                try
                {
                    socket = await connector.ConnectAsync(host, port, timeout.Token);
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    throw new PortShareException($"Connection {i + 1} to {host}:{port} timed out after {parse.GetValue(s_timeout)} s.");
                }
                catch (SocketException ex)
                {
                    throw new PortShareException($"Connection {i + 1} to {host}:{port} from slice {slice} failed: {Interop.Errors.Describe(ex.SocketErrorCode)}.", ex);
                }

                held.Add(socket);
                var l = (IPEndPoint)socket.LocalEndPoint!;
                var r = socket.RemoteEndPoint!.ToString()!;
                if (json)
                {
                    console.RawOut.WriteLine(JsonSerializer.Serialize(new ConnectionRecord(l.Address.ToString(), l.Port, r, strategy), CliJsonContext.Default.ConnectionRecord));
                }
                else
                {
                    table.AddRow((i + 1).ToString(CultureInfo.InvariantCulture), l.ToString().EscapeMarkup(), r.EscapeMarkup());
                }
            }
        }
        catch (PortShareException)
        {
            if (!json && held.Count > 0)
            {
                console.Out.Write(table);
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

        if (!json)
        {
            console.Out.Write(table);
            var ports = held.Count;
            console.Out.MarkupLine($"[green]{ports} connection(s) from slice {slice}[/], every local port inside it.");
        }

        return ExitCodes.Success;
    }
}
