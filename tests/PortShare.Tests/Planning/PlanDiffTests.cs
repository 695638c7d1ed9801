using System.Net;
using PortShare.Planning;

namespace PortShare.Tests.Planning;

public class PlanDiffTests
{
    private static readonly IPAddress s_e1 = IPAddress.Parse("192.0.2.1");
    private static readonly IPAddress s_e2 = IPAddress.Parse("192.0.2.2");
    private static readonly IPAddress s_hop = IPAddress.Parse("198.51.100.2");

    private static Plan Plan(long generation, params (IPAddress Egress, string Host, string Ranges)[] slices) => new()
    {
        Version = PortShare.Planning.Plan.CurrentVersion,
        Generation = generation,
        MinSliceSize = 2,
        Alignment = 2,
        Egress = [.. slices.GroupBy(s => s.Egress).Select(g => new EgressPlan
        {
            Address = g.Key,
            UsableRange = new PortRange(1024, 65535),
            Slices = [.. g.Select(s => new HostSlice { Host = s.Host, NextHop = s_hop, Ranges = [.. s.Ranges.Split(',').Select(PortRange.Parse)] })],
        })],
    };

    [Fact]
    public void Counts_kept_released_and_acquired_ports_per_host_and_egress_ip()
    {
        var before = Plan(1, (s_e1, "a", "1024-1123"), (s_e1, "b", "1124-1223"), (s_e2, "a", "2000-2009"));
        var after = Plan(2, (s_e1, "a", "1024-1073"), (s_e1, "b", "1124-1223"), (s_e1, "c", "1074-1123"), (s_e2, "a", "2000-2009,3000-3009"));
        var m = PlanDiff.Compare(before, after);

        Assert.Equal((1L, 2L), (m.PreviousGeneration, m.Generation));
        var a1 = m.Hosts.Single(h => h.Egress == "192.0.2.1" && h.Host == "a");
        Assert.Equal((100, 50, 50, 50, 0), (a1.Before, a1.After, a1.Kept, a1.Released, a1.Acquired));
        var c = m.Hosts.Single(h => h.Host == "c");
        Assert.Equal((0, 50, 0, 0, 50), (c.Before, c.After, c.Kept, c.Released, c.Acquired));
        var a2 = m.Hosts.Single(h => h.Egress == "192.0.2.2");
        Assert.Equal((10, 20, 10, 0, 10), (a2.Before, a2.After, a2.Kept, a2.Released, a2.Acquired));
        Assert.Equal(210, m.PreviouslyOwnedPorts);
        Assert.Equal(50, m.MovedPorts);
    }

    [Fact]
    public void A_removed_host_and_a_removed_egress_ip_release_everything()
    {
        var before = Plan(1, (s_e1, "a", "1024-1123"), (s_e1, "gone", "1124-1223"), (s_e2, "a", "2000-2009"));
        var after = Plan(2, (s_e1, "a", "1024-1223"));
        var m = PlanDiff.Compare(before, after);
        var gone = m.Hosts.Single(h => h.Host == "gone");
        Assert.Equal((100, 0, 100), (gone.Before, gone.After, gone.Released));
        var dropped = m.Hosts.Single(h => h.Egress == "192.0.2.2");
        Assert.Equal((10, 0, 10), (dropped.Before, dropped.After, dropped.Released));
        Assert.Equal(110, m.MovedPorts);
    }

    [Theory]
    [InlineData("1024-1123", "1100-1199", 100, 100, 24)]
    [InlineData("1024-1123", "2000-2001", 100, 2, 0)]
    [InlineData("1024-1033,1040-1049", "1030-1043", 20, 14, 8)]
    [InlineData("1024-1033,1030-1035", "1024-1035", 12, 12, 12)] // a port listed twice counts once
    public void Overlap_counts_each_port_once(string before, string after, int b, int a, int kept)
    {
        static PortRange[] R(string text) => [.. text.Split(',').Select(PortRange.Parse)];
        Assert.Equal((b, a, kept), PlanDiff.Overlap(R(before), R(after)));
    }

    [Fact]
    public void Replanning_a_fleet_compares_in_linear_time_and_agrees_with_a_port_by_port_count()
    {
        var spec = PlanTestData.Equal(200, new PortRange(1024, 65535));
        var plan = Planner.Create(spec);
        var (next, movement) = Planner.Replan(plan, spec with { Hosts = [.. spec.Hosts, PlanTestData.Host("new")] });
        var e = plan.Egress[0].Address;
        long moved = 0;
        for (var port = 1024; port <= 65535; port++)
        {
            var owner = plan.Owner(e, (ushort)port)?.Host;
            if (owner is not null && owner != next.Owner(e, (ushort)port)?.Host)
            {
                moved++;
            }
        }

        Assert.Equal(moved, movement.MovedPorts);
    }
}
