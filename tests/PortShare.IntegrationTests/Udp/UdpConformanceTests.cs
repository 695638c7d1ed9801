using System.Net;
using System.Net.Sockets;
using PortShare.Connect;
using PortShare.IntegrationTests.Infrastructure;

namespace PortShare.IntegrationTests.Udp;

/// <summary>CONFORMANCE E1-E4, E8, E9: what the kernel does with UDP and IP_LOCAL_PORT_RANGE, and the connectx flow.</summary>
[Trait("Category", "RequiresRoot")]
[Collection(ExclusiveCollection.Name)]
public class UdpConformanceTests
{
    private static readonly uint s_e1Range = new PortRange(40800, 40801).Pack();

    [Theory]
    [InlineData(AddressFamily.InterNetwork)]
    [InlineData(AddressFamily.InterNetworkV6)]
    public void E1_E2_E4_connect_autobind_uses_the_range_once_per_port_then_would_block(AddressFamily family)
    {
        Root.Require();
        using var ns = TestNetns.Create();
        var dst = ns.Destinations(family, 3);
        using var a = Ranged(ns, family);
        using var b = Ranged(ns, family);
        using var c = Ranged(ns, family);
        a.Connect(new IPEndPoint(dst[0], 1111));
        b.Connect(new IPEndPoint(dst[1], 1111));
        Assert.Equal([40800, 40801], new[] { a.Endpoint().Port, b.Endpoint().Port }.Order());

        // E2/E4: a third destination gets no port: EAGAIN, i.e. WouldBlock in .NET.
        var ex = Assert.Throws<SocketException>(() => c.Connect(new IPEndPoint(dst[2], 1111)));
        Assert.Equal(SocketError.WouldBlock, ex.SocketErrorCode);
    }

    [Theory]
    [InlineData(AddressFamily.InterNetwork)]
    [InlineData(AddressFamily.InterNetworkV6)]
    public async Task E4_ConnectAsync_faults_with_WouldBlock(AddressFamily family)
    {
        Root.Require();
        using var ns = TestNetns.Create();
        var dst = ns.Destinations(family, 3);
        using var a = Ranged(ns, family);
        using var b = Ranged(ns, family);
        using var c = Ranged(ns, family);
        await a.ConnectAsync(new IPEndPoint(dst[0], 1111), TestContext.Current.CancellationToken);
        await b.ConnectAsync(new IPEndPoint(dst[1], 1111), TestContext.Current.CancellationToken);
        var ex = await Assert.ThrowsAsync<SocketException>(async () => await c.ConnectAsync(new IPEndPoint(dst[2], 1111), TestContext.Current.CancellationToken));
        Assert.Equal(SocketError.WouldBlock, ex.SocketErrorCode);
    }

    [Theory]
    [InlineData(AddressFamily.InterNetwork)]
    [InlineData(AddressFamily.InterNetworkV6)]
    public void E3_unbound_sendto_to_a_new_destination_fails_when_the_range_is_used_up(AddressFamily family)
    {
        Root.Require();
        using var ns = TestNetns.Create();
        var dst = ns.Destinations(family, 3);
        using var a = Ranged(ns, family);
        using var b = Ranged(ns, family);
        using var c = Ranged(ns, family);
        a.Connect(new IPEndPoint(dst[0], 1111));
        b.Connect(new IPEndPoint(dst[1], 1111));
        var ex = Assert.Throws<SocketException>(() => c.SendTo("x"u8, new IPEndPoint(dst[2], 1111)));

        // CONFORMANCE E4 observed TimedOut for SendTo (EAGAIN on a blocking socket); accept either spelling of EAGAIN.
        Assert.Contains(ex.SocketErrorCode, new[] { SocketError.WouldBlock, SocketError.TimedOut });
        Assert.Null(c.LocalEndPoint is IPEndPoint { Port: > 0 } ep ? ep : null);
    }

    [Theory]
    [InlineData(AddressFamily.InterNetwork)]
    [InlineData(AddressFamily.InterNetworkV6)]
    public async Task E8_connectx_flow_in_a_four_port_netns_range(AddressFamily family)
    {
        Root.Require();
        using var ns = TestNetns.Create(40900, 40903);
        var dst = ns.Destinations(family, 2);
        using var serverA = ns.UdpListen(dst[0], 1111);
        using var serverB = ns.UdpListen(dst[1], 2222);
        using var connector = new UdpSliceConnector(new PortRange(40900, 40903), null, UdpPortMode.Shared, ns.Ns);
        var flows = new List<Socket>();
        try
        {
            for (var i = 0; i < 4; i++)
            {
                flows.Add(await connector.ConnectAsync(serverA.Endpoint(), TestContext.Current.CancellationToken));
                try
                {
                    flows.Add(await connector.ConnectAsync(serverB.Endpoint(), TestContext.Current.CancellationToken));
                }
                catch (SliceExhaustedException failure)
                {
                    // Say what the kernel held when this should not happen.
                    var held = ns.DumpUdp(family, PortShare.Diagnostics.SocketStates.All).Select(r => $"{r.Local} -> {r.Remote} {r.State}");
                    Assert.Fail($"flow {flows.Count + 1} failed: {failure.Message}\n{string.Join('\n', held)}");
                }
            }

            var ex = await Assert.ThrowsAsync<SliceExhaustedException>(async () => await connector.ConnectAsync(serverB.Endpoint(), TestContext.Current.CancellationToken));
            Assert.Equal(SocketError.WouldBlock, ex.SocketError);
            Assert.Equal(4, flows.Select(f => f.Endpoint().Port).Distinct().Count());

            // A freed 4-tuple is found again.
            var freed = flows[1].Endpoint().Port;
            flows[1].Dispose();
            flows.RemoveAt(1);
            using var again = await connector.ConnectAsync(serverB.Endpoint(), TestContext.Current.CancellationToken);
            Assert.Equal(freed, again.Endpoint().Port);
        }
        finally
        {
            flows.ForEach(f => f.Dispose());
        }
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("::1")]
    public void E9_bind_address_no_port_defers_the_port_to_connect(string address)
    {
        Root.Require();
        using var ns = TestNetns.Create();
        var ip = IPAddress.Parse(address);
        using var s = ns.Socket(ip.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        Interop.SocketOptions.SetLocalPortRange(s, new PortRange(41000, 41001).Pack());
        Interop.SocketOptions.SetBindAddressNoPort(s);
        s.Bind(new IPEndPoint(ip, 0));

        // No port yet: the socket is not even in the kernel's UDP table.
        Assert.Null(KernelLocalPort(ns, s));
        s.Connect(new IPEndPoint(ip, 1111));
        Assert.InRange(KernelLocalPort(ns, s) ?? 0, 41000, 41001);

        // First read of LocalEndPoint after connect: getsockname agrees. (.NET caches LocalEndPoint once read and does not
        // refresh it on connect when the bound address was specific, so reading it before connect would show port 0 forever.)
        Assert.Equal(KernelLocalPort(ns, s), s.Endpoint().Port);
    }

    /// <summary>The socket's local port in the kernel's UDP table (by cookie), or null when it is not hashed (no port).</summary>
    private static int? KernelLocalPort(TestNetns ns, Socket s)
    {
        var cookie = Interop.SocketOptions.GetCookie(s);
        return ns.DumpUdp(s.AddressFamily, PortShare.Diagnostics.SocketStates.All).SingleOrDefault(r => r.Cookie == cookie)?.Local.Port;
    }

    private static Socket Ranged(TestNetns ns, AddressFamily family)
    {
        var s = ns.Socket(family, SocketType.Dgram, ProtocolType.Udp);
        Interop.SocketOptions.SetLocalPortRange(s, s_e1Range);
        return s;
    }
}
