using System.Net;
using PortShare.Routing;

namespace PortShare.Tests.Routing;

/// <summary>The diff a router apply computes, against a given installed state (no kernel, no tools run).</summary>
public class RouterPlanTests
{
    private static readonly IPAddress s_e4 = IPAddress.Parse("192.0.2.1");
    private static readonly RouterState s_empty = new([], [], null);

    private static Router Router(RouterBackend backend = RouterBackend.Nftables) =>
        new(new NetTools(null, new ThrowingRunner()), new RouterOptions { Backend = backend });

    private static List<RouteSlice> Plan(params (string Host, int N, string Range)[] hosts) =>
        [.. hosts.Select(h => new RouteSlice(s_e4, h.Host, IPAddress.Parse($"198.51.100.{h.N + 1}"), PortRange.Parse(h.Range)))];

    [Fact]
    public void Nftables_plan_adds_routes_then_rules_then_the_table()
    {
        var change = Router().Plan(Plan(("a", 1, "40000-40511"), ("b", 2, "40512-41023")), s_empty);
        var a = change.Hosts.Single(h => h.Host == "a");
        var b = change.Hosts.Single(h => h.Host == "b");
        Assert.Equal(a.Table - 5300, (int)(a.Mark - 0x50530000));
        Assert.Equal(
            [
                $"route replace 192.0.2.1 via 198.51.100.2 table {a.Table} proto 83",
                $"route replace 192.0.2.1 via 198.51.100.3 table {b.Table} proto 83",
                "rule add pref 5399 to 192.0.2.1 blackhole protocol 83",
                .. change.Hosts.Select(h => $"rule add pref 5300 fwmark 0x{h.Mark:x} lookup {h.Table} protocol 83"),
            ],
            change.Add[4].Order(StringComparer.Ordinal).Where(l => l.StartsWith("route", StringComparison.Ordinal)).Concat(change.Add[4].Where(l => l.StartsWith("rule", StringComparison.Ordinal))));
        Assert.NotNull(change.Nft);
        Assert.Empty(change.Delete[4]);
        Assert.Empty(change.Add[6]);
    }

    [Fact]
    public void Host_numbers_are_a_function_of_the_plan_not_of_its_history()
    {
        var router = Router();
        var final = Plan(("a", 1, "40000-40255"), ("c", 3, "40256-40511"), ("d", 4, "40512-41023"));
        var clean = router.Plan(final, s_empty).Hosts;
        // The same final plan after three re-plans (b joins, c joins, b leaves and d joins) numbers every host the same.
        var history = new[]
        {
            Plan(("a", 1, "40000-40511")),
            Plan(("a", 1, "40000-40511"), ("b", 2, "40512-41023")),
            Plan(("a", 1, "40000-40255"), ("b", 2, "40512-41023"), ("c", 3, "40256-40511")),
        };
        foreach (var step in history)
        {
            Assert.All(router.Plan(step, s_empty).Hosts, h => Assert.Equal(clean.FirstOrDefault(c => c.Host == h.Host)?.Table ?? h.Table, h.Table));
        }

        Assert.Equal(clean, router.Plan(final, s_empty).Hosts, (x, y) => x.Host == y.Host && x.Table == y.Table && x.Mark == y.Mark);
    }

    [Fact]
    public void Ten_thousand_hosts_get_distinct_tables_and_marks_with_the_default_range_and_a_clear_error_past_a_small_one()
    {
        var many = Enumerable.Range(0, 10_000)
            .Select(i => new RouteSlice(s_e4, $"host{i}", IPAddress.Parse($"198.18.{i / 250}.{(i % 250) + 1}"), new PortRange((ushort)(10000 + (i * 4)), (ushort)(10003 + (i * 4)))))
            .ToList();
        var change = Router().Plan(many, s_empty);
        Assert.Equal(10_000, change.Hosts.Select(h => h.Table).Distinct().Count());
        Assert.All(change.Hosts, h => Assert.InRange(h.Table, 5301, 5300 + 65535));
        Assert.Contains(change.Warnings, w => w.Contains("netdev", StringComparison.Ordinal));

        var small = new Router(new NetTools(null, new ThrowingRunner()), new RouterOptions { TableCount = 100 });
        var ex = Assert.Throws<InvalidPlanException>(() => small.Plan(many, s_empty));
        Assert.Contains("--table-count", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Iprule_plan_has_a_rule_per_slice_and_protocol()
    {
        var change = Router(RouterBackend.IpRule).Plan(Plan(("a", 1, "40000-40511")), s_empty);
        var table = change.Hosts.Single().Table;
        Assert.Contains($"rule add pref 5300 to 192.0.2.1 ipproto tcp dport 40000-40511 lookup {table} protocol 83", change.Add[4]);
        Assert.Contains($"rule add pref 5300 to 192.0.2.1 ipproto udp dport 40000-40511 lookup {table} protocol 83", change.Add[4]);
        Assert.Null(change.Nft);
    }

    [Fact]
    public void Iprule_rejects_a_slice_ending_at_65535_and_warns_on_large_plans()
    {
        var ex = Assert.Throws<InvalidPlanException>(() => Router(RouterBackend.IpRule).Plan(Plan(("a", 1, "65000-65535")), s_empty));
        Assert.Contains("65535", ex.Message, StringComparison.Ordinal);

        var many = Enumerable.Range(0, 400).Select(i => new RouteSlice(s_e4, "h" + (i % 4), IPAddress.Parse($"198.51.100.{(i % 4) + 2}"), new PortRange((ushort)(40000 + (i * 2)), (ushort)(40001 + (i * 2))))).ToList();
        var change = Router(RouterBackend.IpRule).Plan(many, s_empty);
        Assert.Contains(change.Warnings, w => w.Contains("nftables", StringComparison.Ordinal));
    }

    [Fact]
    public void Re_planning_against_the_installed_state_deletes_only_what_is_gone_and_keeps_tables()
    {
        var router = Router(RouterBackend.IpRule);
        var first = router.Plan(Plan(("a", 1, "40000-40511"), ("b", 2, "40512-41023")), s_empty);
        int ta = first.Hosts.Single(h => h.Host == "a").Table, tb = first.Hosts.Single(h => h.Host == "b").Table;
        var installed = new RouterState(
            [
                new IpRule(4, 5300, "192.0.2.1", "tcp", PortRange.Parse("40000-40511"), null, ta),
                new IpRule(4, 5300, "192.0.2.1", "udp", PortRange.Parse("40000-40511"), null, ta),
                new IpRule(4, 5300, "192.0.2.1", "tcp", PortRange.Parse("40512-41023"), null, tb),
                new IpRule(4, 5300, "192.0.2.1", "udp", PortRange.Parse("40512-41023"), null, tb),
                new IpRule(4, 5399, "192.0.2.1", null, null, null, null),
            ],
            [new IpRoute(4, ta, "192.0.2.1", "198.51.100.2"), new IpRoute(4, tb, "192.0.2.1", "198.51.100.3")],
            null);
        Assert.Equal(first.Count, installed.Rules.Count + installed.Routes.Count);

        // b leaves, c arrives: a keeps its table, c gets its own (not b's: b's live replies would be re-pointed).
        var change = router.Plan(Plan(("a", 1, "40000-40511"), ("c", 3, "40512-41023")), installed);
        Assert.NotEqual(tb, change.Hosts.Single(h => h.Host == "c").Table);
        Assert.Equal(ta, change.Hosts.Single(h => h.Host == "a").Table);
        Assert.Contains($"route del 192.0.2.1 table {tb}", change.Delete[4]);
        Assert.Contains($"rule del pref 5300 to 192.0.2.1 ipproto tcp dport 40512-41023 lookup {tb} protocol 83", change.Delete[4]);
        Assert.DoesNotContain(change.Add[4], l => l.Contains($"table {ta}", StringComparison.Ordinal) || l.Contains($"lookup {ta}", StringComparison.Ordinal));
        Assert.True(router.Plan(Plan(("a", 1, "40000-40511"), ("b", 2, "40512-41023")), installed).IsEmpty);
    }

    [Fact]
    public void Validation_collects_every_problem()
    {
        var bad = new List<RouteSlice>
        {
            new(s_e4, "a b", IPAddress.Parse("198.51.100.2"), PortRange.Parse("40000-40511")),
            new(s_e4, "c", IPAddress.Parse("2001:db8::2"), PortRange.Parse("40500-40999")),
            new(s_e4, "d", IPAddress.Loopback, PortRange.Parse("50000-50001")),
        };
        var errors = RouteValidation.Validate(bad);
        Assert.Contains(errors, e => e.Contains("'a b'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("same family", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("overlap on ports 40500-40511", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("loopback", StringComparison.Ordinal));
        Assert.Contains("no slices", Assert.Single(RouteValidation.Validate([])), StringComparison.Ordinal);
    }

    [Fact]
    public void Names_with_shell_or_path_characters_are_rejected()
    {
        Assert.False(NetTools.IsValidNetnsName("a;rm -rf"));
        Assert.False(NetTools.IsValidNetnsName("../x"));
        Assert.True(NetTools.IsValidNetnsName("psl-abc123-h1"));
        Assert.Throws<ArgumentException>(() => new NetTools("bad name"));
    }

    private sealed class ThrowingRunner : IToolRunner
    {
        public ToolResult Run(string file, IReadOnlyList<string> args, string? stdin = null) =>
            throw new InvalidOperationException("a unit test must not run tools");
    }
}
