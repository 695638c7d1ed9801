using System.Net;
using System.Net.Sockets;
using PortShare.Connect;

namespace PortShare.Diagnostics;

/// <summary>
/// The source address the routing table picks toward a destination, asked of the kernel over rtnetlink
/// (<c>RTM_GETROUTE</c>, what <c>ip route get</c> does). Unlike a probe socket's <c>connect()</c>, it binds no port, so
/// it works when every ephemeral port is taken and never lands, even briefly, on a 4-tuple another flow holds.
/// </summary>
internal static class RouteLookup
{
    private const int ReceiveBufferSize = 8 * 1024;
    private static readonly TimeSpan s_replyTimeout = TimeSpan.FromSeconds(5);

    /// <summary>The preferred source toward <paramref name="destination"/>, or null when the route names none.</summary>
    /// <exception cref="SocketException">The kernel has no route (network unreachable, …).</exception>
    public static IPAddress? PreferredSource(ISocketEnvironment environment, IPAddress destination)
    {
        using var socket = environment.CreateNetlinkSocket(Interop.Netlink.NETLINK_ROUTE);
        socket.ReceiveTimeout = (int)s_replyTimeout.TotalMilliseconds;
        Span<byte> request = stackalloc byte[64];
        var writer = new NetlinkWriter(request);
        const uint sequence = 1;
        var start = writer.BeginMessage(SockDiag.RTM_GETROUTE, SockDiag.NLM_F_REQUEST, sequence);
        writer.WriteRouteRequest(destination);
        writer.EndMessage(start);
        socket.Send(writer.Written);

        var buffer = new byte[ReceiveBufferSize];
        while (true)
        {
            var n = socket.Receive(buffer);
            var reader = new NetlinkReader(buffer.AsSpan(0, n));
            while (reader.TryReadMessage(out var header, out var payload))
            {
                if (header.Sequence != sequence)
                {
                    continue;
                }

                if (header.Type == SockDiag.NLMSG_ERROR && NetlinkReader.TryReadError(payload, out var error) && error < 0)
                {
                    throw new SocketException((int)Interop.Errors.FromErrno(-error));
                }

                if (header.Type == SockDiag.RTM_NEWROUTE)
                {
                    return NetlinkReader.TryReadPreferredSource(payload, out var source) ? source : null;
                }
            }
        }
    }
}
