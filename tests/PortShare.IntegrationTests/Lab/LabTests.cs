using System.Net;
using System.Net.Sockets;
using PortShare.Connect;
using PortShare.IntegrationTests.Infrastructure;
using PortShare.Routing;
using PortShare.Lab;

namespace PortShare.IntegrationTests.Lab;

/// <summary>The namespace lab end to end: each test makes its own uniquely named lab and always removes it.</summary>
[Trait("Category", "RequiresRoot")]
public class LabTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(RouterBackend.Netdev, false)]
    [InlineData(RouterBackend.Netdev, true)]
    [InlineData(RouterBackend.Nftables, false)]
    [InlineData(RouterBackend.Nftables, true)]
    [InlineData(RouterBackend.IpRule, false)]
    [InlineData(RouterBackend.IpRule, true)]
    public async Task Small_lab_every_reply_reaches_its_owner_with_no_conntrack(RouterBackend backend, bool ipv6)
    {
        Root.Require();
        var state = NetLab.Up(new LabOptions { Hosts = 3, Ipv6 = ipv6, Backend = backend }, cancellationToken: TestContext.Current.CancellationToken);
        try
        {
            var report = await NetLab.TestAsync(state, 60, cancellationToken: Ct);
            Assert.True(report.Passed, report.Verdict + " " + string.Join("; ", report.Hosts.SelectMany(h => h.Errors)));
            Assert.Equal(3, report.Hosts.Count);
            Assert.All(report.Hosts, h =>
            {
                Assert.Equal(60, h.Ok);
                Assert.Equal(0, h.OutsideSlice);
                Assert.Equal(0, h.Misdelivered);
                Assert.True(h.DistinctPorts > 1);
            });
            Assert.Equal(0, report.RouterConntrackEntries);
            Assert.Empty(report.RouterNatRules);
        }
        finally
        {
            NetLab.Down(state);
        }

        Assert.All(state.Namespaces, ns => Assert.False(File.Exists(Path.Combine("/run/netns", ns)), $"{ns} left behind"));
    }

    [Theory]
    [InlineData(RouterBackend.Netdev)]
    [InlineData(RouterBackend.Nftables)]
    [InlineData(RouterBackend.IpRule)]
    public async Task A_port_outside_every_slice_reaches_no_host(RouterBackend backend)
    {
        Root.Require();
        var state = NetLab.Up(new LabOptions { Hosts = 3, Backend = backend }, cancellationToken: TestContext.Current.CancellationToken);
        var hostNs = new List<NetworkNamespace>();
        var receivers = new List<Socket>();
        try
        {
            // Every host listens on port 20000 of the egress address, which no slice owns (the plan covers 32768-60999).
            foreach (var h in state.Hosts)
            {
                var ns = NetworkNamespace.Enter(LabTopology.HostNs(state.Prefix, h));
                hostNs.Add(ns);
                var s = ns.CreateSocket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                s.Bind(new IPEndPoint(LabTopology.Egress4, 20000));
                receivers.Add(s);
            }

            using (var server = NetworkNamespace.Enter(LabTopology.ServerNs(state.Prefix)))
            using (var sender = server.CreateSocket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp))
            {
                for (var i = 0; i < 5; i++)
                {
                    await sender.SendToAsync("stray"u8.ToArray(), new IPEndPoint(LabTopology.Egress4, 20000), Ct);
                }
            }

            await Task.Delay(300, Ct);
            Assert.All(receivers, r => Assert.Equal(0, r.Available));
            Assert.All(state.Hosts, h => Assert.Equal(0, NetLab.ReadMisdelivered(state, h)));

            // The owned ports still work.
            var report = await NetLab.TestAsync(state, 20, cancellationToken: Ct);
            Assert.True(report.Passed, report.Verdict);
        }
        finally
        {
            receivers.ForEach(r => r.Dispose());
            hostNs.ForEach(n => n.Dispose());
            NetLab.Down(state);
        }
    }

    [Fact]
    public async Task Replan_keeps_unmoved_connections_alive_and_misdelivers_nothing()
    {
        Root.Require();
        var state = NetLab.Up(new LabOptions { Hosts = 3 }, cancellationToken: TestContext.Current.CancellationToken);
        var live = new List<(string Host, Socket Socket)>();
        try
        {
            await using (var server = LabServer.Start(LabTopology.ServerNs(state.Prefix), LabTopology.Server4))
            {
                var plan = NetLab.PlanOf(state);
                var target = new IPEndPoint(LabTopology.Server4, LabTopology.ServerPort);
                foreach (var h in state.Hosts)
                {
                    using var ns = NetworkNamespace.Enter(LabTopology.HostNs(state.Prefix, h));
                    // The kernel picks neighbouring ports for one destination, so choose where they lie: ten in the lowest
                    // eighth of the slice (which a port-keeping re-plan leaves in place) and ten in the highest (which moves).
                    var slice = plan.GetSlice(h, LabTopology.Egress4)[0];
                    var eighth = (slice.Count / 8) & ~1;
                    var low = new PortRange(slice.Low, (ushort)(slice.Low + eighth - 1));
                    var high = new PortRange((ushort)(slice.High - eighth + 1), slice.High);
                    foreach (var part in (PortRange[])[low, high])
                    {
                        var connector = new SliceConnector(part, LabTopology.Egress4, ConnectStrategy.Auto, ns);
                        for (var i = 0; i < 10; i++)
                        {
                            var s = await connector.ConnectAsync(target, Ct);
                            await NetLab.ReadLineAsync(s, Ct);
                            live.Add((h, s));
                        }
                    }
                }

                var drained = 0;
                var debug = new System.Text.StringBuilder();
                var (next, _) = NetLab.Replan(state, addHost: true, beforeSwitch: newPlan =>
                {
                    // Connections on ports that move are closed (RST) before the switch, as an operator drains them.
                    foreach (var (h, s) in live.ToList())
                    {
                        var port = ((IPEndPoint)s.LocalEndPoint!).Port;
                        debug.Append($"{h}:{port}->{newPlan.Owner(LabTopology.Egress4, (ushort)port)?.Host} ");
                        if (newPlan.Owner(LabTopology.Egress4, (ushort)port)?.Host != h)
                        {
                            s.LingerState = new LingerOption(true, 0);
                            s.Dispose();
                            live.Remove((h, s));
                            drained++;
                        }
                    }
                });
                state = next;
                Assert.Equal(4, state.Hosts.Count);
                Assert.True(live.Count >= 30, debug.ToString() + Planning.PlanJson.Serialize(NetLab.PlanOf(state)));
                Assert.True(drained > 0, "no connection's port moved: the re-plan did not exercise draining");

                foreach (var (h, s) in live)
                {
                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
                    timeout.CancelAfter(TimeSpan.FromSeconds(5));
                    await s.SendAsync("ping\n"u8.ToArray(), SocketFlags.None, timeout.Token);
                    Assert.Equal("ping", await NetLab.ReadLineAsync(s, timeout.Token));
                }

                Assert.All(state.Hosts, h => Assert.Equal(0, NetLab.ReadMisdelivered(state, h)));
            }

            var report = await NetLab.TestAsync(state, 50, cancellationToken: Ct);
            Assert.True(report.Passed, report.Verdict);
            Assert.All(state.Hosts, h => Assert.Equal(0, NetLab.ReadMisdelivered(state, h)));
        }
        finally
        {
            live.ForEach(l => l.Socket.Dispose());
            NetLab.Down(state);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Fragmentation_needed_reaches_only_the_owner_and_a_large_transfer_completes(bool ipv6)
    {
        Root.Require();
        var state = NetLab.Up(new LabOptions { Hosts = 3, Ipv6 = ipv6 }, cancellationToken: TestContext.Current.CancellationToken);
        var egress = NetLab.Egress(state);
        var serverAddress = NetLab.Server(state);
        try
        {
            // The router's uplink to the server is narrower than the hosts' links: full-size segments get an ICMP
            // fragmentation-needed from the router, which must reach the sending host (path-MTU discovery).
            // The server's replies must fit the narrow link too, yet it must still advertise a full-size MSS (or h2 would
            // never send a segment too big): a route MTU of 1280 with advmss 1460 toward the egress address. With only
            // the router's end narrowed, a full-size segment the server sends without GSO was dropped by the router's
            // veth on receive (no ICMP), a blackhole that stalled about one transfer in six.
            new NetTools(LabTopology.RouterNs(state.Prefix)).IpCheck("link", "set", "dev", "srv", "mtu", "1280");
            var via = ipv6 ? LabTopology.RouterServerSide6 : LabTopology.RouterServerSide4;
            new NetTools(LabTopology.ServerNs(state.Prefix)).IpCheck(
                ipv6 ? "-6" : "-4", "route", "replace", $"{egress}/{(ipv6 ? 128 : 32)}", "via", via.ToString(), "dev", "uplink", "mtu", "lock", "1280", "advmss", "1460");
            var plan = NetLab.PlanOf(state);
            await using var server = LabServer.Start(LabTopology.ServerNs(state.Prefix), serverAddress);
            using var ns = NetworkNamespace.Enter(LabTopology.HostNs(state.Prefix, "h2"));
            var connector = new SliceConnector(plan.GetSlice("h2", egress)[0], egress, ConnectStrategy.Auto, ns);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(20));
            using var s = await connector.ConnectAsync(new IPEndPoint(serverAddress, LabTopology.ServerPort), timeout.Token);
            await NetLab.ReadLineAsync(s, timeout.Token);
            var payload = new byte[256 * 1024];
            for (var i = 0; i < payload.Length; i++)
            {
                payload[i] = (byte)('a' + (i % 16)); // never 'q', which ends the server's session
            }
            var echo = new byte[payload.Length];
            var reader = Task.Run(async () =>
            {
                var got = 0;
                while (got < echo.Length)
                {
                    var n = await s.ReceiveAsync(echo.AsMemory(got), SocketFlags.None, timeout.Token);
                    Assert.NotEqual(0, n);
                    got += n;
                }
            }, timeout.Token);
            await s.SendAsync(payload, SocketFlags.None, timeout.Token);
            await reader;
            Assert.Equal(payload, echo);
            Assert.True(NetLab.ReadIcmpErrors(state, "h2") > 0, "h2 never got a fragmentation-needed / packet-too-big: the test did not exercise path-MTU discovery");
            Assert.Equal(0, NetLab.ReadIcmpErrors(state, "h1"));
            Assert.Equal(0, NetLab.ReadIcmpErrors(state, "h3"));
            Assert.All(state.Hosts, h => Assert.Equal(0, NetLab.ReadMisdelivered(state, h)));
        }
        finally
        {
            NetLab.Down(state);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task An_upstream_icmp_error_is_steered_by_its_embedded_source_port(bool ipv6)
    {
        Root.Require();
        var state = NetLab.Up(new LabOptions { Hosts = 3, Ipv6 = ipv6 }, cancellationToken: TestContext.Current.CancellationToken);
        try
        {
            var egress = NetLab.Egress(state);
            var server = NetLab.Server(state);
            var h2Port = NetLab.PlanOf(state).GetSlice("h2", egress)[0].Low + 10;
            using (var ns = NetworkNamespace.Enter(LabTopology.ServerNs(state.Prefix)))
            using (var raw = ipv6
                ? ns.CreateSocket(AddressFamily.InterNetworkV6, SocketType.Raw, ProtocolType.IcmpV6)
                : ns.CreateSocket(AddressFamily.InterNetwork, SocketType.Raw, ProtocolType.Icmp))
            {
                // As if a router beyond the lab's reported a smaller MTU for a packet h2 sent, then one for a port nobody owns.
                await raw.SendToAsync(IcmpError(ipv6, egress, server, (ushort)h2Port), new IPEndPoint(egress, 0), Ct);
                await raw.SendToAsync(IcmpError(ipv6, egress, server, 20000), new IPEndPoint(egress, 0), Ct);
            }

            await Task.Delay(300, Ct);
            Assert.Equal(1, NetLab.ReadIcmpErrors(state, "h2"));
            Assert.Equal(0, NetLab.ReadIcmpErrors(state, "h1"));
            Assert.Equal(0, NetLab.ReadIcmpErrors(state, "h3"));
        }
        finally
        {
            NetLab.Down(state);
        }
    }

    /// <summary>An ICMP fragmentation-needed (IPv4) or packet-too-big (IPv6) about a TCP segment egress:sport → server:7000.</summary>
    private static byte[] IcmpError(bool ipv6, IPAddress egress, IPAddress server, ushort sport)
    {
        var tcp = new byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(tcp, sport);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(tcp.AsSpan(2), LabTopology.ServerPort);
        if (ipv6)
        {
            var inner = new byte[40];
            inner[0] = 0x60;
            System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(inner.AsSpan(4), 1440);
            inner[6] = 6; // next header TCP
            inner[7] = 64;
            egress.GetAddressBytes().CopyTo(inner, 8);
            server.GetAddressBytes().CopyTo(inner, 24);
            byte[] header = [2, 0, 0, 0, 0, 0, 0x05, 0x00]; // packet too big, MTU 1280; the kernel fills the checksum
            return [.. header, .. inner, .. tcp];
        }

        var ip = new byte[20];
        ip[0] = 0x45;
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(ip.AsSpan(2), 1500);
        ip[6] = 0x40; // DF
        ip[8] = 64;
        ip[9] = 6; // TCP
        egress.GetAddressBytes().CopyTo(ip, 12);
        server.GetAddressBytes().CopyTo(ip, 16);
        byte[] icmp = [3, 4, 0, 0, 0, 0, 0x04, 0xb0, .. ip, .. tcp]; // fragmentation needed, next-hop MTU 1200
        var sum = 0u;
        for (var i = 0; i < icmp.Length; i += 2)
        {
            sum += (uint)((icmp[i] << 8) | icmp[i + 1]);
        }

        while (sum > 0xFFFF)
        {
            sum = (sum & 0xFFFF) + (sum >> 16);
        }

        System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(icmp.AsSpan(2), (ushort)~sum);
        return icmp;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_large_udp_datagram_arrives_only_when_the_router_reassembles(bool reassemble)
    {
        Root.Require();
        var state = NetLab.Up(new LabOptions { Hosts = 2, Reassemble = reassemble }, cancellationToken: TestContext.Current.CancellationToken);
        try
        {
            var port = NetLab.PlanOf(state).GetSlice("h2", LabTopology.Egress4)[0].Low + 2;
            using var hostNs = NetworkNamespace.Enter(LabTopology.HostNs(state.Prefix, "h2"));
            using var receiver = hostNs.CreateSocket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            receiver.Bind(new IPEndPoint(LabTopology.Egress4, port));
            using (var serverNs = NetworkNamespace.Enter(LabTopology.ServerNs(state.Prefix)))
            using (var sender = serverNs.CreateSocket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp))
            {
                // 6000 bytes: five fragments on a 1500-byte link; only the first carries the port.
                await sender.SendToAsync(new byte[6000], new IPEndPoint(LabTopology.Egress4, port), Ct);
                await sender.SendToAsync(new byte[100], new IPEndPoint(LabTopology.Egress4, port), Ct);
            }

            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(2));
            var buffer = new byte[8192];
            var first = await receiver.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
            // The small datagram always arrives; the large one only when reassembled first.
            Assert.Equal(reassemble ? 6000 : 100, first);
            Assert.Equal(0, NetLab.RouterConntrack(state));
        }
        finally
        {
            NetLab.Down(state);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Echo_replies_are_steered_by_icmp_id(bool ipv6)
    {
        Root.Require();
        var state = NetLab.Up(new LabOptions { Hosts = 3, Ipv6 = ipv6 }, cancellationToken: TestContext.Current.CancellationToken);
        try
        {
            var egress = NetLab.Egress(state);
            var server = NetLab.Server(state);
            var plan = NetLab.PlanOf(state);
            using var ns = NetworkNamespace.Enter(LabTopology.HostNs(state.Prefix, "h2"));
            ns.Run(() => File.WriteAllText("/proc/sys/net/ipv4/ping_group_range", "0 0"));

            // A ping socket's "port" is its ICMP id: bound inside the slice, the echo reply comes back; outside, it is dropped.
            async Task<bool> PingAsync(int id)
            {
                using var ping = ipv6
                    ? ns.CreateSocket(AddressFamily.InterNetworkV6, SocketType.Dgram, ProtocolType.IcmpV6)
                    : ns.CreateSocket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Icmp);
                ping.Bind(new IPEndPoint(egress, id));
                byte[] request = [ipv6 ? (byte)128 : (byte)8, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4];
                await ping.SendToAsync(request, new IPEndPoint(server, 0), Ct);
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
                timeout.CancelAfter(TimeSpan.FromSeconds(1));
                try
                {
                    var n = await ping.ReceiveAsync(new byte[64], SocketFlags.None, timeout.Token);
                    return n > 0;
                }
                catch (OperationCanceledException)
                {
                    return false;
                }
            }

            Assert.True(await PingAsync(plan.GetSlice("h2", egress)[0].Low + 5), "an echo reply to an id in h2's slice did not come back");
            Assert.False(await PingAsync(plan.GetSlice("h1", egress)[0].Low + 5), "an echo reply to an id in h1's slice reached h2");
        }
        finally
        {
            NetLab.Down(state);
        }
    }

    [Fact]
    public void Down_all_removes_every_lab_namespace()
    {
        Root.Require();
        var state = NetLab.Up(new LabOptions { Hosts = 1 }, cancellationToken: TestContext.Current.CancellationToken);
        try
        {
            var removed = NetLab.DownAll(state.Prefix);
            Assert.Equal(state.Namespaces.Order(StringComparer.Ordinal), removed.Order(StringComparer.Ordinal));
            Assert.All(state.Namespaces, ns => Assert.False(File.Exists(Path.Combine("/run/netns", ns))));
        }
        finally
        {
            NetLab.Down(state);
        }
    }
}
