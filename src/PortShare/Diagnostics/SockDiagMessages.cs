using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace PortShare.Diagnostics;

/// <summary>Netlink and inet_diag constants, with their C names (include/uapi/linux/netlink.h, inet_diag.h, sock_diag.h).</summary>
internal static class SockDiag
{
    internal const int NLMSG_HDRLEN = 16;
    internal const int NLMSG_ALIGNTO = 4;

    internal const ushort NLMSG_NOOP = 1;
    internal const ushort NLMSG_ERROR = 2;
    internal const ushort NLMSG_DONE = 3;
    internal const ushort SOCK_DIAG_BY_FAMILY = 20;

    internal const ushort NLM_F_REQUEST = 0x1;
    internal const ushort NLM_F_MULTI = 0x2;
    internal const ushort NLM_F_ROOT = 0x100;
    internal const ushort NLM_F_MATCH = 0x200;
    internal const ushort NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH;

    /// <summary>sizeof(struct inet_diag_sockid): be16 sport, be16 dport, be32 src[4], be32 dst[4], u32 if, u32 cookie[2].</summary>
    internal const int SockIdSize = 48;

    /// <summary>sizeof(struct inet_diag_req_v2): u8 family, u8 protocol, u8 ext, u8 pad, u32 states, sockid.</summary>
    internal const int ReqV2Size = 8 + SockIdSize;

    /// <summary>sizeof(struct inet_diag_msg): u8 family, state, timer, retrans, sockid, u32 expires, rqueue, wqueue, uid, inode.</summary>
    internal const int MsgSize = 4 + SockIdSize + 20;

    /// <summary>INET_DIAG_NOCOOKIE: both cookie words ~0, "match any socket".</summary>
    internal const ulong INET_DIAG_NOCOOKIE = ulong.MaxValue;

    internal const ushort INET_DIAG_REQ_BYTECODE = 1;
    internal const byte INET_DIAG_BC_S_GE = 2;
    internal const byte INET_DIAG_BC_S_LE = 3;

    // rtnetlink (include/uapi/linux/rtnetlink.h): a route lookup, as `ip route get` makes it.
    internal const ushort RTM_NEWROUTE = 24;
    internal const ushort RTM_GETROUTE = 26;
    internal const int RtMsgSize = 12;
    internal const ushort RTA_DST = 1;
    internal const ushort RTA_OIF = 4;
    internal const ushort RTA_PREFSRC = 7;

    internal const int AF_INET = 2;
    internal const int AF_INET6 = 10;
    internal const int ENOENT = 2;

    internal static int Align(int length) => (length + NLMSG_ALIGNTO - 1) & ~(NLMSG_ALIGNTO - 1);

    internal static byte Family(AddressFamily family) => family switch
    {
        AddressFamily.InterNetwork => AF_INET,
        AddressFamily.InterNetworkV6 => AF_INET6,
        _ => throw new ArgumentException($"sock_diag covers IPv4 and IPv6 only, not {family}.", nameof(family)),
    };
}

/// <summary>
/// The socket identity of an <c>inet_diag</c> request or reply, in the kernel's orientation: for a reply, Source is the
/// socket's local endpoint; for a UDP exact lookup, Source is the packet's sender (the remote) and Destination the local
/// endpoint ("src and dst are swapped for historical reasons").
/// </summary>
internal readonly record struct InetDiagSockId(IPAddress Source, ushort SourcePort, IPAddress Destination, ushort DestinationPort, uint Interface, ulong Cookie)
{
    public static InetDiagSockId Empty(AddressFamily family)
    {
        var any = Connect.SliceGuard.Any(family);
        return new InetDiagSockId(any, 0, any, 0, 0, SockDiag.INET_DIAG_NOCOOKIE);
    }
}

/// <summary>
/// Writes netlink requests into a caller's buffer: a message reserves its length slot and <see cref="EndMessage"/>
/// patches it. Netlink headers are host order; ports and addresses inside <c>inet_diag</c> are network order.
/// </summary>
internal ref struct NetlinkWriter
{
    private readonly Span<byte> _buffer;
    private int _position;

    public NetlinkWriter(Span<byte> buffer)
    {
        _buffer = buffer;
        _position = 0;
    }

    public readonly int Length => _position;

    public readonly ReadOnlySpan<byte> Written => _buffer[.._position];

    /// <summary>Writes an <c>nlmsghdr</c> with a zero length and returns its offset for <see cref="EndMessage"/>.</summary>
    public int BeginMessage(ushort type, ushort flags, uint sequence)
    {
        var start = _position;
        var h = Take(SockDiag.NLMSG_HDRLEN);
        BinaryPrimitives.WriteUInt32LittleEndian(h, 0);
        WriteHost16(h[4..], type);
        WriteHost16(h[6..], flags);
        WriteHost32(h[8..], sequence);
        WriteHost32(h[12..], 0); // nlmsg_pid 0: the kernel fills in our port id.
        return start;
    }

    /// <summary>Patches the message's <c>nlmsg_len</c> and pads it to 4 bytes.</summary>
    public void EndMessage(int start)
    {
        WriteHost32(_buffer[start..], (uint)(_position - start));
        Pad();
    }

    /// <summary>Writes a <c>struct inet_diag_req_v2</c>.</summary>
    public void WriteInetDiagRequest(AddressFamily family, ProtocolType protocol, SocketStates states, in InetDiagSockId id)
    {
        var r = Take(SockDiag.ReqV2Size);
        r[0] = SockDiag.Family(family);
        r[1] = (byte)protocol;
        r[2] = 0; // idiag_ext: no extensions asked for.
        r[3] = 0;
        WriteHost32(r[4..], (uint)states);
        WriteSockId(r[8..], id);
    }

    /// <summary>
    /// Writes an <c>INET_DIAG_REQ_BYTECODE</c> attribute that keeps only sockets whose local port is in
    /// <paramref name="ports"/>: <c>sport &gt;= lo</c> then <c>sport &lt;= hi</c>; a failed test jumps past the end (reject).
    /// </summary>
    public void WriteLocalPortFilter(PortRange ports)
    {
        const int ops = 16;
        var a = Take(4 + ops);
        WriteHost16(a, 4 + ops);
        WriteHost16(a[2..], SockDiag.INET_DIAG_REQ_BYTECODE);
        WriteOp(a[4..], SockDiag.INET_DIAG_BC_S_GE, 8, ops + 4);
        WriteOp(a[8..], 0, 0, ports.Low);
        WriteOp(a[12..], SockDiag.INET_DIAG_BC_S_LE, 8, 8 + 4);
        WriteOp(a[16..], 0, 0, ports.High);
        Pad();

        static void WriteOp(Span<byte> at, byte code, byte yes, ushort no)
        {
            at[0] = code;
            at[1] = yes;
            WriteHost16(at[2..], no);
        }
    }

    /// <summary>
    /// Writes the body of an <c>RTM_GETROUTE</c> request for <paramref name="destination"/>: a <c>struct rtmsg</c>
    /// (family, a full-length destination) then <c>RTA_DST</c>, and <c>RTA_OIF</c> when the address is scoped (link-local).
    /// </summary>
    public void WriteRouteRequest(IPAddress destination)
    {
        var size = destination.AddressFamily == AddressFamily.InterNetwork ? 4 : 16;
        var m = Take(SockDiag.RtMsgSize);
        m.Clear();
        m[0] = SockDiag.Family(destination.AddressFamily);
        m[1] = (byte)(size * 8);
        var dst = Take(4 + size);
        WriteHost16(dst, (ushort)(4 + size));
        WriteHost16(dst[2..], SockDiag.RTA_DST);
        destination.TryWriteBytes(dst[4..], out _);
        Pad();
        if (destination.AddressFamily == AddressFamily.InterNetworkV6 && destination.ScopeId != 0)
        {
            var oif = Take(8);
            WriteHost16(oif, 8);
            WriteHost16(oif[2..], SockDiag.RTA_OIF);
            WriteHost32(oif[4..], (uint)destination.ScopeId);
        }
    }

    internal static void WriteSockId(Span<byte> s, in InetDiagSockId id)
    {
        BinaryPrimitives.WriteUInt16BigEndian(s, id.SourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(s[2..], id.DestinationPort);
        WriteAddress(s.Slice(4, 16), id.Source);
        WriteAddress(s.Slice(20, 16), id.Destination);
        WriteHost32(s[36..], id.Interface);
        WriteHost32(s[40..], (uint)id.Cookie);
        WriteHost32(s[44..], (uint)(id.Cookie >> 32));
    }

    private static void WriteAddress(Span<byte> slot, IPAddress address)
    {
        slot.Clear();
        if (!address.TryWriteBytes(slot, out _))
        {
            throw new ArgumentException($"Cannot encode address {address}.", nameof(address));
        }
    }

    private Span<byte> Take(int count)
    {
        if (_buffer.Length - _position < count)
        {
            throw new InvalidOperationException("The netlink request buffer is too small.");
        }

        var span = _buffer.Slice(_position, count);
        _position += count;
        return span;
    }

    private void Pad()
    {
        var aligned = SockDiag.Align(_position);
        _buffer[_position..aligned].Clear();
        _position = aligned;
    }

    private static void WriteHost16(Span<byte> at, ushort value)
    {
        if (BitConverter.IsLittleEndian)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(at, value);
        }
        else
        {
            BinaryPrimitives.WriteUInt16BigEndian(at, value);
        }
    }

    private static void WriteHost32(Span<byte> at, uint value)
    {
        if (BitConverter.IsLittleEndian)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(at, value);
        }
        else
        {
            BinaryPrimitives.WriteUInt32BigEndian(at, value);
        }
    }
}

/// <summary>One netlink message header.</summary>
internal readonly record struct NetlinkHeader(uint Length, ushort Type, ushort Flags, uint Sequence, uint PortId);

/// <summary>
/// Reads the netlink messages of one received datagram. Every <c>TryRead…</c> returns false on short or malformed input
/// rather than throwing: a reply is data from the kernel, checked before use.
/// </summary>
internal ref struct NetlinkReader
{
    private ReadOnlySpan<byte> _rest;

    public NetlinkReader(ReadOnlySpan<byte> datagram) => _rest = datagram;

    public readonly bool IsEmpty => _rest.IsEmpty;

    /// <summary>Reads the next message's header and payload (the bytes after the header, up to <c>nlmsg_len</c>).</summary>
    public bool TryReadMessage(out NetlinkHeader header, out ReadOnlySpan<byte> payload)
    {
        header = default;
        payload = default;
        if (!TryReadHeader(_rest, out header) || header.Length < SockDiag.NLMSG_HDRLEN || header.Length > _rest.Length)
        {
            return false;
        }

        payload = _rest[SockDiag.NLMSG_HDRLEN..(int)header.Length];
        var next = Math.Min(SockDiag.Align((int)header.Length), _rest.Length);
        _rest = _rest[next..];
        return true;
    }

    internal static bool TryReadHeader(ReadOnlySpan<byte> data, out NetlinkHeader header)
    {
        header = default;
        if (data.Length < SockDiag.NLMSG_HDRLEN)
        {
            return false;
        }

        header = new NetlinkHeader(ReadHost32(data), ReadHost16(data[4..]), ReadHost16(data[6..]), ReadHost32(data[8..]), ReadHost32(data[12..]));
        return true;
    }

    /// <summary>Reads the errno of an <c>NLMSG_ERROR</c> payload (<c>struct nlmsgerr</c>): 0 is an ACK, else a negative errno.</summary>
    public static bool TryReadError(ReadOnlySpan<byte> payload, out int error)
    {
        error = 0;
        if (payload.Length < 4)
        {
            return false;
        }

        error = (int)ReadHost32(payload);
        return true;
    }

    /// <summary>Reads a <c>struct inet_diag_msg</c> (trailing attributes are ignored).</summary>
    public static bool TryReadInetDiagMessage(ReadOnlySpan<byte> payload, ProtocolType protocol, out DiagSocket socket)
    {
        socket = null!;
        if (payload.Length < SockDiag.MsgSize)
        {
            return false;
        }

        var family = payload[0] switch
        {
            SockDiag.AF_INET => AddressFamily.InterNetwork,
            SockDiag.AF_INET6 => AddressFamily.InterNetworkV6,
            _ => AddressFamily.Unknown,
        };
        if (family == AddressFamily.Unknown || !TryReadSockId(payload.Slice(4, SockDiag.SockIdSize), family, out var id))
        {
            return false;
        }

        var tail = payload[(4 + SockDiag.SockIdSize)..];
        socket = new DiagSocket(
            protocol,
            (SocketState)payload[1],
            new IPEndPoint(id.Source, id.SourcePort),
            new IPEndPoint(id.Destination, id.DestinationPort),
            id.Interface,
            id.Cookie,
            Uid: ReadHost32(tail[12..]),
            Inode: ReadHost32(tail[16..]));
        return true;
    }

    /// <summary>
    /// Reads the preferred source address (<c>RTA_PREFSRC</c>) of an <c>RTM_NEWROUTE</c> payload; false when it has none.
    /// A link-local source gets the scope of the route's output interface (<c>RTA_OIF</c>), as a bind needs it.
    /// </summary>
    public static bool TryReadPreferredSource(ReadOnlySpan<byte> payload, out IPAddress source)
    {
        source = IPAddress.None;
        if (payload.Length < SockDiag.RtMsgSize)
        {
            return false;
        }

        var size = payload[0] == SockDiag.AF_INET6 ? 16 : 4;
        IPAddress? found = null;
        uint oif = 0;
        var attrs = payload[SockDiag.RtMsgSize..];
        while (attrs.Length >= 4)
        {
            var length = ReadHost16(attrs);
            var type = ReadHost16(attrs[2..]);
            if (length < 4 || length > attrs.Length)
            {
                return false;
            }

            var value = attrs[4..length];
            if (type == SockDiag.RTA_PREFSRC && value.Length == size)
            {
                found = new IPAddress(value);
            }
            else if (type == SockDiag.RTA_OIF && value.Length == 4)
            {
                oif = ReadHost32(value);
            }

            attrs = attrs[Math.Min(SockDiag.Align(length), attrs.Length)..];
        }

        if (found is null)
        {
            return false;
        }

        if (found.IsIPv6LinkLocal && oif != 0)
        {
            found.ScopeId = oif;
        }

        source = found;
        return true;
    }

    internal static bool TryReadSockId(ReadOnlySpan<byte> s, AddressFamily family, out InetDiagSockId id)
    {
        id = default;
        if (s.Length < SockDiag.SockIdSize)
        {
            return false;
        }

        var size = family == AddressFamily.InterNetwork ? 4 : 16;
        id = new InetDiagSockId(
            new IPAddress(s.Slice(4, size)),
            BinaryPrimitives.ReadUInt16BigEndian(s),
            new IPAddress(s.Slice(20, size)),
            BinaryPrimitives.ReadUInt16BigEndian(s[2..]),
            ReadHost32(s[36..]),
            ReadHost32(s[40..]) | ((ulong)ReadHost32(s[44..]) << 32));
        return true;
    }

    private static ushort ReadHost16(ReadOnlySpan<byte> at) =>
        BitConverter.IsLittleEndian ? BinaryPrimitives.ReadUInt16LittleEndian(at) : BinaryPrimitives.ReadUInt16BigEndian(at);

    private static uint ReadHost32(ReadOnlySpan<byte> at) =>
        BitConverter.IsLittleEndian ? BinaryPrimitives.ReadUInt32LittleEndian(at) : BinaryPrimitives.ReadUInt32BigEndian(at);
}
