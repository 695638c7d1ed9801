using System.Net;
using System.Net.Sockets;
using PortShare.Connect;
using PortShare.IntegrationTests.Infrastructure;
using PortShare.IntegrationTests.Udp;

namespace PortShare.IntegrationTests.Connect;

/// <summary>
/// A slice of several ranges with ports between them the host does not own (here also in ip_local_reserved_ports, and
/// one the kernel may choose): every connector uses every port of every range and never one between them.
/// </summary>
[Trait("Category", "RequiresRoot")]
[Collection(ExclusiveCollection.Name)]
public sealed class MultiRangeConnectorTests
{
    // 12 ports in three ranges; 40104-40107 are reserved (as a plan's reserved ports), 40112-40115 are another host's.
    private static readonly PortSlice s_slice = PortSlice.Parse("40100-40103,40108-40111,40116-40119");

    public static TheoryData<ConnectStrategy, string> StrategiesAndFamilies => Strategies.AndFamilies;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [MemberData(nameof(StrategiesAndFamilies))]
    public async Task Tcp_fills_every_port_of_every_range_then_names_every_range(ConnectStrategy strategy, string address)
    {
        Strategies.Require(strategy);
        using var ns = TestNetns.Create();
        ns.SetReservedPorts("40104-40107");
        var ip = IPAddress.Parse(address);
        using var listener = ns.Listen(ip);
        var remote = (IPEndPoint)listener.LocalEndPoint!;
        var connector = new SliceConnector(s_slice, ip, strategy, ns.Ns);
        var held = new List<Socket>();
        try
        {
            for (var i = 0; i < s_slice.Count; i++)
            {
                held.Add(await connector.ConnectAsync(remote, Ct));
            }

            Assert.Equal(Enumerable.Range(0, s_slice.Count).Select(i => (int)s_slice.PortAt(i)), held.Select(s => ((IPEndPoint)s.LocalEndPoint!).Port).Order());
            var ex = await Assert.ThrowsAsync<SliceExhaustedException>(async () => await connector.ConnectAsync(remote, Ct));
            Assert.Equal(s_slice, ex.Slice);
            Assert.Contains("40100-40103,40108-40111,40116-40119 (12 ports in 3 ranges, every one tried)", ex.Message, StringComparison.Ordinal);

            // A second destination gets every port again (ports are shared across destinations).
            using var other = ns.Listen(ip);
            var again = await connector.ConnectAsync((IPEndPoint)other.LocalEndPoint!, Ct);
            held.Add(again);
            Assert.True(s_slice.Contains(((IPEndPoint)again.LocalEndPoint!).Port));
        }
        finally
        {
            held.ForEach(s => s.Dispose());
        }
    }

    [Theory]
    [MemberData(nameof(StrategiesAndFamilies))]
    public async Task Connects_start_in_every_range_over_many_destinations(ConnectStrategy strategy, string address)
    {
        Strategies.Require(strategy);
        using var ns = TestNetns.Create();
        var ip = IPAddress.Parse(address);
        var listeners = Enumerable.Range(0, 24).Select(_ => ns.Listen(ip)).ToList();
        var connector = new SliceConnector(s_slice, null, strategy, ns.Ns);
        var held = new List<Socket>();
        try
        {
            // One connection per destination: the start range is random, weighted by size, so all three get used.
            foreach (var l in listeners)
            {
                held.Add(await connector.ConnectAsync((IPEndPoint)l.LocalEndPoint!, Ct));
            }

            var ranges = held.Select(s => s_slice.RangeIndexOfIndex(s_slice.IndexOf(((IPEndPoint)s.LocalEndPoint!).Port))).Distinct().Count();
            Assert.Equal(3, ranges);
        }
        finally
        {
            held.ForEach(s => s.Dispose());
            listeners.ForEach(l => l.Dispose());
        }
    }

    [Theory]
    [InlineData(UdpPortMode.Shared, AddressFamily.InterNetwork)]
    [InlineData(UdpPortMode.Shared, AddressFamily.InterNetworkV6)]
    [InlineData(UdpPortMode.Unique, AddressFamily.InterNetwork)]
    [InlineData(UdpPortMode.Unique, AddressFamily.InterNetworkV6)]
    public async Task Udp_fills_every_port_of_every_range_then_names_every_range(UdpPortMode mode, AddressFamily family)
    {
        Root.Require();
        using var ns = TestNetns.Create();
        ns.SetReservedPorts("40104-40107");
        var destination = ns.Destinations(family, 1)[0];
        using var server = ns.UdpListen(destination, 5353);
        using var connector = new UdpSliceConnector(s_slice, null, mode, ns.Ns);
        var flows = new List<Socket>();
        try
        {
            for (var i = 0; i < s_slice.Count; i++)
            {
                flows.Add(await connector.ConnectAsync(server.Endpoint(), Ct));
            }

            Assert.Equal(Enumerable.Range(0, s_slice.Count).Select(i => (int)s_slice.PortAt(i)), flows.Select(f => f.Endpoint().Port).Order());
            var ex = await Assert.ThrowsAsync<SliceExhaustedException>(async () => await connector.ConnectAsync(server.Endpoint(), Ct));
            Assert.Contains("40100-40103,40108-40111,40116-40119", ex.Message, StringComparison.Ordinal);
        }
        finally
        {
            flows.ForEach(f => f.Dispose());
        }
    }

    [Theory]
    [InlineData(ConnectStrategy.Kernel)]
    [InlineData(ConnectStrategy.Fallback)]
    public async Task An_IPv4_mapped_destination_connects_as_IPv4_on_both_strategies(ConnectStrategy strategy)
    {
        Strategies.Require(strategy);
        using var ns = TestNetns.Create();
        using var listener = ns.Listen(IPAddress.Loopback);
        var port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        var mapped = new IPEndPoint(IPAddress.Parse("::ffff:127.0.0.1"), port);

        foreach (var egress in new IPAddress?[] { null, IPAddress.Loopback, IPAddress.Parse("::ffff:127.0.0.1") })
        {
            var connector = new SliceConnector(s_slice, egress, strategy, ns.Ns);
            using var socket = await connector.ConnectAsync(mapped, Ct);
            var local = (IPEndPoint)socket.LocalEndPoint!;
            Assert.Equal(IPAddress.Loopback, local.Address);
            Assert.True(s_slice.Contains(local.Port));
            using var byName = await connector.ConnectAsync("::ffff:127.0.0.1", port, Ct);
            Assert.True(s_slice.Contains(((IPEndPoint)byName.LocalEndPoint!).Port));
        }
    }
}
