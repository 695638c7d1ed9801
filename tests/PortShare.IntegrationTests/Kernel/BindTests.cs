using System.Net;
using System.Net.Sockets;
using PortShare.IntegrationTests.Infrastructure;

namespace PortShare.IntegrationTests.Kernel;

/// <summary>CONFORMANCE.md section C: bind(addr, 0) with the option set.</summary>
[Trait("Category", "RequiresRoot")]
[Collection(ExclusiveCollection.Name)]
public class BindTests
{
    [Theory]
    [MemberData(nameof(OptionAbiTests.FourKinds), MemberType = typeof(OptionAbiTests))]
    public void Eight_port_range_binds_exactly_eight_then_EADDRINUSE(AddressFamily family, SocketType type, ProtocolType protocol)
    {
        Root.Require();
        using var ns = TestNetns.Create();
        var loopback = family == AddressFamily.InterNetwork ? IPAddress.Loopback : IPAddress.IPv6Loopback;
        var sockets = new List<Socket>();
        try
        {
            for (var i = 0; i < 8; i++)
            {
                var s = ns.Socket(family, type, protocol);
                sockets.Add(s);
                Interop.SocketOptions.SetLocalPortRange(s, new PortRange(40000, 40007).Pack());
                s.Bind(new IPEndPoint(loopback, 0));
            }

            Assert.Equal(Enumerable.Range(40000, 8), sockets.Select(s => ((IPEndPoint)s.LocalEndPoint!).Port).Order()); // C1
            using var ninth = ns.Socket(family, type, protocol);
            Interop.SocketOptions.SetLocalPortRange(ninth, new PortRange(40000, 40007).Pack());
            var ex = Assert.Throws<SocketException>(() => ninth.Bind(new IPEndPoint(loopback, 0)));
            Assert.Equal(SocketError.AddressAlreadyInUse, ex.SocketErrorCode);
        }
        finally
        {
            sockets.ForEach(s => s.Dispose());
        }
    }

    [Fact]
    public void Odd_sized_tcp_range_loses_a_port_to_parity()
    {
        Root.Require();
        using var ns = TestNetns.Create();
        var sockets = new List<Socket>();
        try
        {
            // C4: the kernel rounds the candidate count down to even; 43103 is unreachable by bind(0).
            SocketException? failure = null;
            for (var i = 0; i < 3 && failure is null; i++)
            {
                var s = ns.Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                sockets.Add(s);
                Interop.SocketOptions.SetLocalPortRange(s, new PortRange(43101, 43103).Pack());
                try
                {
                    s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
                }
                catch (SocketException ex)
                {
                    failure = ex;
                }
            }

            Assert.Equal(SocketError.AddressAlreadyInUse, failure?.SocketErrorCode);
            Assert.Equal([43101, 43102], sockets.Where(s => s.IsBound).Select(s => ((IPEndPoint)s.LocalEndPoint!).Port).Order());
        }
        finally
        {
            sockets.ForEach(s => s.Dispose());
        }
    }

    [Theory]
    [InlineData(ProtocolType.Tcp)]
    [InlineData(ProtocolType.Udp)]
    public void Reserved_ports_are_skipped(ProtocolType protocol)
    {
        Root.Require();
        using var ns = TestNetns.Create();
        ns.SetReservedPorts("42001,42003");
        var type = protocol == ProtocolType.Tcp ? SocketType.Stream : SocketType.Dgram;
        var sockets = new List<Socket>();
        try
        {
            // C11
            while (true)
            {
                var s = ns.Socket(AddressFamily.InterNetwork, type, protocol);
                sockets.Add(s);
                Interop.SocketOptions.SetLocalPortRange(s, new PortRange(42000, 42003).Pack());
                try
                {
                    s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
                }
                catch (SocketException ex)
                {
                    Assert.Equal(SocketError.AddressAlreadyInUse, ex.SocketErrorCode);
                    break;
                }
            }

            Assert.Equal([42000, 42002], sockets.Where(s => s.IsBound).Select(s => ((IPEndPoint)s.LocalEndPoint!).Port).Order());
        }
        finally
        {
            sockets.ForEach(s => s.Dispose());
        }
    }

    [Fact]
    public void Dotnet_tcp_bind_searches_the_lower_half_first()
    {
        Root.Require();
        using var ns = TestNetns.Create();
        var sockets = new List<Socket>();
        try
        {
            // C7: every .NET TCP Bind sets SO_REUSEADDR, so bind(0) tries the lower half first; all 100 still fill.
            for (var i = 0; i < 100; i++)
            {
                var s = ns.Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                sockets.Add(s);
                Interop.SocketOptions.SetLocalPortRange(s, new PortRange(40000, 40099).Pack());
                s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            }

            var ports = sockets.Select(s => ((IPEndPoint)s.LocalEndPoint!).Port).ToList();
            Assert.All(ports.Take(30), p => Assert.InRange(p, 40000, 40049));
            Assert.Equal(100, ports.Distinct().Count());
        }
        finally
        {
            sockets.ForEach(s => s.Dispose());
        }
    }

    [Fact]
    public void Explicit_bind_ignores_the_range()
    {
        Root.Require();
        using var ns = TestNetns.Create();

        // C12: the range only governs automatic selection.
        using var s = ns.Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        Interop.SocketOptions.SetLocalPortRange(s, new PortRange(40000, 40009).Pack());
        s.Bind(new IPEndPoint(IPAddress.Loopback, 55555));
        Assert.Equal(55555, ((IPEndPoint)s.LocalEndPoint!).Port);
    }
}
