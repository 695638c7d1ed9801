using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using PortShare.Connect;
using Spectre.Console;

namespace PortShare.Cli.Commands;

/// <summary>
/// <c>portshare connect --udp</c>: opens <c>count</c> UDP flows from a slice to one destination, sends one datagram on each,
/// prints each flow's endpoints and the whole reply, if one arrives within the timeout. Called by ConnectCommand.
/// </summary>
internal static class UdpConnect
{
    /// <summary>The largest UDP payload (IPv4 65,507 bytes, IPv6 65,527 bytes): replies are read whole.</summary>
    private const int MaxDatagram = 65_535;

    /// <summary>
    /// Runs the UDP connect. <paramref name="mode"/> is <c>shared</c> (default) or <c>unique</c>; <paramref name="payload"/>
    /// defaults to "portshare"; each flow waits up to <paramref name="replyWait"/> for its reply.
    /// </summary>
    internal static async Task<int> RunAsync(CliConsole console, PortSlice slice, IPAddress? local, string? mode, int count, bool json, IPEndPoint remote, string? payload, TimeSpan replyWait, ISocketEnvironment env, CancellationToken ct)
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
        var buffer = new byte[MaxDatagram];
        var refused = 0;
        try
        {
            for (var i = 0; i < count; i++)
            {
                var socket = await connector.ConnectAsync(remote, ct).ConfigureAwait(false);
                flows.Add(socket);
                await socket.SendAsync(data, SocketFlags.None, ct).ConfigureAwait(false);
                var (reply, note) = await ReceiveReplyAsync(socket, buffer, replyWait, ct).ConfigureAwait(false);
                refused += note == RefusedNote ? 1 : 0;
                Print(console, json, (IPEndPoint)socket.LocalEndPoint!, remote, ModeName(portMode), reply, note);
            }
        }
        finally
        {
            flows.ForEach(f => f.Dispose());
        }

        if (refused > 0)
        {
            console.WriteError($"{refused} of {count} flow(s) to {remote} were refused: nothing listens on that UDP port (the destination answered port unreachable).");
            return ExitCodes.Failure;
        }

        return ExitCodes.Success;
    }

    internal static UdpPortMode ParseMode(string? mode) => mode?.ToLowerInvariant() switch
    {
        null or "" or "shared" => UdpPortMode.Shared,
        "unique" => UdpPortMode.Unique,
        _ => throw new UsageException($"--mode '{mode}' is not a UDP port mode: use 'shared' (ports shared across destinations) or 'unique' (one port per flow)."),
    };

    private const string RefusedNote = "refused: the destination answered port unreachable";

    private static string ModeName(UdpPortMode mode) => mode == UdpPortMode.Shared ? "shared" : "unique";

    private static async Task<(string? Reply, string? Note)> ReceiveReplyAsync(Socket socket, byte[] buffer, TimeSpan wait, CancellationToken ct)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(wait);
        try
        {
            var n = await socket.ReceiveAsync(buffer, SocketFlags.None, deadline.Token).ConfigureAwait(false);
            return (Encoding.UTF8.GetString(buffer, 0, n), null);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return (null, string.Create(CultureInfo.InvariantCulture, $"no reply within {wait.TotalSeconds:0.###} s"));
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionRefused)
        {
            return (null, RefusedNote);
        }
    }

    private static void Print(CliConsole console, bool json, IPEndPoint local, IPEndPoint remote, string mode, string? reply, string? note)
    {
        if (json)
        {
            var line = new ConnectionRecord(local.Address.ToString(), local.Port, remote.ToString(), "udp", mode, reply, note);
            console.RawOut.WriteLine(JsonSerializer.Serialize(line, CliJsonContext.Default.ConnectionRecord));
            console.RawOut.Flush();
            return;
        }

        var tail = reply is not null ? $"reply: {reply.TrimEnd()}" : note ?? string.Empty;
        console.Out.MarkupLine($"[green]udp[/] {local.ToString().EscapeMarkup()} -> {remote.ToString().EscapeMarkup()}  [grey]{tail.EscapeMarkup()}[/]");
    }
}
