using System.Net;
using System.Net.Sockets;
using PortShare.Diagnostics;

namespace PortShare.Tests.Diagnostics;

/// <summary>Golden bytes for the netlink/inet_diag encoding, written out by hand from the kernel headers (little-endian host).</summary>
public class SockDiagMessageTests
{
    // nlmsghdr: len 72, type 20 (SOCK_DIAG_BY_FAMILY), flags 1 (NLM_F_REQUEST), seq 7, pid 0
    // inet_diag_req_v2: AF_INET, IPPROTO_UDP, ext 0, pad 0, states 1<<TCP_ESTABLISHED
    // sockid: sport 1111 (remote) BE, dport 44000 (local) BE, src 127.0.0.2, dst 127.0.0.1, if 0, cookie NOCOOKIE
    private const string ExactLookupV4 =
        "48000000" + "1400" + "0100" + "07000000" + "00000000" +
        "02110000" + "02000000" +
        "0457" + "ABE0" +
        "7F000002" + "000000000000000000000000" +
        "7F000001" + "000000000000000000000000" +
        "00000000" + "FFFFFFFF" + "FFFFFFFF";

    // nlmsghdr: len 92, type 20, flags 0x301 (REQUEST|DUMP), seq 1
    // inet_diag_req_v2: AF_INET6, IPPROTO_TCP, states 0x1FFE, empty sockid with NOCOOKIE
    // rtattr INET_DIAG_REQ_BYTECODE len 20: S_GE yes 8 no 20 / port 40000; S_LE yes 8 no 12 / port 40191
    private const string DumpV6WithPortFilter =
        "5C000000" + "1400" + "0103" + "01000000" + "00000000" +
        "0A060000" + "FE1F0000" +
        "0000" + "0000" +
        "00000000000000000000000000000000" +
        "00000000000000000000000000000000" +
        "00000000" + "FFFFFFFF" + "FFFFFFFF" +
        "1400" + "0100" +
        "02081400" + "0000409C" +
        "03080C00" + "0000FF9C";

    // inet_diag_msg for a connected UDP socket 127.0.0.1:44000 -> 127.0.0.2:1111, cookie 0x1_00000002, uid 1000, inode 12345,
    // followed by an 8-byte attribute the reader must skip, then NLMSG_DONE (int 0).
    private const string DumpReply =
        "60000000" + "1400" + "0200" + "01000000" + "39300000" +
        "02" + "01" + "00" + "00" +
        "ABE0" + "0457" +
        "7F000001" + "000000000000000000000000" +
        "7F000002" + "000000000000000000000000" +
        "00000000" + "02000000" + "01000000" +
        "00000000" + "00000000" + "00000000" + "E8030000" + "39300000" +
        "0800" + "0500" + "AABBCCDD" +
        "14000000" + "0300" + "0200" + "01000000" + "39300000" + "00000000";

    // NLMSG_ERROR with error -ENOENT (-2), echoing the request header.
    private const string EnoentReply =
        "24000000" + "0200" + "0000" + "07000000" + "39300000" +
        "FEFFFFFF" +
        "48000000" + "1400" + "0100" + "07000000" + "00000000";

    [Fact]
    public void Exact_udp_lookup_request_matches_golden_bytes()
    {
        Span<byte> buffer = stackalloc byte[128];
        var writer = new NetlinkWriter(buffer);
        var start = writer.BeginMessage(SockDiag.SOCK_DIAG_BY_FAMILY, SockDiag.NLM_F_REQUEST, 7);
        var id = new InetDiagSockId(IPAddress.Parse("127.0.0.2"), 1111, IPAddress.Parse("127.0.0.1"), 44000, 0, SockDiag.INET_DIAG_NOCOOKIE);
        writer.WriteInetDiagRequest(AddressFamily.InterNetwork, ProtocolType.Udp, SocketStates.Established, id);
        writer.EndMessage(start);
        Assert.Equal(ExactLookupV4, Convert.ToHexString(writer.Written));
    }

    [Fact]
    public void Dump_request_with_local_port_bytecode_matches_golden_bytes()
    {
        Span<byte> buffer = stackalloc byte[128];
        var writer = new NetlinkWriter(buffer);
        var start = writer.BeginMessage(SockDiag.SOCK_DIAG_BY_FAMILY, SockDiag.NLM_F_REQUEST | SockDiag.NLM_F_DUMP, 1);
        writer.WriteInetDiagRequest(AddressFamily.InterNetworkV6, ProtocolType.Tcp, SocketStates.All, InetDiagSockId.Empty(AddressFamily.InterNetworkV6));
        writer.WriteLocalPortFilter(new PortRange(40000, 40191));
        writer.EndMessage(start);
        Assert.Equal(DumpV6WithPortFilter, Convert.ToHexString(writer.Written));
    }

    [Fact]
    public void Ipv6_addresses_fill_all_sixteen_bytes_in_network_order()
    {
        Span<byte> sockId = stackalloc byte[SockDiag.SockIdSize];
        var id = new InetDiagSockId(IPAddress.Parse("2001:db8::1"), 53, IPAddress.Parse("fd00::2"), 40001, 3, 0x0102030405060708);
        NetlinkWriter.WriteSockId(sockId, id);
        Assert.Equal(
            "0035" + "9C41" + "20010DB8000000000000000000000001" + "FD000000000000000000000000000002" + "03000000" + "08070605" + "04030201",
            Convert.ToHexString(sockId));
        Assert.True(NetlinkReader.TryReadSockId(sockId, AddressFamily.InterNetworkV6, out var back));
        Assert.Equal(id, back);
    }

    [Fact]
    public void Reader_decodes_a_dump_part_skipping_attributes_then_done()
    {
        var reader = new NetlinkReader(Convert.FromHexString(DumpReply));
        Assert.True(reader.TryReadMessage(out var h1, out var p1));
        Assert.Equal(SockDiag.SOCK_DIAG_BY_FAMILY, h1.Type);
        Assert.Equal(SockDiag.NLM_F_MULTI, h1.Flags);
        Assert.Equal(96u, h1.Length);
        Assert.Equal(12345u, h1.PortId);
        Assert.True(NetlinkReader.TryReadInetDiagMessage(p1, ProtocolType.Udp, out var socket));
        Assert.Equal(
            new DiagSocket(ProtocolType.Udp, SocketState.Established, IPEndPoint.Parse("127.0.0.1:44000"), IPEndPoint.Parse("127.0.0.2:1111"), 0, 0x1_0000_0002, 1000, 12345),
            socket);

        Assert.True(reader.TryReadMessage(out var h2, out var p2));
        Assert.Equal(SockDiag.NLMSG_DONE, h2.Type);
        Assert.True(NetlinkReader.TryReadError(p2, out var done));
        Assert.Equal(0, done);
        Assert.True(reader.IsEmpty);
        Assert.False(reader.TryReadMessage(out _, out _));
    }

    [Fact]
    public void Reader_decodes_an_enoent_error()
    {
        var reader = new NetlinkReader(Convert.FromHexString(EnoentReply));
        Assert.True(reader.TryReadMessage(out var h, out var payload));
        Assert.Equal(SockDiag.NLMSG_ERROR, h.Type);
        Assert.Equal(7u, h.Sequence);
        Assert.True(NetlinkReader.TryReadError(payload, out var error));
        Assert.Equal(-SockDiag.ENOENT, error);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(15)]
    [InlineData(40)]
    [InlineData(95)]
    public void Reader_refuses_truncated_input(int length)
    {
        var bytes = Convert.FromHexString(DumpReply).AsSpan(0, length);
        var reader = new NetlinkReader(bytes);
        Assert.False(reader.TryReadMessage(out _, out _));
    }

    [Fact]
    public void Reader_refuses_a_short_inet_diag_message_and_an_unknown_family()
    {
        var msg = Convert.FromHexString(DumpReply).AsSpan(16, 72).ToArray();
        Assert.False(NetlinkReader.TryReadInetDiagMessage(msg.AsSpan(0, 71), ProtocolType.Udp, out _));
        msg[0] = 1; // AF_UNIX
        Assert.False(NetlinkReader.TryReadInetDiagMessage(msg, ProtocolType.Udp, out _));
        Assert.False(NetlinkReader.TryReadError([1, 2, 3], out _));
    }

    [Fact]
    public void Writer_refuses_a_buffer_too_small()
    {
        var buffer = new byte[40];
        Assert.Throws<InvalidOperationException>(() =>
        {
            var writer = new NetlinkWriter(buffer);
            writer.BeginMessage(SockDiag.SOCK_DIAG_BY_FAMILY, SockDiag.NLM_F_REQUEST, 1);
            writer.WriteInetDiagRequest(AddressFamily.InterNetwork, ProtocolType.Udp, SocketStates.All, InetDiagSockId.Empty(AddressFamily.InterNetwork));
        });
    }
}
