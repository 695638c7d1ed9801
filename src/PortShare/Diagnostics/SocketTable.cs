using System.Net;
using System.Net.Sockets;
using PortShare.Connect;

namespace PortShare.Diagnostics;

/// <summary>
/// The kernel's socket table of one network namespace, read with sock_diag over one netlink socket opened once (in the
/// named namespace, where it stays bound): what the fleet agent measures its fill and its live connections with, four
/// times a second, without a thread or a socket per reading. Thread-safe.
/// </summary>
public sealed class SocketTable : IDisposable
{
    private readonly SockDiagClient _client;

    private SocketTable(SockDiagClient client)
    {
        _client = client;
    }

    /// <summary>Opens the table of namespace <paramref name="netns"/> (as made by <c>ip netns add</c>; null: this one).</summary>
    /// <exception cref="SockDiagException">The netlink socket cannot be opened.</exception>
    public static SocketTable Open(string? netns = null)
    {
        if (netns is null)
        {
            return new SocketTable(SockDiagClient.Open(CurrentNamespace.Instance));
        }

        using var ns = NetworkNamespace.Enter(netns);
        return new SocketTable(SockDiagClient.Open(ns));
    }

    /// <summary>
    /// Every socket holding a port of <paramref name="range"/> on <paramref name="local"/> toward a peer: TCP in any
    /// state but LISTEN and CLOSE (TIME_WAIT included: it still holds the port toward its destination) and connected
    /// UDP.
    /// </summary>
    /// <exception cref="SockDiagException">sock_diag refused a dump.</exception>
    public IReadOnlyList<DiagSocket> SocketsOn(IPAddress local, PortRange range)
    {
        ArgumentNullException.ThrowIfNull(local);
        var tcp = _client.Dump(local.AddressFamily, ProtocolType.Tcp, SocketStates.Connected, range);
        var udp = _client.Dump(local.AddressFamily, ProtocolType.Udp, SocketStates.Established, range);
        return [.. tcp.Concat(udp).Where(s => s.HasRemote && s.Local.Address.Equals(local))];
    }

    /// <summary>Live connections from <paramref name="range"/> on <paramref name="local"/>: <see cref="SocketsOn"/> without TIME_WAIT.</summary>
    /// <exception cref="SockDiagException">sock_diag refused a dump.</exception>
    public int LiveConnections(IPAddress local, PortRange range) => SocketsOn(local, range).Count(s => s.State != SocketState.TimeWait);

    /// <inheritdoc/>
    public void Dispose() => _client.Dispose();
}
