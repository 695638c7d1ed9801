using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using PortShare.Connect;
using Spectre.Console;

namespace PortShare.Cli.Commands;

/// <summary>
/// <c>portshare connect --udp</c>: opens <c>count</c> UDP flows from a slice to one destination, sends one datagram on each,
/// prints each flow's local endpoint and the reply, if one arrives within <see cref="ReplyWait"/>. Called by ConnectCommand.
/// </summary>
internal static class UdpConnect
{
    /// <summary>How long each flow waits for a reply.</summary>
    public static readonly TimeSpan ReplyWait = TimeSpan.FromSeconds(1);

    /// <summary>The largest reply shown (bytes); longer replies are cut.</summary>
    private const int MaxReply = 2048;

    /// <summary>
    /// Runs the UDP connect. <paramref name="mode"/> is <c>shared</c> (default) or <c>unique</c>; <paramref name="payload"/>
    /// defaults to "portshare". Failures become one line on stderr and exit code 1 (2 for bad arguments).
    /// </summary>
    public static Task<int> RunAsync(CliConsole console, PortRange slice, IPAddress? local, string mode, int count, bool json, IPEndPoint remote, string? payload, CancellationToken ct) =>
        RunAsync(console, slice, local, mode, count, json, remote, payload, CurrentNamespace.Instance, ct);

    internal static Task<int> RunAsync(CliConsole console, PortRange slice, IPAddress? local, string mode, int count, bool json, IPEndPoint remote, string? payload, ISocketEnvironment env, CancellationToken ct) =>
        CommandRunner.RunAsync(console, async () =>
        {
            ArgumentNullException.ThrowIfNull(remote);
            var portMode = ParseMode(mode);
            if (count is < 1 or > 65535)
            {
                throw new UsageException($"--count {count}: give between 1 and 65535 flows.");
            }

            if (remote.Port == 0)
            {
                throw new UsageException($"the destination {remote} has no port: give HOST:PORT.");
            }

            if (local is not null && local.AddressFamily != remote.AddressFamily)
            {
                throw new UsageException($"--local-address {local} and the destination {remote} are of different address families.");
            }

            var data = Encoding.UTF8.GetBytes(payload ?? "portshare");
            using var connector = new UdpSliceConnector(slice, local, portMode, env);
            var flows = new List<Socket>(count);
            try
            {
                for (var i = 0; i < count; i++)
                {
                    var socket = await connector.ConnectAsync(remote, ct).ConfigureAwait(false);
                    flows.Add(socket);
                    await socket.SendAsync(data, SocketFlags.None, ct).ConfigureAwait(false);
                    var (reply, note) = await ReceiveReplyAsync(socket, ct).ConfigureAwait(false);
                    Print(console, json, (IPEndPoint)socket.LocalEndPoint!, remote, reply, note);
                }
            }
            finally
            {
                flows.ForEach(f => f.Dispose());
            }

            return ExitCodes.Success;
        });

    internal static UdpPortMode ParseMode(string? mode) => mode?.ToLowerInvariant() switch
    {
        null or "" or "shared" => UdpPortMode.Shared,
        "unique" => UdpPortMode.Unique,
        _ => throw new UsageException($"--mode '{mode}' is not a UDP port mode: use 'shared' (ports shared across destinations) or 'unique' (one port per flow)."),
    };

    private static async Task<(string? Reply, string? Note)> ReceiveReplyAsync(Socket socket, CancellationToken ct)
    {
        var buffer = new byte[MaxReply];
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(ct);
        wait.CancelAfter(ReplyWait);
        try
        {
            var n = await socket.ReceiveAsync(buffer, SocketFlags.None, wait.Token).ConfigureAwait(false);
            return (Encoding.UTF8.GetString(buffer, 0, n), null);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return (null, string.Create(CultureInfo.InvariantCulture, $"no reply within {ReplyWait.TotalSeconds:0.#} s"));
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionRefused)
        {
            return (null, "refused: the destination answered port unreachable");
        }
    }

    private static void Print(CliConsole console, bool json, IPEndPoint local, IPEndPoint remote, string? reply, string? note)
    {
        if (json)
        {
            var line = new UdpFlowJson(local.ToString(), remote.ToString(), reply, note);
            console.RawOut.WriteLine(JsonSerializer.Serialize(line, UdpConnectJsonContext.Default.UdpFlowJson));
            console.RawOut.Flush();
            return;
        }

        var tail = reply is not null ? $"reply: {reply.TrimEnd()}" : note ?? string.Empty;
        console.Out.MarkupLine($"[green]udp[/] {local.ToString().EscapeMarkup()} -> {remote.ToString().EscapeMarkup()}  [grey]{tail.EscapeMarkup()}[/]");
    }

    internal sealed record UdpFlowJson(string Local, string Remote, string? Reply, string? Note);
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(UdpConnect.UdpFlowJson))]
internal sealed partial class UdpConnectJsonContext : JsonSerializerContext;
