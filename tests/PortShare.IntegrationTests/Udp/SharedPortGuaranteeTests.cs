using System.Globalization;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using PortShare.Connect;
using PortShare.Diagnostics;
using PortShare.IntegrationTests.Infrastructure;

namespace PortShare.IntegrationTests.Udp;

/// <summary>
/// The shared-port contract, whatever else holds the port: never two connected UDP sockets on one 4-tuple — against a
/// second process following the same (connectx) convention, toward an IPv6 link-local destination, beside dual-stack
/// IPv6 sockets, and when the namespace has no ephemeral port left for a source-address probe.
/// </summary>
[Trait("Category", "RequiresRoot")]
[Collection(ExclusiveCollection.Name)]
public sealed class SharedPortGuaranteeTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("::1")]
    public async Task Two_processes_and_this_one_racing_for_one_slice_never_share_a_four_tuple(string address)
    {
        Root.Require();
        using var ns = TestNetns.Create();
        var ip = IPAddress.Parse(address);
        using var server = ns.UdpListen(ip, 5353);
        var slice = new PortRange(40400, 40431);

        // A continuous checker: no instant where two connected sockets share a 4-tuple in the slice.
        using var stop = new CancellationTokenSource();
        var samples = 0;
        var duplicates = new List<string>();
        var checker = Task.Run(() =>
        {
            using var diag = SockDiagClient.Open(ns.Ns);
            while (!stop.IsCancellationRequested)
            {
                var rows = diag.Dump(ip.AddressFamily, ProtocolType.Udp, SocketStates.Established, slice);
                foreach (var g in rows.GroupBy(r => (r.Local, r.Remote)).Where(g => g.Count() > 1))
                {
                    duplicates.Add($"{g.Key.Local} -> {g.Key.Remote} x{g.Count()}");
                }

                samples++;
            }
        },
            Ct);

        // Two CLI processes (24 flows each, held while each waits 50 ms for a reply that never comes) and this process's
        // connector (flows opened and closed in a loop) ask for more than the slice has toward one destination.
        var cli = Enumerable.Range(0, 2).Select(_ => Task.Run(() => CliRunner.RunInNamespace(
            ns.Name, null, "connect", "--udp", "--slice", slice.ToString(), "--count", "24", "--timeout", "0.05", "--json", server.Endpoint().ToString()))).ToArray();
        using var connector = new UdpSliceConnector(slice, null, UdpPortMode.Shared, ns.Ns);
        var mine = 0;
        while (!cli.All(t => t.IsCompleted))
        {
            try
            {
                using var flow = await connector.ConnectAsync(server.Endpoint(), Ct);
                mine++;
                await Task.Delay(2, Ct);
            }
            catch (SliceExhaustedException)
            {
                await Task.Delay(5, Ct);
            }
        }

        var results = await Task.WhenAll(cli);
        await stop.CancelAsync();
        await checker;
        Assert.True(samples > 20, $"the checker sampled only {samples} times");
        Assert.True(duplicates.Count == 0, $"two connected sockets shared a 4-tuple: {string.Join("; ", duplicates.Distinct().Take(5))}");
        foreach (var r in results)
        {
            // Each process got its 24 flows, or ran out with the one exhaustion message.
            Assert.True(r.ExitCode == 0 || r.StdErr.Contains($"Port slice {slice} (32 ports) is exhausted", StringComparison.Ordinal), r.StdErr);
            var ports = r.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement.GetProperty("local_port").GetInt32()).ToList();
            Assert.Equal(ports.Count, ports.Distinct().Count());
            Assert.All(ports, p => Assert.True(slice.Contains(p)));
        }

        Assert.True(mine > 0 || results.All(r => r.ExitCode == 0), "this process's connector never got a flow");
    }

    [Fact]
    public async Task A_link_local_destination_is_checked_on_its_interface_and_a_second_process_finds_the_slice_full()
    {
        Root.Require();
        using var client = TestNetns.Create();
        using var far = TestNetns.Create();
        Proc.Check("ip", "link", "add", "psa0", "netns", client.Name, "type", "veth", "peer", "name", "psb0", "netns", far.Name);
        client.Ip("-6", "addr", "add", "fe80::a/64", "dev", "psa0", "nodad");
        far.Ip("-6", "addr", "add", "fe80::b/64", "dev", "psb0", "nodad");
        client.Ip("link", "set", "psa0", "up");
        far.Ip("link", "set", "psb0", "up");
        var index = client.Ns.Run(() => NetworkInterface.GetAllNetworkInterfaces().Single(n => n.Name == "psa0").GetIPProperties().GetIPv6Properties().Index);
        var destination = new IPEndPoint(new IPAddress(IPAddress.Parse("fe80::b").GetAddressBytes(), index), 5354);
        using var server = far.UdpListen(IPAddress.IPv6Any, 5354);
        var slice = new PortRange(40000, 40003);

        // Four flows fit a four-port slice, from the link-local source the routing table picks on that interface.
        using var connector = new UdpSliceConnector(slice, null, UdpPortMode.Shared, client.Ns);
        var flows = new List<Socket>();
        try
        {
            for (var i = 0; i < 4; i++)
            {
                flows.Add(await connector.ConnectAsync(destination, Ct));
            }

            Assert.Equal([40000, 40001, 40002, 40003], flows.Select(f => f.Endpoint().Port).Order());
            Assert.All(flows, f => Assert.Equal(IPAddress.Parse("fe80::a"), new IPAddress(f.Endpoint().Address.GetAddressBytes())));

            // A second process following the same convention sees every 4-tuple taken, with or without the source given.
            foreach (var extra in new[] { Array.Empty<string>(), ["--local-address", "fe80::a%psa0"] })
            {
                var r = CliRunner.RunInNamespace(client.Name, null, ["connect", "--udp", "--slice", slice.ToString(), "--count", "1", "--timeout", "0.2", .. extra, "[fe80::b%psa0]:5354"]);
                Assert.Equal(1, r.ExitCode);
                Assert.Contains("Port slice 40000-40003 (4 ports) is exhausted", r.StdErr, StringComparison.Ordinal);
            }
        }
        finally
        {
            flows.ForEach(f => f.Dispose());
        }

        // Released, the slice serves the second process: four flows, and each reply comes back to its own flow.
        var echo = Task.Run(() => EchoUntilQuiet(server), Ct);
        var again = CliRunner.RunInNamespace(client.Name, null, "connect", "--udp", "--slice", slice.ToString(), "--count", "4", "--timeout", "2", "--json", "[fe80::b%psa0]:5354");
        Assert.True(again.ExitCode == 0, again.StdErr);
        var lines = again.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement.Clone()).ToList();
        Assert.Equal(4, lines.Select(l => l.GetProperty("local_port").GetInt32()).Distinct().Count());
        Assert.All(lines, l => Assert.Equal(l.GetProperty("local_port").GetInt32().ToString(CultureInfo.InvariantCulture), l.GetProperty("reply").GetString()));
        server.Dispose();
        await Assert.ThrowsAnyAsync<Exception>(() => echo);
    }

    [Fact]
    public async Task Dual_stack_IPv6_sockets_on_a_port_keep_it_from_an_IPv4_flow()
    {
        Root.Require();
        using var ns = TestNetns.Create();
        using var server = ns.UdpListen(IPAddress.Loopback, 5353);
        var slice = new PortRange(40300, 40307);
        var mappedServer = new IPEndPoint(server.Endpoint().Address.MapToIPv6(), 5353);
        var holders = new List<Socket>();
        try
        {
            // Seven ports: a dual-stack socket connected to the server (as another process following the convention
            // leaves it: SO_REUSEADDR on). The eighth: a dual-stack socket bound to [::] and not connected, without it.
            for (var p = slice.Low; p < slice.High; p++)
            {
                var s = DualStack(ns);
                UdpTestHelpers.SetReuseAddr(s, true);
                s.Bind(new IPEndPoint(IPAddress.IPv6Any, p));
                s.Connect(mappedServer);
                holders.Add(s);
            }

            var unconnected = DualStack(ns);
            unconnected.Bind(new IPEndPoint(IPAddress.IPv6Any, slice.High));
            holders.Add(unconnected);

            using var connector = new UdpSliceConnector(slice, null, UdpPortMode.Shared, ns.Ns);
            var ex = await Assert.ThrowsAsync<SliceExhaustedException>(async () => await connector.ConnectAsync(server.Endpoint(), Ct));
            Assert.Contains("Port slice 40300-40307 (8 ports) is exhausted", ex.Message, StringComparison.Ordinal);

            // One holder closes: exactly its port is used, and the kernel delivers the 4-tuple to one socket only.
            holders[3].Dispose();
            using var flow = await connector.ConnectAsync(server.Endpoint(), Ct);
            Assert.Equal(40303, flow.Endpoint().Port);
            var connected = ns.DumpUdp(AddressFamily.InterNetwork, SocketStates.Established).Concat(ns.DumpUdp(AddressFamily.InterNetworkV6, SocketStates.Established))
                .Where(r => r.Local.Port == 40303).ToList();
            Assert.Single(connected);
        }
        finally
        {
            holders.ForEach(h => h.Dispose());
        }
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("::1")]
    public async Task With_no_ephemeral_port_left_the_source_is_found_without_a_probe_and_a_full_slice_is_exhaustion(string address)
    {
        Root.Require();
        using var ns = TestNetns.Create(40000, 40031);
        var ip = IPAddress.Parse(address);
        using var server = ns.UdpListen(ip, 5353);
        var slice = new PortRange(40000, 40015);
        var held = new List<Socket>();
        try
        {
            // The slice: 16 flows of another process to the server (the convention leaves SO_REUSEADDR on). The rest of
            // the namespace range: bound without SO_REUSEADDR, so no autobind can find a port at all.
            for (var p = slice.Low; p <= slice.High; p++)
            {
                var s = ns.Socket(ip.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
                UdpTestHelpers.SetReuseAddr(s, true);
                s.Bind(new IPEndPoint(ip, p));
                s.Connect(server.Endpoint());
                held.Add(s);
            }

            for (var p = slice.High + 1; p <= 40031; p++)
            {
                var s = ns.Socket(ip.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
                s.Bind(new IPEndPoint(ip.AddressFamily == AddressFamily.InterNetwork ? IPAddress.Any : IPAddress.IPv6Any, p));
                held.Add(s);
            }

            using var connector = new UdpSliceConnector(slice, null, UdpPortMode.Shared, ns.Ns);
            var ex = await Assert.ThrowsAsync<SliceExhaustedException>(async () => await connector.ConnectAsync(server.Endpoint(), Ct));
            Assert.Contains("Port slice 40000-40015 (16 ports) is exhausted", ex.Message, StringComparison.Ordinal);

            // Every held flow still gets its own datagrams: nothing sat on their 4-tuples.
            foreach (var flow in held.Take(16))
            {
                server.SendTo("x"u8.ToArray(), flow.LocalEndPoint!);
                flow.ReceiveTimeout = 2000;
                Assert.Equal(1, flow.Receive(new byte[16]));
            }
        }
        finally
        {
            held.ForEach(h => h.Dispose());
        }
    }

    private static Socket DualStack(TestNetns ns)
    {
        var s = ns.Socket(AddressFamily.InterNetworkV6, SocketType.Dgram, ProtocolType.Udp);
        s.DualMode = true;
        return s;
    }

    /// <summary>Answers each datagram with the sender's port, until the socket is closed.</summary>
    private static void EchoUntilQuiet(Socket server)
    {
        var buffer = new byte[256];
        while (true)
        {
            EndPoint from = new IPEndPoint(IPAddress.IPv6Any, 0);
            server.ReceiveFrom(buffer, ref from);
            server.SendTo(System.Text.Encoding.UTF8.GetBytes(((IPEndPoint)from).Port.ToString(CultureInfo.InvariantCulture)), from);
        }
    }
}
