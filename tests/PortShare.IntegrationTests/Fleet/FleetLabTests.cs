using System.Net;
using System.Net.Sockets;
using System.Text;
using PortShare.Connect;
using PortShare.Fleet;
using PortShare.IntegrationTests.Infrastructure;
using PortShare.Lab;

namespace PortShare.IntegrationTests.Fleet;

/// <summary>
/// Fleet mode end to end in namespaces: a 3-member etcd cluster, <c>portshare router follow</c> on the router and
/// <c>portshare agent</c> processes on the hosts, with a checker sampling etcd, the router and every host file all the
/// while (no port served by two hosts, none served against etcd, the router agreeing with etcd after a short lag).
/// </summary>
[Collection(ExclusiveCollection.Name)]
public sealed class FleetLabTests
{
    private static readonly TimeSpan s_lag = TimeSpan.FromSeconds(3);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static FleetLabOptions Options(int hosts) => new()
    {
        Cli = ["dotnet", Path.Combine(AppContext.BaseDirectory, "PortShare.Cli.dll")],
        Hosts = hosts,
        LeaseTtlSeconds = 4,
        QuarantineSeconds = 5,
    };

    [Fact]
    public async Task The_fleet_demo_passes_every_step()
    {
        Root.Require();
        var steps = await FleetDemo.RunAsync(Options(3) with { QuarantineSeconds = 4 }, _ => { }, _ => { }, Ct);
        Assert.Equal(7, steps.Count);
        Assert.All(steps, s => Assert.True(s.Passed, $"{s.What}: {s.Detail}"));
    }

    [Fact]
    public async Task Three_agents_get_disjoint_units_the_router_routes_them_and_every_reply_reaches_its_owner()
    {
        Root.Require();
        await using var lab = await FleetLab.StartAsync(Options(3), cancellationToken: Ct);
        await using var checker = FleetChecker.Start(lab, s_lag);
        foreach (var h in lab.State.Hosts)
        {
            await lab.StartAgentAsync(h, Ct);
        }

        await WaitRouterAgreesAsync(lab);
        var files = lab.State.Hosts.ToDictionary(h => h, h => Serving(lab, h));
        Assert.All(files.Values, p => Assert.Equal(2 * 64, p.Count));
        var routed = lab.RouterSlices();
        foreach (var (host, ports) in files)
        {
            Assert.Equal(ports.Ranges, Merge(routed.Where(r => r.Host == host).Select(r => r.Range)));
            var traffic = await lab.TrafficAsync(host, 30, Ct);
            Assert.True(traffic.Passed, $"{host}: {traffic.Ok}/30 ok, {traffic.Misdelivered} misdelivered; {string.Join("; ", traffic.Errors)}");
        }

        var status = await lab.Fleet.StatusAsync(Ct);
        Assert.Equal(6, status.Count(s => s.State == "owned"));
        Assert.Empty(await checker.StopAsync());
    }

    [Fact]
    public async Task A_killed_agent_s_units_stay_routed_to_it_through_the_quarantine_then_free_and_its_restart_takes_them_back()
    {
        Root.Require();
        await using var lab = await FleetLab.StartAsync(Options(2), cancellationToken: Ct);
        await using var checker = FleetChecker.Start(lab, s_lag);
        await lab.StartAgentAsync("h1", Ct);
        await lab.StartAgentAsync("h2", Ct);
        await WaitRouterAgreesAsync(lab);
        var before = Serving(lab, "h1");
        var held = await lab.HoldAsync("h1", 3, Ct);

        lab.KillAgent("h1");
        // After the lease TTL etcd drops h1's unit keys; the quarantine keys keep the units routed to h1.
        await WaitAsync(async () => (await lab.Fleet.StatusAsync(Ct)).Count(s => s.Owner == "h1" && s.State == "quarantined") == 2, TimeSpan.FromSeconds(10), "h1's units quarantined");
        Assert.Equal(before.Ranges, Merge(lab.RouterSlices().Where(r => r.Host == "h1").Select(r => r.Range)));
        Assert.Equal(3, await FleetLab.EchoAsync(held, Ct));
        // The dead agent no longer renews its host file: applications on h1 stop opening connections from those ports.
        var expired = Assert.Throws<PortShareException>(() => lab.HostFile("h1")!.For(FleetLab.Egress));
        Assert.Contains("expired", expired.Message, StringComparison.Ordinal);

        // Once the quarantine ends the units are free and unrouted.
        await WaitAsync(async () => (await lab.Fleet.StatusAsync(Ct)).Count(s => s.State == "free") == 14, TimeSpan.FromSeconds(15), "h1's units free after the quarantine");
        await WaitRouterAgreesAsync(lab);
        Assert.DoesNotContain(lab.RouterSlices(), r => r.Host == "h1");

        // Restarted, h1 claims the units it served before.
        await lab.StartAgentAsync("h1", Ct);
        Assert.Equal(before, Serving(lab, "h1"));
        await WaitRouterAgreesAsync(lab);
        Assert.Empty(await checker.StopAsync());
        foreach (var s in held)
        {
            s.Dispose();
        }
    }

    [Fact]
    public async Task An_agent_restarted_within_its_lease_resumes_it_and_nothing_moves()
    {
        Root.Require();
        await using var lab = await FleetLab.StartAsync(Options(1), cancellationToken: Ct);
        await lab.StartAgentAsync("h1", Ct);
        var epochs = (await lab.Fleet.StatusAsync(Ct)).Where(s => s.Owner == "h1").Select(s => (s.Unit, s.Epoch)).ToList();
        lab.KillAgent("h1");
        await lab.StartAgentAsync("h1", Ct);
        Assert.Equal(epochs, (await lab.Fleet.StatusAsync(Ct)).Where(s => s.Owner == "h1").Select(s => (s.Unit, s.Epoch)).ToList());
        Assert.Contains("Resumed the leases", lab.Tail("h1"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_agent_cut_off_from_etcd_stops_new_connections_before_its_lease_can_end_and_takes_its_units_back_after()
    {
        Root.Require();
        await using var lab = await FleetLab.StartAsync(Options(2), cancellationToken: Ct);
        await using var checker = FleetChecker.Start(lab, s_lag);
        await lab.StartAgentAsync("h1", Ct);
        await lab.StartAgentAsync("h2", Ct);
        var before = Serving(lab, "h1");

        lab.CutOff("h1", cut: true);
        await WaitAsync(() => Task.FromResult(lab.HostFile("h1") is { Slices.Count: 0 }), TimeSpan.FromSeconds(10), "h1 stops serving");
        // At that instant etcd still holds h1's lease: nobody else could have been given its units.
        var owned = (await lab.Fleet.StatusAsync(Ct)).Where(s => s.Owner == "h1").ToList();
        Assert.Equal(2, owned.Count);
        Assert.All(owned, s => Assert.Equal("owned", s.State));

        // Back after its lease ended: it registers again and takes back its still-quarantined units.
        await WaitAsync(async () => (await lab.Fleet.StatusAsync(Ct)).Count(s => s.Owner == "h1" && s.State == "quarantined") == 2, TimeSpan.FromSeconds(10), "h1's lease ends");
        lab.CutOff("h1", cut: false);
        await WaitAsync(() => Task.FromResult(lab.HostFile("h1") is { Slices.Count: > 0 } f && f.Slices[0].Ports.Count == 128), TimeSpan.FromSeconds(15), "h1 serves its two units again");
        Assert.Equal(before, Serving(lab, "h1"));
        await WaitRouterAgreesAsync(lab);
        Assert.Empty(await checker.StopAsync());
    }

    [Fact]
    public async Task Killing_the_etcd_leader_keeps_leases_and_routes_and_a_new_host_still_joins()
    {
        Root.Require();
        await using var lab = await FleetLab.StartAsync(Options(3), cancellationToken: Ct);
        await using var checker = FleetChecker.Start(lab, s_lag);
        await lab.StartAgentAsync("h1", Ct);
        await lab.StartAgentAsync("h2", Ct);
        await WaitRouterAgreesAsync(lab);
        var epochs = (await lab.Fleet.StatusAsync(Ct)).Where(s => s.Owner is not null).Select(s => (s.Unit, s.Epoch)).ToList();

        lab.KillEtcd(await lab.LeaderAsync(Ct));
        await Task.Delay(TimeSpan.FromSeconds(5), Ct); // longer than the lease TTL
        Assert.Equal(epochs, (await lab.Fleet.StatusAsync(Ct)).Where(s => s.Owner is not null).Select(s => (s.Unit, s.Epoch)).ToList());
        Assert.True(lab.HostFile("h1") is { Slices.Count: > 0 } && lab.HostFile("h2") is { Slices.Count: > 0 });

        await lab.StartAgentAsync("h3", Ct);
        await WaitRouterAgreesAsync(lab);
        Assert.Contains(lab.RouterSlices(), r => r.Host == "h3");
        var traffic = await lab.TrafficAsync("h3", 20, Ct);
        Assert.True(traffic.Passed, $"{traffic.Ok}/20 ok, {traffic.Misdelivered} misdelivered; {string.Join("; ", traffic.Errors)}");
        Assert.Empty(await checker.StopAsync());
    }

    [Fact]
    public async Task SIGTERM_drains_and_releases_into_quarantine_and_a_drain_order_releases_a_host_s_units()
    {
        Root.Require();
        await using var lab = await FleetLab.StartAsync(Options(2), cancellationToken: Ct);
        await lab.StartAgentAsync("h1", Ct);
        await lab.StartAgentAsync("h2", Ct);

        Assert.Equal(0, await lab.StopAgentAsync("h1", Ct));
        Assert.Equal(2, (await lab.Fleet.StatusAsync(Ct)).Count(s => s.Owner == "h1" && s.State == "quarantined"));
        Assert.Contains("Released every unit", lab.Tail("h1"), StringComparison.Ordinal);
        Assert.Empty(lab.HostFile("h1")!.Slices);

        Assert.True(await lab.Fleet.DrainAsync("h2", null, cancel: false, Ct));
        await WaitAsync(async () => (await lab.Fleet.StatusAsync(Ct)).Count(s => s.Owner == "h2" && s.State == "quarantined") == 2, TimeSpan.FromSeconds(10), "h2 released after the drain order");
        Assert.True(lab.AgentRuns("h2"));
        Assert.Empty(lab.HostFile("h2")!.Slices);
    }

    private static async Task WaitRouterAgreesAsync(FleetLab lab)
    {
        FleetSample? last = null;
        await WaitAsync(async () => !(last = await lab.SampleAsync(TimeSpan.FromMinutes(1), Ct)).RouterLags, TimeSpan.FromSeconds(10), "the router to follow etcd");
        Assert.Empty(last!.Problems);
    }

    private static async Task WaitAsync(Func<Task<bool>> condition, TimeSpan limit, string what) =>
        Assert.True(await FleetLab.WaitAsync(condition, limit, Ct), $"timed out waiting for {what}");

    /// <summary>The ports <paramref name="host"/> serves (failing with its agent's log when it serves none).</summary>
    private static PortSlice Serving(FleetLab lab, string host)
    {
        try
        {
            return lab.HostFile(host)!.For(FleetLab.Egress).Ports;
        }
        catch (PortShareException ex)
        {
            Assert.Fail($"{ex.Message} Agent log: {lab.Tail(host)}");
            throw;
        }
    }

    private static List<PortRange> Merge(IEnumerable<PortRange> ranges) => [.. PortSlice.From(ranges).Ranges];
}
