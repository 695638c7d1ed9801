using System.Net;
using System.Net.Sockets;
using PortShare.Connect;
using PortShare.IntegrationTests.Infrastructure;
using PortShare.Lab;
using PortShare.Planning;
using PortShare.Routing;

namespace PortShare.IntegrationTests.Lab;

/// <summary>
/// The plan-file quarantine in the namespace lab: a static-plan re-plan keeps every connection held on a moved port alive
/// through the quarantine (the router still sends its replies to the old owner, the new owner's host file leaves the port
/// out), and a re-apply after the quarantine hands the ports over.
/// </summary>
[Trait("Category", "RequiresRoot")]
public class LabQuarantineTests
{
    // Long enough for a re-plan (router and four hosts) and the checks on a loaded two-core machine.
    private const int QuarantineSeconds = 8;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static int PortOf(Socket s) => ((IPEndPoint)s.LocalEndPoint!).Port;

    /// <summary>True when the router sends <paramref name="s"/> to the host (netdev names it; nftables shows its next hop).</summary>
    private static bool To(InstalledSlice s, string host, string hop) => s.Host == host || s.NextHop?.Split(' ')[0] == hop;

    /// <summary>Connections from <paramref name="ranges"/> of <paramref name="host"/> to the lab's server, each past its greeting.</summary>
    private static async Task<List<Socket>> ConnectAsync(LabState state, string host, PortRange range, int count)
    {
        using var ns = NetworkNamespace.Enter(LabTopology.HostNs(state.Prefix, host));
        var connector = new SliceConnector(range, LabTopology.Egress4, ConnectStrategy.Auto, ns);
        var sockets = new List<Socket>();
        for (var i = 0; i < count; i++)
        {
            var s = await connector.ConnectAsync(new IPEndPoint(LabTopology.Server4, LabTopology.ServerPort), Ct);
            Assert.Equal(((IPEndPoint)s.LocalEndPoint!).ToString(), await NetLab.ReadLineAsync(s, Ct));
            sockets.Add(s);
        }

        return sockets;
    }

    /// <summary>Every connection gets its echo back (the reply reached the host holding it).</summary>
    private static async Task EchoAllAsync(IEnumerable<(string Host, Socket Socket)> held, string what)
    {
        await Task.WhenAll(held.Select(async c =>
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(3));
            await c.Socket.SendAsync("ping\n"u8.ToArray(), SocketFlags.None, timeout.Token);
            try
            {
                Assert.Equal("ping", await NetLab.ReadLineAsync(c.Socket, timeout.Token));
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException or SocketException)
            {
                Assert.Fail($"{what}: {c.Host}'s connection from port {PortOf(c.Socket)} got no echo ({ex.Message})");
            }
        }));
    }

    private static void Reset(IEnumerable<(string Host, Socket Socket)> held)
    {
        foreach (var (_, s) in held)
        {
            s.LingerState = new LingerOption(true, 0);
            s.Dispose();
        }
    }

    private static async Task WaitUntilAsync(DateTimeOffset until)
    {
        var left = until - DateTimeOffset.UtcNow;
        if (left > TimeSpan.Zero)
        {
            await Task.Delay(left + TimeSpan.FromMilliseconds(50), Ct);
        }
    }

    [Theory]
    [InlineData(RouterBackend.Netdev)]
    [InlineData(RouterBackend.Nftables)]
    public async Task Adding_a_host_keeps_every_connection_on_a_moved_port_alive_through_the_quarantine_then_hands_the_ports_over(RouterBackend backend)
    {
        Root.Require();
        var state = NetLab.Up(new LabOptions { Hosts = 3, Backend = backend }, cancellationToken: Ct);
        var held = new List<(string Host, Socket Socket)>();
        var egress = LabTopology.Egress4;
        try
        {
            var plan = NetLab.PlanOf(state);
            IReadOnlyList<PortMove> moves;
            await using (var server = LabServer.Start(LabTopology.ServerNs(state.Prefix), LabTopology.Server4))
            {
                // Eight connections per host in the top eighth of its slice, which a port-keeping re-plan that adds a host
                // gives to the new host.
                foreach (var h in state.Hosts)
                {
                    var slice = plan.GetSlice(h, egress)[0];
                    var eighth = (slice.Count / 8) & ~1;
                    var top = new PortRange((ushort)(slice.High - eighth + 1), slice.High);
                    held.AddRange((await ConnectAsync(state, h, top, 8)).Select(s => (h, s)));
                }

                var (next, movement) = NetLab.Replan(state, addHost: true, quarantineSeconds: QuarantineSeconds);
                state = next;
                var replanned = NetLab.PlanOf(state);
                moves = replanned.Egress[0].Moves;
                var until = moves.Min(m => m.Until);
                Assert.Equal(moves.Count, movement.Quarantined.Count);
                Assert.All(held, c => Assert.Equal("h4", replanned.Owner(egress, (ushort)PortOf(c.Socket))?.Host));
                Assert.All(held, c => Assert.Contains(moves, m => m.From == c.Host && m.Ports.Any(r => r.Contains(PortOf(c.Socket)))));

                // The router still sends every held port to the host holding it.
                var during = NetLab.RouterOf(state).Show();
                Assert.All(held, c => Assert.Contains(during, s => s.Range.Contains(PortOf(c.Socket)) && To(s, c.Host, LabTopology.HostSide4(LabTopology.HostNumber(c.Host)).ToString())));

                // The new owner's host file, as host apply wrote it, leaves the moved ports out and says why.
                var h4 = NetLab.ShowHost(state, "h4").Slices;
                Assert.DoesNotContain(h4.Slices.SelectMany(s => s.Ports.Ranges), r => held.Any(c => r.Contains(PortOf(c.Socket))));
                Assert.NotEmpty(h4.Quarantine);
                Assert.All(h4.Quarantine, q => Assert.Equal("h4", q.To));

                // Through the quarantine: every held connection still gets its echo; the old owners connect from the ports
                // they kept; nothing reaches a host that does not hold the port.
                await EchoAllAsync(held, "right after the re-plan");
                foreach (var h in state.Hosts.Where(h => h != "h4"))
                {
                    var kept = replanned.HostFile(h, DateTimeOffset.UtcNow).For(egress).Ports.Ranges[0];
                    foreach (var s in await ConnectAsync(state, h, kept, 2))
                    {
                        s.Dispose();
                    }
                }

                await Task.Delay(TimeSpan.FromSeconds(1), Ct);
                await EchoAllAsync(held, "a second later");
                Assert.True(DateTimeOffset.UtcNow < until, $"the checks ran past the quarantine ({until:O}): raise QuarantineSeconds");
                Assert.All(state.Hosts, h => Assert.Equal(0, NetLab.ReadMisdelivered(state, h)));

                // After the quarantine the old owner's connections on moved ports are over (TIME_WAIT is what the
                // quarantine covers): close them, then hand the ports over.
                Reset(held);
                held.Clear();
                await WaitUntilAsync(moves.Max(m => m.Until));
            }

            state = NetLab.Apply(state);
            var final = NetLab.PlanOf(state);
            var file = NetLab.ShowHost(state, "h4").Slices;
            Assert.Equal(final.GetSlice("h4", egress), file.For(egress).Ports.Ranges);
            Assert.Empty(file.Quarantine);
            // The router sends them to h4 now (the nftables backend knows hosts by table, so compare next hops).
            var installed = NetLab.RouterOf(state).Show();
            var h4Hop = final.FindSlice("h4", egress)!.NextHop.ToString();
            Assert.All(moves.SelectMany(m => m.Ports), r => Assert.Contains(installed, s => To(s, "h4", h4Hop) && s.Range.Contains(r.Low) && s.Range.Contains(r.High)));

            var report = await NetLab.TestAsync(state, 30, cancellationToken: Ct);
            Assert.True(report.Passed, report.Verdict + " " + string.Join("; ", report.Hosts.SelectMany(h => h.Errors)));
            Assert.Equal(30, report.Hosts.Single(h => h.Host == "h4").Ok);
        }
        finally
        {
            Reset(held);
            NetLab.Down(state);
        }
    }

    [Fact]
    public async Task A_removed_host_keeps_its_connections_through_the_quarantine_and_leaves_after_it()
    {
        Root.Require();
        var state = NetLab.Up(new LabOptions { Hosts = 3, Backend = RouterBackend.Netdev }, cancellationToken: Ct);
        var held = new List<(string Host, Socket Socket)>();
        try
        {
            DateTimeOffset until;
            await using (var server = LabServer.Start(LabTopology.ServerNs(state.Prefix), LabTopology.Server4))
            {
                var slice = NetLab.PlanOf(state).GetSlice("h2", LabTopology.Egress4)[0];
                held.AddRange((await ConnectAsync(state, "h2", slice, 8)).Select(s => ("h2", s)));

                var (next, movement) = NetLab.Replan(state, addHost: false, removeHost: "h2", quarantineSeconds: QuarantineSeconds);
                state = next;
                until = movement.Quarantined.Max(q => q.Until);
                Assert.Equal(["h1", "h3"], state.Hosts);
                Assert.Equal(["h2"], state.Departing);
                Assert.All(movement.Quarantined, q => Assert.Equal("h2", q.From));
                Assert.True(File.Exists(Path.Combine("/run/netns", LabTopology.HostNs(state.Prefix, "h2"))), "h2's namespace went before its quarantine ended");

                await EchoAllAsync(held, "after h2 left the plan");

                // A re-apply during the quarantine changes nothing: h2 stays, its routes too.
                state = NetLab.Apply(state);
                Assert.Equal(["h2"], state.Departing);
                await EchoAllAsync(held, "after a re-apply during the quarantine");
                Assert.True(DateTimeOffset.UtcNow < until, $"the checks ran past the quarantine ({until:O}): raise QuarantineSeconds");
                Reset(held);
                held.Clear();
            }

            await WaitUntilAsync(until);
            state = NetLab.Apply(state);
            Assert.Empty(state.Departing);
            Assert.False(File.Exists(Path.Combine("/run/netns", LabTopology.HostNs(state.Prefix, "h2"))));
            Assert.DoesNotContain(NetLab.RouterOf(state).Show(), s => To(s, "h2", LabTopology.HostSide4(2).ToString()));
            var report = await NetLab.TestAsync(state, 20, cancellationToken: Ct);
            Assert.True(report.Passed, report.Verdict + " " + string.Join("; ", report.Hosts.SelectMany(h => h.Errors)));
        }
        finally
        {
            Reset(held);
            NetLab.Down(state);
        }
    }
}
