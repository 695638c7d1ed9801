using System.Net;
using PortShare.IntegrationTests.Infrastructure;
using PortShare.Routing;

namespace PortShare.IntegrationTests.Routing;

/// <summary>Router apply/remove against the real kernel, in a fresh namespace with a dummy link to the "hosts".</summary>
[Trait("Category", "RequiresRoot")]
public class RouterApplyTests
{
    private static readonly IPAddress s_egress4 = IPAddress.Parse("192.0.2.1");
    private static readonly IPAddress s_egress6 = IPAddress.Parse("2001:db8:1::1");

    private static TestNetns RouterNs()
    {
        var ns = TestNetns.Create();
        try
        {
            ns.Ip("link", "add", "d0", "type", "veth", "peer", "name", "d1"); // no dummy module on every kernel
            ns.Ip("link", "set", "dev", "d1", "up");
            ns.Ip("addr", "add", "198.51.100.1/24", "dev", "d0");
            ns.Ip("-6", "addr", "add", "2001:db8:100::1/64", "dev", "d0", "nodad");
            ns.Ip("link", "set", "dev", "d0", "up");
            return ns;
        }
        catch
        {
            ns.Dispose();
            throw;
        }
    }

    private static List<RouteSlice> Plan(params (string Host, int N, string Range)[] hosts) =>
        [.. hosts.SelectMany(h => new[]
        {
            new RouteSlice(s_egress4, h.Host, IPAddress.Parse($"198.51.100.{h.N + 1}"), PortRange.Parse(h.Range)),
            new RouteSlice(s_egress6, h.Host, IPAddress.Parse($"2001:db8:100::{h.N + 1}"), PortRange.Parse(h.Range)),
        })];

    /// <summary>The namespace has no default route: the netdev backend is told its uplink.</summary>
    private static RouterOptions Options(RouterBackend backend) => new() { Backend = backend, Uplinks = ["d0"] };

    private static readonly List<RouteSlice> s_planA = Plan(("h1", 1, "40000-40511"), ("h2", 2, "40512-41023"), ("h3", 3, "41024-41535"));
    private static readonly List<RouteSlice> s_planB = Plan(("h1", 1, "40000-40255"), ("h2", 2, "40512-41023"), ("h4", 4, "40256-40511"));

    private static (IReadOnlyList<IpRule> Rules, IReadOnlyList<IpRoute> Routes, IReadOnlyList<MarkedSlice> Nft) Snapshot(Router router)
    {
        var s = router.ReadState();
        return ([.. s.Rules.OrderBy(r => r.ToString(), StringComparer.Ordinal)], [.. s.Routes.OrderBy(r => r.ToString(), StringComparer.Ordinal)], [.. s.Nft?.Slices ?? []]);
    }

    [Theory]
    [InlineData(RouterBackend.Netdev)]
    [InlineData(RouterBackend.Nftables)]
    [InlineData(RouterBackend.IpRule)]
    public void Apply_twice_changes_nothing_the_second_time(RouterBackend backend)
    {
        Root.Require();
        using var ns = RouterNs();
        var router = new Router(new NetTools(ns.Name), Options(backend));
        var first = router.Apply(s_planA);
        Assert.False(first.IsEmpty);
        var second = router.Apply(s_planA);
        Assert.True(second.IsEmpty, string.Join("\n", second.Describe()));
        var shown = router.Show();
        Assert.Equal(6, shown.Count);
        Assert.All(shown, s => Assert.NotNull(s.NextHop));
    }

    [Theory]
    [InlineData(RouterBackend.Netdev)]
    [InlineData(RouterBackend.Nftables)]
    [InlineData(RouterBackend.IpRule)]
    public void Re_apply_with_another_plan_changes_only_the_difference_and_keeps_host_tables(RouterBackend backend)
    {
        Root.Require();
        using var ns = RouterNs();
        var router = new Router(new NetTools(ns.Name), Options(backend));
        var a = router.Apply(s_planA);
        var b = router.Apply(s_planB);
        Assert.Equal(a.Hosts.Single(h => h.Host == "h1").Table, b.Hosts.Single(h => h.Host == "h1").Table);
        Assert.Equal(a.Hosts.Single(h => h.Host == "h2").Table, b.Hosts.Single(h => h.Host == "h2").Table);
        // The new host never gets the removed host's table: live replies for h3's ports must not be re-pointed at h4.
        // (The netdev backend has no tables: a host's chain is named after it.)
        Assert.True(backend == RouterBackend.Netdev || a.Hosts.Single(h => h.Host == "h3").Table != b.Hosts.Single(h => h.Host == "h4").Table);
        Assert.True(router.Apply(s_planB).IsEmpty);
        var shown = router.Show();
        Assert.Contains(shown, s => s.Range == PortRange.Parse("40256-40511") && s.NextHop!.Split(' ')[0] == "198.51.100.5");
        Assert.DoesNotContain(shown, s => s.NextHop!.Split(' ')[0] == "198.51.100.4");
    }

    [Theory]
    [InlineData(RouterBackend.Netdev)]
    [InlineData(RouterBackend.Nftables)]
    [InlineData(RouterBackend.IpRule)]
    public void A_failing_batch_rolls_back_to_the_previous_state(RouterBackend backend)
    {
        Root.Require();
        using var ns = RouterNs();
        var router = new Router(new NetTools(ns.Name), Options(backend));
        router.Apply(s_planA);
        var before = Snapshot(router);
        router.InjectIntoLastStep = ["rule add pref 5350 fwmark 0x1 lookup no-such-table-name"];
        var ex = Assert.Throws<RoutingException>(() => router.Apply(s_planB));
        Assert.Contains("restored", ex.Message, StringComparison.Ordinal);
        var after = Snapshot(router);
        Assert.Equal(before.Rules, after.Rules);
        Assert.Equal(before.Routes, after.Routes);
        Assert.Equal(before.Nft, after.Nft);
    }

    [Theory]
    [InlineData(RouterBackend.Netdev)]
    [InlineData(RouterBackend.Nftables)]
    [InlineData(RouterBackend.IpRule)]
    public void Remove_leaves_nothing_behind_and_keeps_foreign_rules(RouterBackend backend)
    {
        Root.Require();
        using var ns = RouterNs();
        ns.Ip("rule", "add", "pref", "1000", "fwmark", "0x7", "lookup", "100");
        ns.Ip("route", "add", "192.0.2.77", "via", "198.51.100.9", "table", "100");
        var router = new Router(new NetTools(ns.Name), Options(backend));
        router.Apply(s_planA);
        router.Remove();
        Assert.True(router.ReadState().IsEmpty);
        Assert.DoesNotContain("portshare", Proc.Check("ip", "netns", "exec", ns.Name, "nft", "list", "tables"), StringComparison.Ordinal);
        foreach (var family in (string[])["-4", "-6"])
        {
            var prefs = ns.Ip(family, "rule", "show").Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => int.Parse(l.Split(':')[0], System.Globalization.CultureInfo.InvariantCulture));
            Assert.DoesNotContain(prefs, p => p is >= 5300 and < 5400);
        }
        Assert.Contains("fwmark 0x7 lookup 100", ns.Ip("rule", "show"), StringComparison.Ordinal);
        Assert.Contains("192.0.2.77", ns.Ip("route", "show", "table", "100"), StringComparison.Ordinal);
        Assert.True(router.Remove().IsEmpty);
    }

    [Fact]
    public void Someone_elses_rule_in_the_range_is_never_taken_for_PortShares_and_is_named()
    {
        Root.Require();
        using var ns = RouterNs();
        ns.Ip("rule", "add", "pref", "5399", "to", "192.0.2.9", "blackhole");
        var router = new Router(new NetTools(ns.Name), Options(RouterBackend.Netdev));
        var ex = Assert.Throws<RoutingException>(() => router.Apply(s_planA));
        Assert.Contains("192.0.2.9", ex.Message, StringComparison.Ordinal);
        Assert.Contains("--priority-base", ex.Message, StringComparison.Ordinal);
        // With free ranges it applies, and remove leaves the other rule alone (and says so).
        var elsewhere = new Router(new NetTools(ns.Name), Options(RouterBackend.Netdev) with { PriorityBase = 6000 });
        elsewhere.Apply(s_planA);
        Assert.NotEmpty(elsewhere.Show());
        Assert.Empty(elsewhere.Remove().Warnings);
        Assert.Contains("192.0.2.9", ns.Ip("rule", "show"), StringComparison.Ordinal);
        var removal = router.Remove();
        Assert.Contains(removal.Warnings, w => w.Contains("192.0.2.9", StringComparison.Ordinal));
        Assert.Contains("192.0.2.9", ns.Ip("rule", "show"), StringComparison.Ordinal);
    }

    [Fact]
    public void A_failed_batch_names_the_failing_command_and_the_count_not_the_whole_batch()
    {
        Root.Require();
        using var ns = RouterNs();
        var tools = new NetTools(ns.Name);
        var lines = Enumerable.Range(0, 500).Select(i => $"rule add pref 5301 to 192.0.2.{(i % 250) + 1} blackhole").ToList();
        var ex = Assert.Throws<RoutingException>(() => tools.IpBatch(4, lines));
        Assert.Contains("500 command(s)", ex.Message, StringComparison.Ordinal);
        Assert.Contains("line 251: ip -4 rule add pref 5301 to 192.0.2.1 blackhole", ex.Message, StringComparison.Ordinal);
        Assert.True(ex.Message.Length < 1000, ex.Message);
    }

    [Fact]
    public void Netdev_show_reports_generation_digest_and_counters_and_an_unknown_uplink_is_named()
    {
        Root.Require();
        using var ns = RouterNs();
        var router = new Router(new NetTools(ns.Name), Options(RouterBackend.Netdev));
        router.Apply(s_planA, generation: 7);
        var status = router.Status();
        Assert.Equal("netdev", status.Backend);
        Assert.Equal(7, status.Generation);
        Assert.Equal(16, status.Digest.Length);
        Assert.Equal(["h1", "h2", "h3"], status.Counters!.Hosts.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(0, status.Counters.UnownedPackets);
        // A second router with the same plan has the same digest; a different plan does not.
        using var other = RouterNs();
        var twin = new Router(new NetTools(other.Name), Options(RouterBackend.Netdev));
        twin.Apply(s_planA, generation: 7);
        Assert.Equal(status.Digest, twin.Status().Digest);
        twin.Apply(s_planB, generation: 8);
        Assert.NotEqual(status.Digest, twin.Status().Digest);

        var wrong = new Router(new NetTools(ns.Name), Options(RouterBackend.Netdev) with { Uplinks = ["nosuch0"] });
        var ex = Assert.Throws<InvalidPlanException>(() => wrong.Apply(s_planB));
        Assert.Contains("--uplink 'nosuch0'", ex.Message, StringComparison.Ordinal);
        var noUplink = new Router(new NetTools(ns.Name), new RouterOptions { Backend = RouterBackend.Netdev });
        Assert.Contains("--uplink", Assert.Throws<InvalidPlanException>(() => noUplink.Apply(s_planB)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Netdev_re_apply_changes_only_the_elements_and_chains_that_differ()
    {
        Root.Require();
        using var ns = RouterNs();
        var router = new Router(new NetTools(ns.Name), Options(RouterBackend.Netdev));
        var first = router.Apply(s_planA, generation: 1);
        Assert.StartsWith("table netdev", first.Nft, StringComparison.Ordinal);
        var second = router.Apply(s_planB, generation: 2);
        Assert.NotNull(second.Nft);
        Assert.DoesNotContain("delete table", second.Nft, StringComparison.Ordinal);
        Assert.Contains("add chain netdev portshare h4_h4", second.Nft, StringComparison.Ordinal);
        Assert.Contains("delete chain netdev portshare h4_h3", second.Nft, StringComparison.Ordinal);
        Assert.True(router.Apply(s_planB, generation: 2).IsEmpty);
        var shown = router.Show();
        Assert.Contains(shown, s => s.Range == PortRange.Parse("40256-40511") && s.Host == "h4");
        Assert.DoesNotContain(shown, s => s.Host == "h3");
    }

    /// <summary>The lock file of a namespace, from its inode as stat sees the /run/netns bind mount (not PortShare's code).</summary>
    private static string LockPath(string netns) =>
        $"/run/portshare/lock/router-netns-{Proc.Check("stat", "-L", "-c", "%i", $"/run/netns/{netns}").Trim()}";

    [Fact]
    public async Task Apply_by_netns_name_and_apply_inside_the_namespace_take_the_same_lock()
    {
        Root.Require();
        using var ns = RouterNs();
        Directory.CreateDirectory("/run/portshare/lock");
        var plan = Path.Combine(Path.GetTempPath(), $"portshare-lock-{Guid.NewGuid():N}.json");
        try
        {
            var spec = new Planning.PlanSpec
            {
                Version = Planning.PlanSpec.CurrentVersion,
                Egress = [new Planning.SpecEgress { Address = "192.0.2.1" }],
                Hosts = [new Planning.SpecHost { Name = "h1", NextHops = ["198.51.100.2"] }, new Planning.SpecHost { Name = "h2", NextHops = ["198.51.100.3"] }],
            };
            Planning.PlanFile.Save(Planning.Planner.Create(spec), plan);
            var released = false;
            Task<CliRunner.Result> inside;
            using (new FileStream(LockPath(ns.Name), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None))
            {
                // "--netns NAME": the same lock, so it gives up while the lock is held.
                var byName = new Router(new NetTools(ns.Name), Options(RouterBackend.Netdev)) { LockWait = TimeSpan.FromMilliseconds(300) };
                Assert.Contains("this network namespace", Assert.Throws<RoutingException>(() => byName.Apply(s_planA)).Message, StringComparison.Ordinal);

                // "ip netns exec NAME portshare router apply": the same lock too, so it waits for the release.
                inside = Task.Run(() => CliRunner.RunInNamespace(ns.Name, null, "router", "apply", plan, "--uplink", "d0"));
                await Task.Delay(1500, TestContext.Current.CancellationToken);
                Assert.False(inside.IsCompleted, "the apply inside the namespace did not wait for the lock");
                released = true;
            }

            var r = await inside;
            Assert.True(r.ExitCode == 0, r.StdErr);
            Assert.True(released);
            Assert.Equal(2, new Router(new NetTools(ns.Name), Options(RouterBackend.Netdev)).Show().Count);
        }
        finally
        {
            File.Delete(plan);
        }
    }

    [Fact]
    public void Concurrent_applies_are_serialized()
    {
        Root.Require();
        using var ns = RouterNs();
        Parallel.For(0, 6, i => new Router(new NetTools(ns.Name), new RouterOptions()).Apply(i % 2 == 0 ? s_planA : s_planB));
        var router = new Router(new NetTools(ns.Name), new RouterOptions());
        var state = router.ReadState();
        Assert.True(router.Plan(s_planA, state).IsEmpty || router.Plan(s_planB, state).IsEmpty, "the router ended in a mix of both plans");
    }

    [Fact]
    public void An_unreachable_next_hop_fails_cleanly_with_nothing_applied()
    {
        Root.Require();
        using var ns = RouterNs();
        var router = new Router(new NetTools(ns.Name), new RouterOptions());
        var bad = new List<RouteSlice> { new(s_egress4, "h1", IPAddress.Parse("10.99.0.1"), PortRange.Parse("40000-40511")) };
        Assert.Throws<RoutingException>(() => router.Apply(bad));
        Assert.True(router.ReadState().IsEmpty);
    }

    [Fact]
    public void An_invalid_plan_is_rejected_before_anything_is_touched()
    {
        Root.Require();
        using var ns = RouterNs();
        var router = new Router(new NetTools(ns.Name), new RouterOptions());
        var overlapping = Plan(("h1", 1, "40000-40511"), ("h2", 2, "40500-41023"));
        var ex = Assert.Throws<InvalidPlanException>(() => router.Apply(overlapping));
        Assert.Contains("overlap on ports", ex.Message, StringComparison.Ordinal);
        Assert.True(router.ReadState().IsEmpty);
    }

    [Fact]
    public void Missing_nft_is_a_clear_error_with_nothing_applied()
    {
        Root.Require();
        using var ns = RouterNs();
        var router = new Router(new NetTools(ns.Name, new NoNftRunner()), new RouterOptions());
        var ex = Assert.Throws<RoutingException>(() => router.Apply(s_planA));
        Assert.Contains("nft", ex.Message, StringComparison.Ordinal);
        Assert.True(new Router(new NetTools(ns.Name), new RouterOptions()).ReadState().IsEmpty);
    }

    private sealed class NoNftRunner : IToolRunner
    {
        public ToolResult Run(string file, IReadOnlyList<string> args, string? stdin = null) =>
            file == "nft" || args.Contains("nft")
                ? throw new RoutingException("'nft' is not installed or not on PATH (simulated).")
                : ProcessToolRunner.Instance.Run(file, args, stdin);
    }
}
