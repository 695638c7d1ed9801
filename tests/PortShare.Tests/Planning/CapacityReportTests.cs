using System.Net;
using PortShare.Planning;

namespace PortShare.Tests.Planning;

public class CapacityReportTests
{
    private static readonly Plan s_example = Planner.Create(PlanTestData.Example());

    [Fact]
    public void The_summary_counts_hosts_ports_shares_and_sizes_without_per_host_rows()
    {
        var report = CapacityReport.Create(s_example, static _ => false);
        var v4 = report.Egress[0];
        Assert.Equal("192.0.2.1", v4.Egress);
        Assert.Equal(4, v4.Hosts);
        Assert.Empty(v4.Slices);
        Assert.Equal(60999 - 32768 + 1 - 101, v4.UsablePorts);
        Assert.Equal(101, v4.ReservedPorts);
        Assert.Equal(s_example.Egress[0].Slices.Sum(s => s.PortCount), v4.AllocatedPorts);
        Assert.Equal(v4.UsablePorts - v4.AllocatedPorts, v4.SparePorts);
        Assert.Equal(new ShareOf("dns-1", 4096, Math.Round(4096.0 / v4.UsablePorts, 6)), v4.Smallest);
        Assert.Equal("web-1", v4.Largest!.Host);
        Assert.Equal([new SizeBucket(4096, 8191, 2), new SizeBucket(8192, 16383, 2)], v4.Distribution);
        Assert.Equal(v4.Hosts, v4.Distribution.Sum(b => b.Slices));
        Assert.Equal((0, 0), (v4.LowEntropySlices, v4.SmallSlices));
    }

    [Fact]
    public void Rows_are_kept_for_the_selected_hosts_only()
    {
        var report = CapacityReport.Create(s_example, s => s.Host == "web-1");
        Assert.All(report.Egress, e => Assert.Equal("web-1", Assert.Single(e.Slices).Host));
        Assert.Equal(2, CapacityReport.Create(s_example).Egress.Sum(e => e.Slices.Count(s => s.Host.StartsWith("web", StringComparison.Ordinal))) / 2);
    }

    [Fact]
    public void Small_and_split_slices_are_counted_and_warned_about()
    {
        var plan = Planner.Create(PlanTestData.Equal(100, new PortRange(40000, 40999)));
        var e = CapacityReport.Create(plan).Egress[0];
        Assert.Equal(100, e.LowEntropySlices);
        Assert.Equal(100, e.SmallSlices);
        Assert.All(e.Slices, s => Assert.Contains(s.Warnings, w => w.Contains("bits of source-port entropy", StringComparison.Ordinal)));

        var first = plan.Egress[0].Slices[0];
        var split = plan with
        {
            Egress = [plan.Egress[0] with { Slices = [first with { Ranges = [new PortRange(40000, 40001), new PortRange(40004, 40005)] }, .. plan.Egress[0].Slices.Skip(1)] }],
        };
        var report = CapacityReport.Create(split).Egress[0];
        Assert.Equal(1, report.SplitSlices);
        Assert.Contains(report.Slices[0].Warnings, w => w.Contains("2 separate ranges", StringComparison.Ordinal));
        Assert.Equal(new ShareOf(first.Host, 4, Math.Round(4.0 / report.UsablePorts, 6)), report.Smallest);
    }

    [Fact]
    public void Reserved_ports_outside_the_usable_range_are_not_counted()
    {
        var plan = s_example with { Egress = [s_example.Egress[0] with { Reserved = [.. s_example.Egress[0].Reserved, new PortRange(100, 199)] }] };
        Assert.Equal(101, CapacityReport.Create(plan, static _ => false).Egress[0].ReservedPorts);
        Assert.Equal(IPAddress.Parse("192.0.2.1"), plan.Egress[0].Address);
    }
}
