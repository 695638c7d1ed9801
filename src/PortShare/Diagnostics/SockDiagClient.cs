using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using PortShare.Connect;

namespace PortShare.Diagnostics;

/// <summary>
/// A client of the kernel's <c>NETLINK_SOCK_DIAG</c>: exact lookups of one UDP 4-tuple (no <c>NLM_F_DUMP</c>, answered by
/// <c>udp_dump_one</c>) and dumps of TCP/UDP sockets filtered by family, states and local port range. The socket belongs to
/// the network namespace it was opened in. One request at a time (calls are serialized); open one per thread for parallelism.
/// </summary>
public sealed class SockDiagClient : IDisposable
{
    /// <summary>
    /// Receive buffer size. The kernel sizes a dump part after the reader's buffer, up to 32 KiB; 64 KiB leaves room so
    /// that no part is ever truncated (a truncated netlink datagram is silently cut).
    /// </summary>
    private const int ReceiveBufferSize = 64 * 1024;

    /// <summary>A request is one header plus <c>inet_diag_req_v2</c> plus a 20-byte bytecode attribute: well under 128 bytes.</summary>
    private const int RequestBufferSize = 128;

    private static readonly TimeSpan s_replyTimeout = TimeSpan.FromSeconds(5);

    private readonly Socket _socket;
    private readonly byte[] _receive = new byte[ReceiveBufferSize];
    private readonly Lock _lock = new();
    private uint _sequence;
    private long _roundTrips;

    private SockDiagClient(Socket socket)
    {
        _socket = socket;
        _socket.ReceiveTimeout = (int)s_replyTimeout.TotalMilliseconds;
    }

    /// <summary>How many requests this client has sent (one request and its reply, however many parts, is one round trip).</summary>
    public long RoundTrips => Interlocked.Read(ref _roundTrips);

    /// <summary>Opens a client in the calling thread's network namespace.</summary>
    /// <exception cref="PortShareException">The netlink socket cannot be opened.</exception>
    public static SockDiagClient Open() => new(Interop.Netlink.OpenSocket(Interop.Netlink.NETLINK_SOCK_DIAG));

    internal static SockDiagClient Open(ISocketEnvironment environment) =>
        new(environment.CreateNetlinkSocket(Interop.Netlink.NETLINK_SOCK_DIAG));

    /// <summary>
    /// Asks the kernel which UDP socket would receive a datagram from <paramref name="remote"/> to <paramref name="local"/>:
    /// a socket connected to exactly that 4-tuple wins over one merely bound to the local endpoint. Null when none would
    /// (<c>ENOENT</c>). Both endpoints must be of the same family and the local address must be specific.
    /// </summary>
    /// <exception cref="SockDiagException">The kernel refused the request.</exception>
    public DiagSocket? LookupUdp(IPEndPoint local, IPEndPoint remote)
    {
        ArgumentNullException.ThrowIfNull(local);
        ArgumentNullException.ThrowIfNull(remote);
        if (local.AddressFamily != remote.AddressFamily)
        {
            throw new ArgumentException($"The local endpoint {local} and the remote endpoint {remote} are of different families.", nameof(remote));
        }

        // The kernel's orientation: src/sport = the sender (remote), dst/dport = the receiver (local). A link-local flow
        // is delivered per interface: the lookup names it (idiag_if), or a socket bound to that interface is not found.
        var scope = local.AddressFamily == AddressFamily.InterNetworkV6 ? (uint)(local.Address.ScopeId != 0 ? local.Address.ScopeId : remote.Address.ScopeId) : 0;
        var id = new InetDiagSockId(remote.Address, (ushort)remote.Port, local.Address, (ushort)local.Port, scope, SockDiag.INET_DIAG_NOCOOKIE);
        lock (_lock)
        {
            var seq = Send(local.AddressFamily, ProtocolType.Udp, SocketStates.Established, id, SockDiag.NLM_F_REQUEST, null);
            while (true)
            {
                var n = Receive();
                var reader = new NetlinkReader(_receive.AsSpan(0, n));
                while (reader.TryReadMessage(out var header, out var payload))
                {
                    if (header.Sequence != seq)
                    {
                        continue; // A late reply to an abandoned request.
                    }

                    if (header.Type == SockDiag.NLMSG_ERROR)
                    {
                        if (!NetlinkReader.TryReadError(payload, out var error))
                        {
                            throw new SockDiagException("sock_diag sent a short error message.", 0);
                        }

                        if (error == -SockDiag.ENOENT)
                        {
                            return null;
                        }

                        throw SockDiagException.FromErrno(-error, $"exact UDP lookup {remote} -> {local}");
                    }

                    if (header.Type == SockDiag.SOCK_DIAG_BY_FAMILY)
                    {
                        return NetlinkReader.TryReadInetDiagMessage(payload, ProtocolType.Udp, out var socket)
                            ? socket
                            : throw new SockDiagException("sock_diag sent a short inet_diag_msg.", 0);
                    }
                }
            }
        }
    }

    /// <summary>
    /// Lists the sockets of <paramref name="protocol"/> (TCP or UDP) and <paramref name="family"/> whose state is in
    /// <paramref name="states"/>, optionally only those whose local port is in <paramref name="localPorts"/> (filtered in
    /// the kernel by inet_diag bytecode).
    /// </summary>
    /// <exception cref="SockDiagException">The kernel refused the request or ended the dump with an error.</exception>
    public IReadOnlyList<DiagSocket> Dump(AddressFamily family, ProtocolType protocol, SocketStates states, PortRange? localPorts = null)
    {
        if (protocol is not (ProtocolType.Tcp or ProtocolType.Udp))
        {
            throw new ArgumentException($"sock_diag dumps cover TCP and UDP here, not {protocol}.", nameof(protocol));
        }

        var result = new List<DiagSocket>();
        lock (_lock)
        {
            var seq = Send(family, protocol, states, InetDiagSockId.Empty(family), SockDiag.NLM_F_REQUEST | SockDiag.NLM_F_DUMP, localPorts);
            while (true)
            {
                var n = Receive();
                var reader = new NetlinkReader(_receive.AsSpan(0, n));
                while (reader.TryReadMessage(out var header, out var payload))
                {
                    if (header.Sequence != seq)
                    {
                        continue;
                    }

                    switch (header.Type)
                    {
                        case SockDiag.NLMSG_DONE:
                            // NLMSG_DONE carries an int: a negative errno when the dump failed part way.
                            if (NetlinkReader.TryReadError(payload, out var done) && done < 0)
                            {
                                throw SockDiagException.FromErrno(-done, $"{protocol} dump");
                            }

                            return result;
                        case SockDiag.NLMSG_ERROR:
                            if (NetlinkReader.TryReadError(payload, out var error) && error < 0)
                            {
                                throw SockDiagException.FromErrno(-error, $"{protocol} dump");
                            }

                            break;
                        case SockDiag.SOCK_DIAG_BY_FAMILY:
                            if (NetlinkReader.TryReadInetDiagMessage(payload, protocol, out var socket))
                            {
                                result.Add(socket);
                            }

                            break;
                    }
                }
            }
        }
    }

    /// <summary>Closes the netlink socket.</summary>
    public void Dispose() => _socket.Dispose();

    private uint Send(AddressFamily family, ProtocolType protocol, SocketStates states, in InetDiagSockId id, ushort flags, PortRange? localPorts)
    {
        var seq = ++_sequence;
        Span<byte> buffer = stackalloc byte[RequestBufferSize];
        var writer = new NetlinkWriter(buffer);
        var start = writer.BeginMessage(SockDiag.SOCK_DIAG_BY_FAMILY, flags, seq);
        writer.WriteInetDiagRequest(family, protocol, states, id);
        if (localPorts is { } ports)
        {
            writer.WriteLocalPortFilter(ports);
        }

        writer.EndMessage(start);
        Interlocked.Increment(ref _roundTrips);
        try
        {
            _socket.Send(writer.Written);
        }
        catch (SocketException ex)
        {
            throw new SockDiagException($"Cannot send a sock_diag request: {ex.Message}.", (int)ex.SocketErrorCode, ex);
        }

        return seq;
    }

    private int Receive()
    {
        try
        {
            var n = _socket.Receive(_receive);
            if (n < SockDiag.NLMSG_HDRLEN)
            {
                throw new SockDiagException($"sock_diag sent a {n}-byte datagram, shorter than a netlink header.", 0);
            }

            return n;
        }
        catch (SocketException ex)
        {
            throw new SockDiagException($"No answer from sock_diag: {ex.Message}.", (int)ex.SocketErrorCode, ex);
        }
    }
}

/// <summary>The kernel's sock_diag refused a request (for example an unknown protocol, or no sock_diag support).</summary>
public sealed class SockDiagException : PortShareException
{
    /// <summary>Creates the exception.</summary>
    public SockDiagException(string message, int errno)
        : base(message)
    {
        Errno = errno;
    }

    /// <summary>Creates the exception.</summary>
    public SockDiagException(string message, int errno, Exception innerException)
        : base(message, innerException)
    {
        Errno = errno;
    }

    /// <summary>Creates the exception.</summary>
    public SockDiagException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public SockDiagException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public SockDiagException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>The errno the kernel answered with (positive), 0 when the reply was malformed.</summary>
    public int Errno { get; }

    internal static SockDiagException FromErrno(int errno, string what) =>
        new($"sock_diag refused the {what}: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno}).", errno);
}
