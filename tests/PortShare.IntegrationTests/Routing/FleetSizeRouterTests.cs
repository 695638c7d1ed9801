using System.Globalization;
using System.Net;
using PortShare.IntegrationTests.Infrastructure;
using PortShare.Planning;
using PortShare.Routing;

namespace PortShare.IntegrationTests.Routing;

/// <summary>
/// A fleet-size plan on a real router namespace (the CI-sized cut of issue 16's 10,000 × 16: 2,000 hosts × 4 egress
/// IPs, 8,000 slices): applies from empty, re-applies a one-host re-plan as a small change, and is removed cleanly.
/// </summary>
[Trait("Category", "RequiresRoot")]
public sealed class FleetSizeRouterTests
{
    private const int Hosts = 2000;

    [Theory]
    [InlineData(RouterBackend.Netdev)]
    [InlineData(RouterBackend.Nftables)]
    public void Thousands_of_hosts_apply_re_apply_incrementally_and_remove_cleanly(RouterBackend backend)
    {
        Root.Require();
        using var ns = TestNetns.Create();
        ns.Ip("link", "add", "d0", "type", "veth", "peer", "name", "d1");
        ns.Ip("addr", "add", "198.18.0.1/15", "dev", "d0");
        ns.Ip("link", "set", "dev", "d0", "up");
        ns.Ip("link", "set", "dev", "d1", "up");

        var plan = Planner.Create(Spec(Hosts));
        var router = new Router(new NetTools(ns.Name), new RouterOptions { Backend = backend, Uplinks = ["d1"] });
        var first = router.Apply(PlanRoutes.From(plan, DateTimeOffset.UtcNow), generation: plan.Generation);
        Assert.False(first.IsEmpty);
        Assert.Equal(plan.Assignments().Sum(a => a.Ranges.Count), router.Show().Count);
        var status = router.Status();
        Assert.Equal(backend == RouterBackend.Netdev ? "netdev" : "nftables", status.Backend);

        // One host more: a keep-ports re-plan moves few ports, and applying it touches only what differs.
        var (next, movement) = Planner.Replan(plan, Spec(Hosts + 1));
        Assert.True(movement.MovedPorts < movement.PreviouslyOwnedPorts / 100, $"{movement.MovedPorts} of {movement.PreviouslyOwnedPorts} ports moved");
        var second = router.Apply(PlanRoutes.From(next, DateTimeOffset.UtcNow), generation: next.Generation);
        var ipChanges = second.Add.Values.Sum(l => l.Count) + second.Delete.Values.Sum(l => l.Count);
        Assert.True(ipChanges < 50, $"{ipChanges} ip rule/route commands for a one-host re-plan");
        if (backend == RouterBackend.Netdev)
        {
            // netdev changes only the elements and chains that differ; the fwmark backend replaces its map atomically.
            Assert.DoesNotContain("delete table", second.Nft ?? string.Empty, StringComparison.Ordinal);
        }

        Assert.Equal(next.Assignments().Sum(a => a.Ranges.Count), router.Show().Count);
        Assert.True(router.Apply(PlanRoutes.From(next, DateTimeOffset.UtcNow), generation: next.Generation).IsEmpty);

        router.Remove();
        Assert.Empty(router.Show());
        Assert.DoesNotContain("portshare", Proc.Check("ip", "netns", "exec", ns.Name, "nft", "list", "tables"), StringComparison.Ordinal);
        Assert.DoesNotContain("proto 83", ns.Ip("rule", "show") + ns.Ip("route", "show", "table", "all"), StringComparison.Ordinal);
    }

    private static PlanSpec Spec(int hosts) => new()
    {
        Version = 1,
        UsableRange = new PortRange(1024, 65535),
        MinSliceSize = 2,
        Alignment = 2,
        Egress = [.. Enumerable.Range(1, 4).Select(i => new SpecEgress { Address = $"192.0.2.{i}" })],
        Hosts = [.. Enumerable.Range(0, hosts).Select(i => new SpecHost
        {
            Name = string.Create(CultureInfo.InvariantCulture, $"h{i:D5}"),
            NextHops = [string.Create(CultureInfo.InvariantCulture, $"198.18.{(i + 2) / 256}.{(i + 2) % 256}")],
        })],
    };
}
