using System.Net;
using System.Net.Sockets;
using PortShare.IntegrationTests.Infrastructure;

namespace PortShare.IntegrationTests.Kernel;

/// <summary>CONFORMANCE.md section D: TCP connect() with the option, straight against the kernel (no PortShare logic).</summary>
[Trait("Category", "RequiresRoot")]
[Collection(ExclusiveCollection.Name)]
public class TcpConnectTests
{
    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("::1")]
    public void No_port_bind_defers_the_port_to_connect_and_shares_it(string address)
    {
        Root.Require();
        using var ns = TestNetns.Create();
        var ip = IPAddress.Parse(address);
        using var a = ns.Listen(ip);
        using var b = ns.Listen(ip);
        var held = new List<Socket>();
        try
        {
            // D3: no port until connect. (Read on a socket of its own: .NET caches LocalEndPoint once read, and does not
            // refresh it after connect when the bound address is specific.)
            using (var probe = NoPort(ns, ip, new PortRange(40600, 40601)))
            {
                Assert.Equal(0, ((IPEndPoint)probe.LocalEndPoint!).Port);
            }

            foreach (var l in new[] { a, a, b, b })
            {
                var s = NoPort(ns, ip, new PortRange(40600, 40601));
                held.Add(s);
                s.Connect(l.LocalEndPoint!);
            }

            Assert.All(held, s => Assert.InRange(((IPEndPoint)s.LocalEndPoint!).Port, 40600, 40601));
            using var extra = NoPort(ns, ip, new PortRange(40600, 40601));
            var ex = Assert.Throws<SocketException>(() => extra.Connect(a.LocalEndPoint!));
            Assert.Equal(SocketError.AddressNotAvailable, ex.SocketErrorCode);
        }
        finally
        {
            held.ForEach(s => s.Dispose());
        }
    }

    [Fact]
    public void Refused_connect_still_assigns_a_port_in_range()
    {
        Root.Require();
        using var ns = TestNetns.Create();

        // D4: connect to INADDR_ANY:0 fails, but the late bind picked a port of the range.
        using var s = NoPort(ns, IPAddress.Loopback, new PortRange(40700, 40709));
        Assert.Throws<SocketException>(() => s.Connect(new IPEndPoint(IPAddress.Any, 0)));
        Assert.InRange(((IPEndPoint)s.LocalEndPoint!).Port, 40700, 40709);
    }

    [Fact]
    public void Plain_bind_locks_the_port_for_every_destination()
    {
        Root.Require();
        using var ns = TestNetns.Create();
        using var a = ns.Listen(IPAddress.Loopback);
        using var b = ns.Listen(IPAddress.Loopback);
        var held = new List<Socket>();
        try
        {
            // D5: bind(ip, 0) without NO_PORT: two sockets take both ports; a third bind fails even toward a new destination.
            foreach (var l in new[] { a, b })
            {
                var s = Ranged(ns, AddressFamily.InterNetwork, new PortRange(40800, 40801));
                held.Add(s);
                s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
                s.Connect(l.LocalEndPoint!);
            }

            using var third = Ranged(ns, AddressFamily.InterNetwork, new PortRange(40800, 40801));
            var ex = Assert.Throws<SocketException>(() => third.Bind(new IPEndPoint(IPAddress.Loopback, 0)));
            Assert.Equal(SocketError.AddressAlreadyInUse, ex.SocketErrorCode);
        }
        finally
        {
            held.ForEach(s => s.Dispose());
        }
    }

    [Fact]
    public void Connect_with_the_option_uses_both_parities_and_every_port_of_an_odd_range()
    {
        Root.Require();
        using var ns = TestNetns.Create();
        using var l = ns.Listen(IPAddress.Loopback);
        var held = new List<Socket>();
        try
        {
            // D6: option set, ≥ 6.8: random order, step 1, so odd and even ports both appear.
            for (var i = 0; i < 60; i++)
            {
                var s = Ranged(ns, AddressFamily.InterNetwork, new PortRange(41100, 41199));
                held.Add(s);
                s.Connect(l.LocalEndPoint!);
            }

            var ports = held.Select(s => ((IPEndPoint)s.LocalEndPoint!).Port).ToList();
            Assert.Contains(ports, p => p % 2 == 0);
            Assert.Contains(ports, p => p % 2 == 1);
            held.ForEach(Reset);
            held.Clear();

            // D9: an odd-sized range (3 ports) gives all three to one destination.
            for (var i = 0; i < 3; i++)
            {
                var s = Ranged(ns, AddressFamily.InterNetwork, new PortRange(43101, 43103));
                held.Add(s);
                s.Connect(l.LocalEndPoint!);
            }

            Assert.Equal([43101, 43102, 43103], held.Select(s => ((IPEndPoint)s.LocalEndPoint!).Port).Order());
        }
        finally
        {
            held.ForEach(Reset);
        }
    }

    [Fact]
    public void Without_the_option_connect_prefers_even_ports_and_loses_one_of_an_odd_range()
    {
        Root.Require();
        using var ns = TestNetns.Create(43001, 43003);
        using var l = ns.Listen(IPAddress.Loopback);
        var held = new List<Socket>();
        try
        {
            // D10: no option, netns 43001-43003: parity rounding leaves two usable ports, then EADDRNOTAVAIL.
            SocketException? failure = null;
            for (var i = 0; i < 3 && failure is null; i++)
            {
                var s = ns.Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                held.Add(s);
                try
                {
                    s.Connect(l.LocalEndPoint!);
                }
                catch (SocketException ex)
                {
                    failure = ex;
                }
            }

            Assert.Equal(SocketError.AddressNotAvailable, failure?.SocketErrorCode);
            Assert.Equal(2, held.Count(s => s.Connected));
        }
        finally
        {
            held.ForEach(Reset);
        }
    }

    [Fact]
    public void A_port_held_by_an_explicit_bind_on_another_ip_is_skipped()
    {
        Root.Require();
        using var ns = TestNetns.Create();
        using var l = ns.Listen(IPAddress.Loopback);

        // D11: an explicit bind (REUSEADDR, as every .NET TCP bind) on 127.3.3.3:45100 blocks connect() on 45100 for any IP.
        using var blocker = ns.Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        blocker.Bind(new IPEndPoint(IPAddress.Parse("127.3.3.3"), 45100));
        using var s = NoPort(ns, IPAddress.Parse("127.2.2.2"), new PortRange(45100, 45100));
        var ex = Assert.Throws<SocketException>(() => s.Connect(l.LocalEndPoint!));
        Assert.Equal(SocketError.AddressNotAvailable, ex.SocketErrorCode);
    }

    [Fact]
    public void Reuseaddr_binds_share_a_port_but_never_a_four_tuple()
    {
        Root.Require();
        using var ns = TestNetns.Create();
        using var a = ns.Listen(IPAddress.Loopback);
        using var b = ns.Listen(IPAddress.Loopback);

        // D15: .NET TCP binds set SO_REUSEADDR: the second bind to the port succeeds, its connect to the same
        // destination fails with EADDRNOTAVAIL, and a third socket reaches another destination from the same port.
        using var first = ns.Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        first.Bind(new IPEndPoint(IPAddress.Loopback, 46100));
        first.Connect(a.LocalEndPoint!);
        using var second = ns.Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        second.Bind(new IPEndPoint(IPAddress.Loopback, 46100));
        var ex = Assert.Throws<SocketException>(() => second.Connect(a.LocalEndPoint!));
        Assert.Equal(SocketError.AddressNotAvailable, ex.SocketErrorCode);
        using var third = ns.Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        third.Bind(new IPEndPoint(IPAddress.Loopback, 46100));
        third.Connect(b.LocalEndPoint!);
        Assert.Equal(46100, ((IPEndPoint)third.LocalEndPoint!).Port);
    }

    [Fact]
    public void Dual_mode_socket_to_a_mapped_address_stays_in_range()
    {
        Root.Require();
        using var ns = TestNetns.Create();
        using var l = ns.Listen(IPAddress.Loopback);

        // D16: an AF_INET6 dual-mode socket connecting to ::ffff:127.0.0.1 honours the range set at SOL_IP.
        using var s = Ranged(ns, AddressFamily.InterNetworkV6, new PortRange(46000, 46001));
        s.DualMode = true;
        s.Connect(new IPEndPoint(IPAddress.Loopback.MapToIPv6(), ((IPEndPoint)l.LocalEndPoint!).Port));
        Assert.InRange(((IPEndPoint)s.LocalEndPoint!).Port, 46000, 46001);
    }

    private static Socket Ranged(TestNetns ns, AddressFamily family, PortRange range)
    {
        var s = ns.Socket(family, SocketType.Stream, ProtocolType.Tcp);
        Interop.SocketOptions.SetLocalPortRange(s, range.Pack());
        return s;
    }

    private static Socket NoPort(TestNetns ns, IPAddress local, PortRange range)
    {
        var s = Ranged(ns, local.AddressFamily, range);
        Interop.SocketOptions.SetBindAddressNoPort(s);
        s.Bind(new IPEndPoint(local, 0));
        return s;
    }

    private static void Reset(Socket s)
    {
        s.LingerState = new LingerOption(true, 0);
        s.Dispose();
    }
}
