using System.Net;
using System.Net.Sockets;

namespace PortShare.Diagnostics;

/// <summary>One socket as sock_diag reports it (<c>inet_diag_msg</c>).</summary>
/// <param name="Protocol">TCP or UDP (from the request: the reply does not carry it).</param>
/// <param name="State">The kernel state; for UDP <see cref="SocketState.Established"/> means connected.</param>
/// <param name="Local">The local address and port (<c>idiag_src</c>, <c>idiag_sport</c>).</param>
/// <param name="Remote">The remote address and port; <c>0.0.0.0:0</c> / <c>[::]:0</c> when not connected.</param>
/// <param name="Interface">The bound interface index, 0 when none.</param>
/// <param name="Cookie">The socket's cookie, as <c>SO_COOKIE</c> returns it: unique per socket for the life of the kernel.</param>
/// <param name="Uid">The owner's user id.</param>
/// <param name="Inode">The socket's inode number.</param>
public sealed record DiagSocket(
    ProtocolType Protocol,
    SocketState State,
    IPEndPoint Local,
    IPEndPoint Remote,
    uint Interface,
    ulong Cookie,
    uint Uid,
    uint Inode)
{
    /// <summary>True when the socket has a remote endpoint (a port other than 0).</summary>
    public bool HasRemote => Remote.Port != 0;
}
