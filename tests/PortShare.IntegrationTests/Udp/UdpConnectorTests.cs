using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using PortShare.Connect;
using PortShare.Diagnostics;
using PortShare.IntegrationTests.Infrastructure;

namespace PortShare.IntegrationTests.Udp;

/// <summary>UDP from a slice: the shared-port (connectx) and unique-port modes against the real kernel, each test in its own namespace.</summary>
[Trait("Category", "RequiresRoot")]
[Collection(ExclusiveCollection.Name)]
public class UdpConnectorTests
{
    private static readonly PortRange s_slice64 = new(40064, 40127);

    [Theory]
    [InlineData(AddressFamily.InterNetwork)]
    [InlineData(AddressFamily.InterNetworkV6)]
    public async Task Shared_mode_carries_slice_size_times_destinations_flows_with_no_duplicate_four_tuple(AddressFamily family)
    {
        Root.Require();
        using var ns = TestNetns.Create();
        var destinations = ns.Destinations(family, 4);
        var listeners = destinations.Select(d => ns.UdpListen(d, 5353)).ToArray();
        var flows = new List<Socket>();
        using var connector = new UdpSliceConnector(s_slice64, null, UdpPortMode.Shared, ns.Ns);
        try
        {
            foreach (var listener in listeners)
            {
                for (var i = 0; i < s_slice64.Count; i++)
                {
                    flows.Add(await connector.ConnectAsync(listener.Endpoint(), TestContext.Current.CancellationToken));
                }
            }

            Assert.Equal(256, flows.Count);
            Assert.All(flows, f => Assert.InRange(f.Endpoint().Port, s_slice64.Low, s_slice64.High));

            // The kernel's view: 256 connected sockets in the slice, 256 distinct 4-tuples, 64 per destination.
            var rows = ns.DumpUdp(family, SocketStates.Established).Where(r => s_slice64.Contains(r.Local.Port)).ToList();
            Assert.Equal(256, rows.Count);
            Assert.Equal(256, rows.Select(r => (r.Local, r.Remote)).Distinct().Count());
            Assert.All(rows.GroupBy(r => r.Remote), g => Assert.Equal(64, g.Count()));

            // Each listener sees 64 distinct source ports, and ports are shared across destinations.
            foreach (var f in flows)
            {
                f.Send("hello"u8);
            }

            foreach (var listener in listeners)
            {
                var senders = UdpTestHelpers.DrainSenders(listener, TimeSpan.FromMilliseconds(300));
                Assert.Equal(64, senders.Count);
                Assert.Equal(64, senders.Select(s => s.Port).Distinct().Count());
            }

            // The 257th flow, to a full destination: the typed exhaustion error.
            var ex = await Assert.ThrowsAsync<SliceExhaustedException>(async () =>
                await connector.ConnectAsync(listeners[0].Endpoint(), TestContext.Current.CancellationToken));
            Assert.Equal(SocketError.WouldBlock, ex.SocketError);
            Assert.Equal(s_slice64, ex.Slice);
        }
        finally
        {
            flows.ForEach(f => f.Dispose());
            Array.ForEach(listeners, l => l.Dispose());
        }
    }

    [Theory]
    [InlineData(AddressFamily.InterNetwork)]
    [InlineData(AddressFamily.InterNetworkV6)]
    public async Task Unique_mode_stops_at_the_slice_size_across_destinations(AddressFamily family)
    {
        Root.Require();
        using var ns = TestNetns.Create();
        var destinations = ns.Destinations(family, 4);
        var listeners = destinations.Select(d => ns.UdpListen(d, 5353)).ToArray();
        var flows = new List<Socket>();
        using var connector = new UdpSliceConnector(s_slice64, null, UdpPortMode.Unique, ns.Ns);
        try
        {
            SliceExhaustedException? exhausted = null;
            for (var i = 0; i < 4 * s_slice64.Count && exhausted is null; i++)
            {
                try
                {
                    flows.Add(await connector.ConnectAsync(listeners[i % 4].Endpoint(), TestContext.Current.CancellationToken));
                }
                catch (SliceExhaustedException ex)
                {
                    exhausted = ex;
                }
            }

            Assert.NotNull(exhausted);
            Assert.Equal(64, flows.Count);
            Assert.Equal(64, flows.Select(f => f.Endpoint().Port).Distinct().Count());
            Assert.All(flows, f => Assert.InRange(f.Endpoint().Port, s_slice64.Low, s_slice64.High));
        }
        finally
        {
            flows.ForEach(f => f.Dispose());
            Array.ForEach(listeners, l => l.Dispose());
        }
    }

    [Theory]
    [InlineData(AddressFamily.InterNetwork, true)]
    [InlineData(AddressFamily.InterNetworkV6, true)]
    [InlineData(AddressFamily.InterNetwork, false)]
    [InlineData(AddressFamily.InterNetworkV6, false)]
    public async Task Unique_mode_without_the_kernel_option_binds_free_ports_and_stops_at_the_slice_size(AddressFamily family, bool withEgressAddress)
    {
        Root.Require();
        using var ns = TestNetns.Create();
        ns.SetReservedPorts("40130");
        var destinations = ns.Destinations(family, 2);
        var listeners = destinations.Select(d => ns.UdpListen(d, 5353)).ToArray();
        var slice = new PortRange(40128, 40135);
        var flows = new List<Socket>();
        using var connector = new UdpSliceConnector(slice, withEgressAddress ? destinations[0] : null, UdpPortMode.Unique, ns.Ns, kernelRange: false);
        try
        {
            await Assert.ThrowsAsync<SliceExhaustedException>(async () =>
            {
                for (var i = 0; ; i++)
                {
                    flows.Add(await connector.ConnectAsync(listeners[i % 2].Endpoint(), TestContext.Current.CancellationToken));
                }
            });
            Assert.Equal([40128, 40129, 40131, 40132, 40133, 40134, 40135], flows.Select(f => f.Endpoint().Port).Order());
        }
        finally
        {
            flows.ForEach(f => f.Dispose());
            Array.ForEach(listeners, l => l.Dispose());
        }
    }

    [Theory]
    [InlineData(AddressFamily.InterNetwork)]
    [InlineData(AddressFamily.InterNetworkV6)]
    public async Task Concurrent_storms_never_produce_a_duplicate_four_tuple(AddressFamily family)
    {
        Root.Require();
        using var ns = TestNetns.Create();
        var destinations = ns.Destinations(family, 2);
        var listeners = destinations.Select(d => ns.UdpListen(d, 5353)).ToArray();
        var slice = new PortRange(40200, 40215);
        using var connector = new UdpSliceConnector(slice, null, UdpPortMode.Shared, ns.Ns);
        try
        {
            for (var round = 0; round < 25; round++)
            {
                var errors = new ConcurrentBag<string>();
                // 8 tasks race for 16 ports x 2 destinations = 32 flows; each task wants 6 (48 asked): some must lose.
                var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(t => Task.Run(async () =>
                {
                    var mine = new List<Socket>();
                    for (var k = 0; k < 6; k++)
                    {
                        try
                        {
                            mine.Add(await connector.ConnectAsync(listeners[(t + k) % 2].Endpoint(), TestContext.Current.CancellationToken));
                        }
                        catch (SliceExhaustedException ex)
                        {
                            errors.Add(ex.Message);
                        }
                    }

                    return mine;
                })));
                var flows = results.SelectMany(r => r).ToList();
                try
                {
                    var tuples = flows.Select(f => (Local: f.Endpoint(), Remote: (IPEndPoint)f.RemoteEndPoint!)).ToList();
                    Assert.Equal(tuples.Count, tuples.Distinct().Count());
                    var rows = ns.DumpUdp(family, SocketStates.Established).Where(r => slice.Contains(r.Local.Port)).ToList();
                    Assert.Equal(rows.Count, rows.Select(r => (r.Local, r.Remote)).Distinct().Count());
                    Assert.True(flows.Count == rows.Count, $"round {round}: {flows.Count} flows but sock_diag shows {rows.Count} connected sockets in the slice: {string.Join(", ", rows.Select(r => $"{r.Local}->{r.Remote}"))}; errors: {string.Join(" | ", errors.Take(3))}");
                    Assert.True(flows.Count == 32, $"round {round}: {flows.Count} flows, not 32; errors: {string.Join(" | ", errors.Take(3))}");
                }
                finally
                {
                    flows.ForEach(f => f.Dispose());
                }
            }
        }
        finally
        {
            Array.ForEach(listeners, l => l.Dispose());
        }
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("::1")]
    public async Task A_foreign_socket_connected_on_a_four_tuple_is_detected_and_avoided(string address)
    {
        Root.Require();
        using var ns = TestNetns.Create();
        var ip = IPAddress.Parse(address);
        using var server = ns.UdpListen(ip, 7000);
        var slice = new PortRange(40300, 40301);

        // A tenant that does not follow the protocol: REUSEADDR, bound to 40300, connected to the server.
        using var foreign = ns.Socket(ip.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        UdpTestHelpers.SetReuseAddr(foreign, true);
        foreign.Bind(new IPEndPoint(ip, 40300));
        foreign.Connect(server.Endpoint());

        using var connector = new UdpSliceConnector(slice, ip, UdpPortMode.Shared, ns.Ns);
        using var flow = await connector.ConnectAsync(server.Endpoint(), TestContext.Current.CancellationToken);
        Assert.Equal(40301, flow.Endpoint().Port);
        await Assert.ThrowsAsync<SliceExhaustedException>(async () => await connector.ConnectAsync(server.Endpoint(), TestContext.Current.CancellationToken));

        // The foreign socket still gets its replies: nobody overshadowed it.
        server.SendTo("r"u8.ToArray(), new IPEndPoint(ip, 40300));
        foreign.ReceiveTimeout = 2000;
        Assert.Equal(1, foreign.Receive(new byte[4]));
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("::1")]
    public async Task A_socket_holding_the_lock_is_skipped_and_the_flow_takes_another_port(string address)
    {
        Root.Require();
        using var ns = TestNetns.Create();
        var ip = IPAddress.Parse(address);
        using var server = ns.UdpListen(ip, 7000);
        var slice = new PortRange(40400, 40401);

        // One port is locked (bound without REUSEADDR, unconnected): the bind fails there, so the connector moves on.
        using var locker = ns.UdpListen(ip, 40400);
        using var connector = new UdpSliceConnector(slice, ip, UdpPortMode.Shared, ns.Ns);
        using var flow = await connector.ConnectAsync(server.Endpoint(), TestContext.Current.CancellationToken);
        Assert.Equal(40401, flow.Endpoint().Port);
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("::1")]
    public async Task Lightly_used_slice_costs_at_most_one_netlink_round_trip_per_flow(string address)
    {
        Root.Require();
        using var ns = TestNetns.Create();
        var ip = IPAddress.Parse(address);
        using var server = ns.UdpListen(ip, 7000);
        using var connector = new UdpSliceConnector(new PortRange(40500, 40755), ip, UdpPortMode.Shared, ns.Ns);
        var flows = new List<Socket>();
        try
        {
            for (var i = 0; i < 16; i++)
            {
                var before = connector.NetlinkRoundTrips;
                flows.Add(await connector.ConnectAsync(server.Endpoint(), TestContext.Current.CancellationToken));
                Assert.InRange(connector.NetlinkRoundTrips - before, 0, 1);
            }
        }
        finally
        {
            flows.ForEach(f => f.Dispose());
        }
    }

    [Fact]
    public async Task Reserved_ports_are_skipped_in_both_modes()
    {
        Root.Require();
        using var ns = TestNetns.Create();
        ns.SetReservedPorts("40601,40603");
        using var server = ns.UdpListen(IPAddress.Loopback, 7000);
        var slice = new PortRange(40600, 40603);
        foreach (var mode in new[] { UdpPortMode.Shared, UdpPortMode.Unique })
        {
            using var connector = new UdpSliceConnector(slice, IPAddress.Loopback, mode, ns.Ns);
            var flows = new List<Socket>();
            try
            {
                await Assert.ThrowsAsync<SliceExhaustedException>(async () =>
                {
                    while (true)
                    {
                        flows.Add(await connector.ConnectAsync(server.Endpoint(), TestContext.Current.CancellationToken));
                    }
                });
                Assert.Equal([40600, 40602], flows.Select(f => f.Endpoint().Port).Order());
            }
            finally
            {
                flows.ForEach(f => f.Dispose());
            }
        }
    }

    [Theory]
    [InlineData(40000, 40099, "outside")]
    [InlineData(44990, 45009, "partly outside")]
    public void A_slice_outside_the_netns_range_fails_closed(int lo, int hi, string how)
    {
        Root.Require();
        using var ns = TestNetns.Create(45000, 49999);
        var ex = Assert.Throws<SliceMisconfiguredException>(() => new UdpSliceConnector(new PortRange((ushort)lo, (ushort)hi), null, UdpPortMode.Shared, ns.Ns));
        Assert.Contains($"lies {how}", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_netns_range_narrowed_at_run_time_is_caught_before_the_next_connect()
    {
        Root.Require();
        using var ns = TestNetns.Create();
        using var server = ns.UdpListen(IPAddress.Loopback, 7000);
        using var connector = new UdpSliceConnector(new PortRange(40700, 40703), null, UdpPortMode.Unique, ns.Ns);
        using (await connector.ConnectAsync(server.Endpoint(), TestContext.Current.CancellationToken))
        {
        }

        ns.SetPortRange(40702, 49999);
        Assert.Throws<SliceMisconfiguredException>(connector.Validate);

        // Without an explicit Validate, the connector re-reads the range at most RevalidateInterval later.
        await Task.Delay(UdpSliceConnector.RevalidateInterval + TimeSpan.FromMilliseconds(100), TestContext.Current.CancellationToken);
        await Assert.ThrowsAsync<SliceMisconfiguredException>(async () => await connector.ConnectAsync(server.Endpoint(), TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task An_egress_address_that_is_not_local_fails_with_a_clear_error()
    {
        Root.Require();
        using var ns = TestNetns.Create();
        using var server = ns.UdpListen(IPAddress.Loopback, 7000);
        using var connector = new UdpSliceConnector(new PortRange(40800, 40803), IPAddress.Parse("192.0.2.77"), UdpPortMode.Shared, ns.Ns);
        var ex = await Assert.ThrowsAsync<SliceMisconfiguredException>(async () => await connector.ConnectAsync(server.Endpoint(), TestContext.Current.CancellationToken));
        Assert.Contains("192.0.2.77", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_half_full_slice_costs_no_more_round_trips_once_the_busy_ports_are_known()
    {
        Root.Require();
        using var ns = TestNetns.Create();
        using var server = ns.UdpListen(IPAddress.Loopback, 7100);
        var slice = new PortRange(40500, 40755);
        var foreign = new List<Socket>();
        var flows = new List<Socket>();
        try
        {
            // Another program holds the lower half of the slice toward the destination.
            for (var p = slice.Low; p < slice.Low + 128; p++)
            {
                var s = ns.Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                foreign.Add(s);
                s.Bind(new IPEndPoint(IPAddress.Loopback, p));
                s.Connect(server.Endpoint());
            }

            using var connector = new UdpSliceConnector(slice, IPAddress.Loopback, UdpPortMode.Shared, ns.Ns);
            for (var i = 0; i < 8; i++)
            {
                flows.Add(await connector.ConnectAsync(server.Endpoint(), TestContext.Current.CancellationToken));
            }

            // Learned: the held half is skipped without a claim, our own flows too; a port no socket is on needs no lookup.
            var before = connector.NetlinkRoundTrips;
            for (var i = 0; i < 32; i++)
            {
                flows.Add(await connector.ConnectAsync(server.Endpoint(), TestContext.Current.CancellationToken));
            }

            Assert.InRange(connector.NetlinkRoundTrips - before, 0, 8);
            Assert.All(flows, f => Assert.InRange(f.Endpoint().Port, slice.Low + 128, slice.High));
            Assert.Equal(flows.Count, flows.Select(f => f.Endpoint().Port).Distinct().Count());
        }
        finally
        {
            flows.ForEach(f => f.Dispose());
            foreign.ForEach(f => f.Dispose());
        }
    }
}
