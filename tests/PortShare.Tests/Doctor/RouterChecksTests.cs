using System.Net;
using PortShare.Cli.Doctor;
using PortShare.Routing;

namespace PortShare.Tests.Doctor;

public class RouterChecksTests
{
    private const string Apply = "portshare router apply plan.json";
    private static readonly IPAddress s_e4 = IPAddress.Parse("192.0.2.1");

    private static readonly IReadOnlyList<RouteSlice> s_routes = [new(s_e4, "h1", IPAddress.Parse("198.51.100.2"), PortRange.Parse("32768-60999"))];

    private static DoctorResult Run(FakeRouterFacts facts) => RouterChecks.Run(facts, s_routes, Apply, 3, "r");

    private static DoctorCheck Only(DoctorResult r, string id) => Assert.Single(r.Checks, c => c.Id == id);

    [Fact]
    public void A_router_as_router_apply_leaves_it_passes_every_check()
    {
        var r = Run(new FakeRouterFacts());
        Assert.True(r.Passed, string.Join("\n", r.Checks.Where(c => c.Status != CheckStatus.Pass).Select(c => $"{c.Id}: {c.Detail}")));
        Assert.Equal(0, r.Warnings);
        Assert.Contains("generation 3", Only(r, "installed_matches_plan").Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_route_fails_with_what_apply_would_change()
    {
        var facts = new FakeRouterFacts { Changes = ["ip -4 route replace 192.0.2.1 via 198.51.100.2 table 5301"] };
        var c = Only(Run(facts), "installed_matches_plan");
        Assert.Equal(CheckStatus.Fail, c.Status);
        Assert.Contains("route replace 192.0.2.1 via 198.51.100.2 table 5301", c.Detail, StringComparison.Ordinal);
        Assert.Equal(Apply + " --backend nftables", c.Fix);
        Assert.Equal(Apply + " --backend iprule", Only(Run(new FakeRouterFacts { Changes = ["x"], Backend = RouterBackend.IpRule }), "installed_matches_plan").Fix);
    }

    [Fact]
    public void Forwarding_off_conntrack_entries_and_failed_neighbours_fail()
    {
        var facts = new FakeRouterFacts { Conntrack = 12, Neighbours = [new(IPAddress.Parse("198.51.100.2"), "h1", ["FAILED"])] };
        facts.Sysctls["net/ipv4/ip_forward"] = "0";
        var r = Run(facts);
        Assert.Equal(CheckStatus.Fail, Only(r, "forwarding").Status);
        Assert.Equal("sysctl -w net.ipv4.ip_forward=1", Only(r, "forwarding").Fix);
        Assert.Contains("12 entries", Only(r, "conntrack_entries").Detail, StringComparison.Ordinal);
        Assert.Equal(CheckStatus.Fail, Only(r, "next_hop").Status);
    }

    [Fact]
    public void An_unresolved_next_hop_or_unknown_conntrack_only_warns()
    {
        var r = Run(new FakeRouterFacts { Conntrack = null, Neighbours = [] });
        Assert.Equal(CheckStatus.Warn, Only(r, "next_hop").Status);
        Assert.Equal(CheckStatus.Warn, Only(r, "conntrack_entries").Status);
        Assert.True(r.Passed);
    }

    [Fact]
    public void Without_the_blackhole_or_the_drop_unowned_ports_fail()
    {
        var facts = new FakeRouterFacts();
        facts.State = facts.State with { Rules = facts.State.Rules.Where(r => r.Table is not null).ToList() };
        Assert.Equal(CheckStatus.Fail, Only(Run(facts), "unowned_ports_dropped").Status);
        var noDrop = new FakeRouterFacts();
        noDrop.NftRuleset = noDrop.NftRuleset!.Replace("counter packets 0 bytes 0 drop", "counter packets 0 bytes 0 accept", StringComparison.Ordinal);
        Assert.Equal(CheckStatus.Fail, Only(Run(noDrop), "unowned_ports_dropped").Status);
    }

    [Fact]
    public void Fwmark_reflect_warns_for_nftables_and_iprule_warns_about_echo_replies()
    {
        var facts = new FakeRouterFacts();
        facts.Sysctls["net/ipv4/fwmark_reflect"] = "0";
        Assert.Equal(CheckStatus.Warn, Only(Run(facts), "fwmark_reflect").Status);
        var iprule = Run(new FakeRouterFacts { Backend = RouterBackend.IpRule });
        Assert.DoesNotContain(iprule.Checks, c => c.Id == "fwmark_reflect");
        Assert.Equal(CheckStatus.Warn, Only(iprule, "echo_replies").Status);
    }

    [Fact]
    public void Nat_on_the_router_for_the_egress_address_fails()
    {
        var facts = new FakeRouterFacts();
        facts.NftRuleset += "\ntable ip nat {\n\tchain post {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\t\tsnat ip to 192.0.2.1\n\t}\n}\n";
        Assert.Equal(CheckStatus.Fail, Only(Run(facts), "no_nat").Status);
    }
}
