using System.Net;
using System.Net.Sockets;
using PortShare.Diagnostics;
using PortShare.IntegrationTests.Infrastructure;

namespace PortShare.IntegrationTests.Udp;

/// <summary>CONFORMANCE E5, E6, E7: the exact lookup, the REUSEADDR lock and duplicate 4-tuples, against the real kernel.</summary>
[Trait("Category", "RequiresRoot")]
public class SockDiagKernelTests
{
    [Theory]
    [InlineData("127.0.0.1", "127.0.0.2")]
    [InlineData("::1", "::1")]
    public void E6_exact_lookup_answers_none_own_cookie_connected_owner_and_other_destination(string localText, string remoteText)
    {
        Root.Require();
        using var ns = TestNetns.Create();
        var localIp = IPAddress.Parse(localText);
        var remoteIp = IPAddress.Parse(remoteText);
        using var diag = SockDiagClient.Open(ns.Ns);
        var local = new IPEndPoint(localIp, 44000);
        var remote = new IPEndPoint(remoteIp, 1111);
        var other = new IPEndPoint(remoteIp, 2222);

        // No socket at all: ENOENT.
        Assert.Null(diag.LookupUdp(local, remote));

        // Own bound, unconnected socket: its cookie.
        using var mine = ns.Socket(localIp.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        UdpTestHelpers.SetReuseAddr(mine, true);
        mine.Bind(local);
        var myCookie = Interop.SocketOptions.GetCookie(mine);
        Assert.Equal(myCookie, diag.LookupUdp(local, remote)?.Cookie);

        // A socket connected on the 4-tuple outranks it.
        using var owner = ns.Socket(localIp.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        UdpTestHelpers.SetReuseAddr(owner, true);
        owner.Bind(local);
        owner.Connect(remote);
        var ownerCookie = Interop.SocketOptions.GetCookie(owner);
        Assert.NotEqual(myCookie, ownerCookie);
        var found = diag.LookupUdp(local, remote);
        Assert.NotNull(found);
        Assert.Equal(ownerCookie, found.Cookie);
        Assert.Equal(SocketState.Established, found.State);
        Assert.Equal(local, found.Local);
        Assert.Equal(remote, found.Remote);

        // Toward another destination, the connected socket does not match: our own cookie again.
        Assert.Equal(myCookie, diag.LookupUdp(local, other)?.Cookie);
        Assert.Equal(4, diag.RoundTrips);
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("::1")]
    public void E7_clearing_reuseaddr_locks_the_two_tuple(string address)
    {
        Root.Require();
        using var ns = TestNetns.Create();
        var ip = IPAddress.Parse(address);
        var local = new IPEndPoint(ip, 44100);
        using var a = ns.Socket(ip.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        using var b = ns.Socket(ip.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        using var c = ns.Socket(ip.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        UdpTestHelpers.SetReuseAddr(a, true);
        UdpTestHelpers.SetReuseAddr(b, true);
        UdpTestHelpers.SetReuseAddr(c, true);
        a.Bind(local);
        b.Bind(local); // both REUSEADDR: shared
        UdpTestHelpers.SetReuseAddr(b, false);
        var ex = Assert.Throws<SocketException>(() => c.Bind(local));
        Assert.Equal(SocketError.AddressAlreadyInUse, ex.SocketErrorCode);

        // Unlocked again: the third socket may share the 2-tuple.
        UdpTestHelpers.SetReuseAddr(b, true);
        c.Bind(local);
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("::1")]
    public void E5_two_reuseaddr_sockets_can_connect_one_four_tuple_and_the_newer_takes_the_traffic(string address)
    {
        Root.Require();
        using var ns = TestNetns.Create();
        var ip = IPAddress.Parse(address);
        using var server = ns.UdpListen(ip, 1111);
        var local = new IPEndPoint(ip, 4444);
        using var older = ns.Socket(ip.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        using var newer = ns.Socket(ip.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        foreach (var s in new[] { older, newer })
        {
            UdpTestHelpers.SetReuseAddr(s, true);
            s.Bind(local);
            s.Connect(server.Endpoint());
        }

        var rows = ns.DumpUdp(ip.AddressFamily, SocketStates.Established).Where(s => s.Remote.Port == 1111).ToList();
        Assert.Equal(2, rows.Count);
        Assert.All(rows, r => Assert.Equal(local, r.Local));

        server.SendTo("x"u8.ToArray(), local);
        newer.ReceiveTimeout = 2000;
        var buffer = new byte[8];
        Assert.Equal(1, newer.Receive(buffer));
        Assert.Equal(0, older.Available);
    }

    [Fact]
    public void Dump_filters_by_local_port_range_and_state()
    {
        Root.Require();
        using var ns = TestNetns.Create();
        using var inside = ns.UdpListen(IPAddress.Loopback, 45000);
        using var inside2 = ns.UdpListen(IPAddress.Loopback, 45001);
        using var outside = ns.UdpListen(IPAddress.Loopback, 46000);
        using var listener = ns.Listen(IPAddress.Loopback, 45002);
        using var diag = SockDiagClient.Open(ns.Ns);

        var udp = diag.Dump(AddressFamily.InterNetwork, ProtocolType.Udp, SocketStates.All, new PortRange(45000, 45009));
        Assert.Equal([45000, 45001], udp.Select(s => s.Local.Port).Order());
        Assert.All(udp, s => Assert.Equal(SocketState.Close, s.State));

        var all = diag.Dump(AddressFamily.InterNetwork, ProtocolType.Udp, SocketStates.All);
        Assert.Equal(3, all.Count);

        var tcp = diag.Dump(AddressFamily.InterNetwork, ProtocolType.Tcp, SocketStates.Listen, new PortRange(45000, 45009));
        Assert.Equal(45002, Assert.Single(tcp).Local.Port);
        Assert.Empty(diag.Dump(AddressFamily.InterNetwork, ProtocolType.Tcp, SocketStates.Established));
        Assert.Empty(diag.Dump(AddressFamily.InterNetworkV6, ProtocolType.Udp, SocketStates.All));
    }

    [Fact]
    public void Multi_part_dump_returns_every_socket()
    {
        Root.Require();
        using var ns = TestNetns.Create();
        var sockets = new List<Socket>();
        try
        {
            // ~72+ bytes each plus attributes: 1500 sockets need several netlink datagrams.
            for (var i = 0; i < 1500; i++)
            {
                sockets.Add(ns.UdpListen(IPAddress.Loopback, 41000 + i));
            }

            using var diag = SockDiagClient.Open(ns.Ns);
            var found = diag.Dump(AddressFamily.InterNetwork, ProtocolType.Udp, SocketStates.All);
            Assert.Equal(Enumerable.Range(41000, 1500), found.Select(s => s.Local.Port).Order());
            Assert.Equal(1, diag.RoundTrips);
        }
        finally
        {
            sockets.ForEach(s => s.Dispose());
        }
    }
}
