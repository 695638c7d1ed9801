using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using PortShare.Connect;
using PortShare.IntegrationTests.Infrastructure;

namespace PortShare.IntegrationTests.Connect;

/// <summary>Connect from a slice on the live kernel (CONFORMANCE D, F1, F3, F6), for both strategies and both families.</summary>
[Trait("Category", "RequiresRoot")]
[Collection(ExclusiveCollection.Name)]
public class SliceConnectorTests
{
    public static TheoryData<ConnectStrategy, string> StrategiesAndFamilies => Strategies.AndFamilies;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [MemberData(nameof(StrategiesAndFamilies))]
    public async Task Four_port_slice_gives_four_connections_then_exhaustion_then_recovers(ConnectStrategy strategy, string address)
    {
        Root.Require();
        using var ns = TestNetns.Create();
        var ip = IPAddress.Parse(address);
        using var listener = ns.Listen(ip);
        var remote = (IPEndPoint)listener.LocalEndPoint!;
        var slice = new PortRange(40100, 40103);
        var connector = new SliceConnector(slice, null, strategy, ns.Ns);
        Assert.Equal(strategy, connector.Strategy);

        var held = new List<Socket>();
        try
        {
            for (var i = 0; i < 4; i++)
            {
                held.Add(await connector.ConnectAsync(remote, Ct));
            }

            Assert.Equal(Enumerable.Range(40100, 4), held.Select(s => ((IPEndPoint)s.LocalEndPoint!).Port).Order());
            var ex = await Assert.ThrowsAsync<SliceExhaustedException>(async () => await connector.ConnectAsync(remote, Ct));
            Assert.Equal(slice, ex.Slice);
            Assert.Contains("40100-40103", ex.Message, StringComparison.Ordinal);
            Assert.Contains(remote.ToString(), ex.Message, StringComparison.Ordinal);

            // Close one with RST (no TIME_WAIT on our side): its port is usable again.
            var freed = ((IPEndPoint)held[1].LocalEndPoint!).Port;
            held[1].LingerState = new LingerOption(true, 0);
            held[1].Dispose();
            held.RemoveAt(1);
            var again = await connector.ConnectAsync(remote, Ct);
            held.Add(again);
            Assert.Equal(freed, ((IPEndPoint)again.LocalEndPoint!).Port);
        }
        finally
        {
            held.ForEach(s => s.Dispose());
        }
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("::1")]
    public async Task Kernel_path_shares_each_port_across_destinations(string address)
    {
        Root.Require();
        using var ns = TestNetns.Create();
        var ip = IPAddress.Parse(address);
        using var l1 = ns.Listen(ip);
        using var l2 = ns.Listen(ip);
        var slice = new PortRange(40500, 40501);

        // D1/D3: with the egress address given, IP_BIND_ADDRESS_NO_PORT + bind(ip, 0) defers the port to connect().
        var connector = new SliceConnector(slice, ip, ConnectStrategy.Kernel, ns.Ns);
        var held = new List<Socket>();
        try
        {
            foreach (var l in new[] { l1, l1, l2, l2 })
            {
                held.Add(await connector.ConnectAsync((IPEndPoint)l.LocalEndPoint!, Ct));
            }

            var byDestination = held.GroupBy(s => s.RemoteEndPoint!.ToString()).ToList();
            Assert.Equal(2, byDestination.Count);
            Assert.All(byDestination, g => Assert.Equal([40500, 40501], g.Select(s => ((IPEndPoint)s.LocalEndPoint!).Port).Order()));
            Assert.All(held, s => Assert.Equal(ip, ((IPEndPoint)s.LocalEndPoint!).Address));

            // D2: a third connection to the first destination finds both ports taken toward it.
            await Assert.ThrowsAsync<SliceExhaustedException>(async () => await connector.ConnectAsync((IPEndPoint)l1.LocalEndPoint!, Ct));
        }
        finally
        {
            held.ForEach(s => s.Dispose());
        }
    }

    [Theory]
    [MemberData(nameof(StrategiesAndFamilies))]
    public async Task Concurrent_tasks_fill_the_slice_with_no_duplicate_and_no_spurious_failure(ConnectStrategy strategy, string address)
    {
        Root.Require();
        using var ns = TestNetns.Create();
        var ip = IPAddress.Parse(address);
        using var listener = ns.Listen(ip, backlog: 1024);
        var remote = (IPEndPoint)listener.LocalEndPoint!;
        var slice = new PortRange(41000, 41063);
        var connector = new SliceConnector(slice, null, strategy, ns.Ns);
        var held = new ConcurrentBag<Socket>();
        try
        {
            // 8 tasks × 8 connections = exactly the 64 ports of the slice, toward one destination.
            await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(
                async () =>
                {
                    for (var i = 0; i < 8; i++)
                    {
                        held.Add(await connector.ConnectAsync(remote, Ct));
                    }
                },
                Ct)));

            var ports = held.Select(s => ((IPEndPoint)s.LocalEndPoint!).Port).ToList();
            Assert.Equal(64, ports.Count);
            Assert.Equal(64, ports.Distinct().Count());
            Assert.All(ports, p => Assert.True(slice.Contains(p)));
        }
        finally
        {
            foreach (var s in held)
            {
                s.Dispose();
            }
        }
    }

    [Theory]
    [InlineData(ConnectStrategy.Kernel)]
    [InlineData(ConnectStrategy.Fallback)]
    public void Slice_outside_the_netns_range_is_refused_before_use(ConnectStrategy strategy)
    {
        Root.Require();
        using var ns = TestNetns.Create(40000, 49999);

        // F1 / B4-B7: the kernel would silently widen these; both strategies refuse them alike.
        foreach (var bad in new[] { new PortRange(30000, 39999), new PortRange(50000, 50511), new PortRange(39990, 40009), new PortRange(49990, 50009) })
        {
            var ex = Assert.Throws<SliceMisconfiguredException>(() => new SliceConnector(bad, null, strategy, ns.Ns));
            Assert.Contains(bad.ToString(), ex.Message, StringComparison.Ordinal);
            Assert.Contains("40000-49999", ex.Message, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData(ConnectStrategy.Kernel)]
    [InlineData(ConnectStrategy.Fallback)]
    public void A_netns_range_that_moves_under_a_running_connector_is_caught(ConnectStrategy strategy)
    {
        Root.Require();
        using var ns = TestNetns.Create(40000, 49999);
        var connector = new SliceConnector(new PortRange(43000, 43009), null, strategy, ns.Ns);

        // B11/F1: re-validation sees the sysctl change.
        ns.SetPortRange(43004, 49999);
        Assert.Throws<SliceMisconfiguredException>(connector.Validate);
    }

    [Fact]
    public async Task Both_strategies_agree_on_which_ports_are_legal()
    {
        Root.Require();
        using var ns = TestNetns.Create();
        ns.SetReservedPorts("42001,42003");
        using var listener = ns.Listen(IPAddress.Loopback);
        var remote = (IPEndPoint)listener.LocalEndPoint!;
        var slice = new PortRange(42000, 42003);
        var legal = new Dictionary<ConnectStrategy, int[]>();
        foreach (var strategy in new[] { ConnectStrategy.Kernel, ConnectStrategy.Fallback })
        {
            var connector = new SliceConnector(slice, null, strategy, ns.Ns);
            var held = new List<Socket>();
            try
            {
                while (true)
                {
                    try
                    {
                        held.Add(await connector.ConnectAsync(remote, Ct));
                    }
                    catch (SliceExhaustedException)
                    {
                        break;
                    }
                }

                legal[strategy] = held.Select(s => ((IPEndPoint)s.LocalEndPoint!).Port).Order().ToArray();
            }
            finally
            {
                foreach (var s in held)
                {
                    s.LingerState = new LingerOption(true, 0);
                    s.Dispose();
                }
            }
        }

        Assert.Equal([42000, 42002], legal[ConnectStrategy.Kernel]);
        Assert.Equal(legal[ConnectStrategy.Kernel], legal[ConnectStrategy.Fallback]);
    }

    [Theory]
    [InlineData(ConnectStrategy.Kernel)]
    [InlineData(ConnectStrategy.Fallback)]
    public void Bind_gives_a_free_port_of_the_slice_until_exhausted(ConnectStrategy strategy)
    {
        Root.Require();
        using var ns = TestNetns.Create();
        var connector = new SliceConnector(new PortRange(44000, 44003), IPAddress.Loopback, strategy, ns.Ns);
        var held = new List<Socket>();
        try
        {
            for (var i = 0; i < 4; i++)
            {
                held.Add(connector.Bind(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp));
            }

            Assert.Equal(Enumerable.Range(44000, 4), held.Select(s => ((IPEndPoint)s.LocalEndPoint!).Port).Order());
            Assert.Throws<SliceExhaustedException>(() => connector.Bind(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp));
        }
        finally
        {
            held.ForEach(s => s.Dispose());
        }
    }

    [Fact]
    public async Task Egress_address_not_on_the_host_is_a_clear_error()
    {
        Root.Require();
        using var ns = TestNetns.Create();
        using var listener = ns.Listen(IPAddress.Loopback);
        var connector = new SliceConnector(new PortRange(40000, 40009), IPAddress.Parse("192.0.2.77"), ConnectStrategy.Kernel, ns.Ns);
        var ex = await Assert.ThrowsAsync<SliceMisconfiguredException>(async () => await connector.ConnectAsync((IPEndPoint)listener.LocalEndPoint!, Ct));
        Assert.Contains("192.0.2.77", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Fallback_remembers_busy_ports_and_still_fills_a_half_full_slice()
    {
        Root.Require();
        using var ns = TestNetns.Create();
        using var listener = ns.Listen(IPAddress.Loopback, backlog: 1024);
        var remote = (IPEndPoint)listener.LocalEndPoint!;
        var slice = new PortRange(45000, 45511);

        // Another program holds the lower half toward the same destination.
        var other = new SliceConnector(new PortRange(45000, 45255), null, ConnectStrategy.Kernel, ns.Ns);
        var held = new List<Socket>();
        try
        {
            for (var i = 0; i < 256; i++)
            {
                held.Add(await other.ConnectAsync(remote, Ct));
            }

            var connector = new SliceConnector(slice, null, ConnectStrategy.Fallback, ns.Ns);
            for (var i = 0; i < 256; i++)
            {
                var s = await connector.ConnectAsync(remote, Ct);
                held.Add(s);
                Assert.InRange(((IPEndPoint)s.LocalEndPoint!).Port, 45256, 45511);
            }

            await Assert.ThrowsAsync<SliceExhaustedException>(async () => await connector.ConnectAsync(remote, Ct));
        }
        finally
        {
            held.ForEach(s => s.Dispose());
        }
    }

    [Fact]
    public async Task Tcp_connects_are_counted_on_the_PortShare_meter()
    {
        Root.Require();
        using var ns = TestNetns.Create();
        using var listener = ns.Listen(IPAddress.Loopback);
        var remote = (IPEndPoint)listener.LocalEndPoint!;
        var seen = new ConcurrentDictionary<string, long>();
        using var meters = new System.Diagnostics.Metrics.MeterListener();
        meters.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "PortShare")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        meters.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "protocol" && (string?)tag.Value == "tcp")
                {
                    seen.AddOrUpdate(instrument.Name, value, (_, v) => v + value);
                }
            }
        });
        meters.Start();

        // Another socket holds 46000 toward the destination: the fallback meets one conflict, then exhausts.
        var blocker = new SliceConnector(new PortRange(46000, 46000), null, ConnectStrategy.Kernel, ns.Ns);
        using var held = await blocker.ConnectAsync(remote, Ct);
        var connector = new SliceConnector(new PortRange(46000, 46001), null, ConnectStrategy.Fallback, ns.Ns);
        using var ok = await connector.ConnectAsync(remote, Ct);
        await Assert.ThrowsAsync<SliceExhaustedException>(async () => await connector.ConnectAsync(remote, Ct));

        Assert.True(seen.GetValueOrDefault("portshare.connect.attempts") >= 3);
        Assert.True(seen.GetValueOrDefault("portshare.connect.exhaustions") >= 1);
        Assert.True(seen.GetValueOrDefault("portshare.connect.conflicts") >= 1);
    }
}
