using System.Diagnostics;
using System.Net;
using PortShare.Planning;

namespace PortShare.Tests.Planning;

public class PlannerTests
{
    private static readonly IPAddress s_v4 = IPAddress.Parse("192.0.2.1");
    private static readonly IPAddress s_v6 = IPAddress.Parse("2001:db8:1::1");

    internal static List<PlanIssue> Errors(Plan plan) => [.. PlanValidator.Validate(plan).Where(i => i.Severity == IssueSeverity.Error)];

    [Fact]
    public void Example_plan_is_valid_and_gives_every_host_its_share()
    {
        var plan = Planner.Create(PlanTestData.Example());
        Assert.Empty(PlanValidator.Validate(plan));
        Assert.Equal(1, plan.Generation);

        // dns-1 is pinned to 4096 ports and only on the IPv4 egress IP.
        Assert.Equal(4096, plan.FindSlice("dns-1", s_v4)!.PortCount);
        Assert.Null(plan.FindSlice("dns-1", s_v6));

        // web-1 and web-2 (weight 2) get twice batch-1 (weight 1), within one alignment unit (256).
        var web1 = plan.FindSlice("web-1", s_v6)!.PortCount;
        var batch = plan.FindSlice("batch-1", s_v6)!.PortCount;
        Assert.InRange(web1, (2 * batch) - 512, (2 * batch) + 512);
        Assert.Equal(System.Net.IPAddress.Parse("2001:db8:100::2"), plan.FindSlice("web-1", s_v6)!.NextHop);
    }

    [Fact]
    public void Finding_a_slice_answers_alike_before_and_after_the_egress_IP_indexes_its_hosts()
    {
        // 200 slices (above the size that is always scanned), h7 listed twice as a hand-edited plan might: the first one
        // counts, and hosts not there are null, for the first look-ups (scanned) and every later one (indexed).
        var hop = IPAddress.Parse("10.0.0.1");
        var slices = Enumerable.Range(0, 200).Select(i => new HostSlice { Host = $"h{i}", NextHop = hop, Ranges = [new PortRange((ushort)(10_000 + (2 * i)), (ushort)(10_001 + (2 * i)))] })
            .Append(new HostSlice { Host = "h7", NextHop = hop, Ranges = [new PortRange(20_000, 20_001)] }).ToArray();
        var egress = new EgressPlan { Address = s_v4, UsableRange = new PortRange(1024, 65535), Slices = slices };
        for (var round = 0; round < 40; round++)
        {
            var host = (round * 37) % 200;
            Assert.Same(slices[host], egress.FindSlice($"h{host}"));
            Assert.Same(slices[7], egress.FindSlice("h7"));
            Assert.Null(egress.FindSlice("h200"));
        }

        // A copy with other slices forgets what the first one learned.
        var other = egress with { Slices = slices[100..200] };
        Assert.Null(other.FindSlice("h7"));
        Assert.Same(slices[150], other.FindSlice("h150"));
    }

    [Fact]
    public void Reserved_ports_split_a_hosts_ranges_and_its_host_file_has_exactly_those_ranges()
    {
        var plan = Planner.Create(PlanTestData.Example());
        var web1 = plan.GetAssignment("web-1", s_v4);
        var reserved = new PortRange(40000, 40099);
        Assert.All(web1.Ranges, r => Assert.False(r.Overlaps(reserved)));
        Assert.True(web1.Ranges.Count >= 2);

        // The one function every consumer uses gives the exact ranges, never a joined range over the reserved ports.
        var ports = plan.HostFile("web-1", DateTimeOffset.UtcNow).For(s_v4).Ports;
        Assert.Equal(web1.Ranges, ports.Ranges);
        Assert.False(ports.Contains(40002));
        Assert.Contains(ports.Gaps(), g => g.Contains(reserved));
        Assert.Equal(plan.Generation, plan.HostFile("web-1", DateTimeOffset.UtcNow).PlanGeneration);
        Assert.Throws<PlanLookupException>(() => plan.HostFile("nobody", DateTimeOffset.UtcNow));
    }

    [Fact]
    public void Library_lookup_returns_the_ranges_or_names_what_is_missing()
    {
        var plan = Planner.Create(PlanTestData.Example());
        var ranges = plan.GetSlice("batch-1", s_v4);
        Assert.Equal(plan.FindSlice("batch-1", s_v4)!.Ranges, ranges);
        var noHost = Assert.Throws<PlanLookupException>(() => plan.GetSlice("nobody", s_v4));
        Assert.Contains("'nobody'", noHost.Message, StringComparison.Ordinal);
        var noIp = Assert.Throws<PlanLookupException>(() => plan.GetSlice("web-1", IPAddress.Parse("192.0.2.99")));
        Assert.Contains("192.0.2.99", noIp.Message, StringComparison.Ordinal);
        Assert.Equal("batch-1", plan.Owner(s_v4, ranges[0].Low)?.Host);
        Assert.Null(plan.Owner(s_v4, 40000)); // reserved
    }

    [Fact]
    public void Same_spec_gives_byte_identical_plans()
    {
        var a = PlanJson.Serialize(Planner.Create(PlanTestData.Example()));
        var b = PlanJson.Serialize(Planner.Create(PlanJson.DeserializeSpec(PlanJson.Serialize(PlanTestData.Example()))));
        Assert.Equal(a, b);
    }

    [Fact]
    public void Hosts_below_the_minimum_are_raised_to_it_and_the_rest_share_what_is_left()
    {
        var spec = PlanTestData.Equal(2, new PortRange(32768, 33791), minSize: 256) with
        {
            Hosts = [PlanTestData.Host("big", 100), PlanTestData.Host("small", 1)],
        };
        var plan = Planner.Create(spec);
        Assert.Equal(256, plan.FindSlice("small", s_v4)!.PortCount);
        Assert.Equal(1024 - 256, plan.FindSlice("big", s_v4)!.PortCount);
    }

    [Fact]
    public void Infeasible_spec_names_the_egress_ip_and_hosts()
    {
        var spec = PlanTestData.Equal(5, new PortRange(32768, 33791), minSize: 512);
        var ex = Assert.Throws<PlanningException>(() => Planner.Create(spec));
        Assert.Contains("egress 192.0.2.1", ex.Message, StringComparison.Ordinal);
        Assert.Contains("below min_slice_size 512", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Spare_ports_are_kept_at_the_top_of_the_range()
    {
        var spec = PlanTestData.Equal(4, new PortRange(32768, 60999), alignment: 64) with { SparePorts = 4000 };
        var plan = Planner.Create(spec);
        var egress = plan.Egress[0];
        var spare = egress.Spare.Sum(r => r.Count);
        Assert.InRange(spare, 4000, 4000 + 64 + 63);
        Assert.Equal(60999, egress.Spare[^1].High);
        Assert.Equal(28232, spare + egress.Slices.Sum(s => s.PortCount));
    }

    [Fact]
    public void Map_shape_follows_rfc7597_port_sets()
    {
        var plan = Planner.Create(PlanTestData.Example("spec-map.json"));
        Assert.Empty(Errors(plan));
        const int a = 6, k = 4, m = 16 - a - k;
        foreach (var slice in plan.Egress[0].Slices)
        {
            foreach (var r in slice.Ranges)
            {
                // Every port of a range carries the same PSID bits, excluded low ports (i = 0) never appear.
                Assert.True(r.Low >= 1 << (16 - a));
                Assert.Equal(0, r.Low % (1 << m));
                Assert.Equal(0, (r.High + 1) % (1 << m));
            }
        }

        // cpe-3 has weight 2 of 4: half the 16 PSIDs, the others a quarter each; all 63 blocks of 64 ports each.
        Assert.Equal(8 * 63 * 64, plan.Egress[0].FindSlice("cpe-3")!.PortCount);
        Assert.Equal(4 * 63 * 64, plan.Egress[0].FindSlice("cpe-1")!.PortCount);
    }

    [Theory]
    [InlineData(1, 2)]
    [InlineData(3, 2)]
    [InlineData(4, 64)]
    [InlineData(9, 16)]
    [InlineData(31, 2)]
    public void Adding_a_host_to_n_equal_hosts_moves_about_one_in_n_plus_one_ports(int n, int alignment)
    {
        var before = Planner.Create(PlanTestData.Equal(n, new PortRange(32768, 60999), alignment));
        var spec = PlanTestData.Equal(n + 1, new PortRange(32768, 60999), alignment);
        var (after, movement) = Planner.Replan(before, spec);

        Assert.Empty(Errors(after));
        var owned = before.Egress[0].Slices.Sum(s => s.PortCount);
        var bound = (owned / (n + 1.0)) + (n * alignment);
        Assert.Equal(owned, movement.PreviouslyOwnedPorts);
        Assert.InRange(movement.MovedPorts, 0, (long)bound);
        Assert.Equal(movement.MovedPorts, movement.Hosts.Single(h => h.Host == PlanTestData.Name(n)).Acquired);
        Assert.Equal(2, after.Generation);

        // The compact strategy restores one range per host, and moves more.
        var compact = Planner.Replan(before, spec, ReplanStrategy.Compact);
        Assert.All(compact.Plan.Egress[0].Slices, s => Assert.Single(s.Ranges));
        Assert.True(compact.Movement.MovedPorts >= movement.MovedPorts);
    }

    [Fact]
    public void Removing_a_host_leaves_the_others_ports_in_place()
    {
        var spec = PlanTestData.Example();
        var before = Planner.Create(spec);
        var (after, movement) = Planner.Replan(before, spec with { Hosts = [.. spec.Hosts.Where(h => h.Name != "web-2")] });
        Assert.All(movement.Hosts.Where(h => h.Host != "web-2"), h => Assert.Equal(0, h.Released));
        Assert.All(movement.Hosts.Where(h => h.Host == "web-2"), h => Assert.Equal(h.Before, h.Released));
        Assert.Null(after.FindSlice("web-2", s_v4));
        Assert.Empty(Errors(after));
    }

    [Fact]
    public void Ten_thousand_hosts_on_sixteen_egress_ips_plan_and_replan()
    {
        var spec = PlanTestData.Fleet(egress: 16, hosts: 10_000);
        var clock = Stopwatch.StartNew();
        var plan = Planner.Create(spec);
        var elapsed = clock.Elapsed;
        Assert.Equal(16 * 10_000, plan.Egress.Sum(e => e.Slices.Count));
        Assert.Empty(Errors(plan));
        var (next, _) = Planner.Replan(plan, spec with { Hosts = [.. spec.Hosts.Skip(1), PlanTestData.Host("new-host")] });
        Assert.Equal(16 * 10_000, next.Egress.Sum(e => e.Slices.Count));
        TestContext.Current.TestOutputHelper?.WriteLine($"planned 10,000 hosts x 16 egress IPs in {elapsed.TotalMilliseconds:0} ms (timing is reported, not asserted)");
    }

    /// <summary>A fleet-size spec that does not fit: the egress IPs are cut side by side, and every egress IP's problems
    /// are reported, in the spec's egress order, as planning each alone reports them.</summary>
    [Fact]
    public void A_fleet_spec_that_does_not_fit_reports_every_egress_ip_s_problems_in_order()
    {
        var spec = new PlanSpec
        {
            Version = 1,
            UsableRange = new PortRange(1024, 65535),
            MinSliceSize = 50,
            Egress = [.. Enumerable.Range(1, 16).Select(i => new SpecEgress { Address = $"192.0.2.{i}" })],
            Hosts = [.. Enumerable.Range(0, 1_300).Select(i => PlanTestData.Host(PlanTestData.Name(i)))],
        };
        Assert.True(spec.Egress.Count * spec.Hosts.Count >= Fanout.MinParallelSlices);

        var all = Assert.Throws<PlanningException>(() => Planner.Create(spec));
        var alone = spec.Egress.SelectMany(e => Assert.Throws<PlanningException>(() => Planner.Create(spec with { Egress = [e] })).Problems).ToList();
        Assert.NotEmpty(alone);
        Assert.Equal(alone, all.Problems);
        Assert.Contains("egress 192.0.2.16", all.Problems[^1], StringComparison.Ordinal);
    }

    /// <summary>
    /// A fleet's plan is cut, re-planned, compared and its moves found egress IP by egress IP side by side (above
    /// <see cref="Fanout.MinParallelSlices"/>): each egress IP of the whole plan must be what planning that egress IP alone
    /// gives (one egress IP of 1,600 hosts is worked on the calling thread), and the movement rows those of each alone, in
    /// egress order.
    /// </summary>
    [Fact]
    public void A_fleet_plan_worked_side_by_side_equals_each_egress_ip_planned_alone()
    {
        var egress = Enumerable.Range(1, 8).Select(i => $"192.0.2.{i}").Concat(Enumerable.Range(1, 8).Select(i => $"2001:db8:1::{i}")).ToArray();
        var spec = new PlanSpec
        {
            Version = 1,
            UsableRange = new PortRange(1024, 65535),
            Reserved = [new PortRange(8080, 8080), new PortRange(40000, 40100)],
            SparePorts = 2000,
            Egress = [.. egress.Select(a => new SpecEgress { Address = a })],
            Hosts = [.. Enumerable.Range(0, 1_600).Select(i => PlanTestData.Host(PlanTestData.Name(i), 1 + (i % 5)))],
        };
        Assert.True(spec.Egress.Count * spec.Hosts.Count >= Fanout.MinParallelSlices);

        // Hosts leave, join and change weight, so that slices split and ports move into quarantine.
        var changed = spec with
        {
            Hosts = [.. spec.Hosts.Where((_, i) => i % 7 != 3).Select((h, i) => i % 11 == 0 ? h with { Weight = h.Weight + 3 } : h),
                     .. Enumerable.Range(0, 40).Select(i => PlanTestData.Host($"joined-{i}", 2))],
        };
        var now = new DateTimeOffset(2026, 12, 2, 12, 0, 0, TimeSpan.Zero);
        var plan = Planner.Create(spec);
        var (next, movement) = Planner.Replan(plan, changed, ReplanStrategy.KeepPorts, now, 60);
        Assert.Empty(Errors(next));

        var rows = new List<HostMovement>();
        for (var e = 0; e < egress.Length; e++)
        {
            var alone = spec with { Egress = [spec.Egress[e]] };
            var alonePlan = Planner.Create(alone);
            var (aloneNext, aloneMovement) = Planner.Replan(alonePlan, changed with { Egress = [spec.Egress[e]] }, ReplanStrategy.KeepPorts, now, 60);
            Assert.Equal(alonePlan.Egress[0].Slices, plan.Egress[e].Slices);
            Assert.Equal(alonePlan.Egress[0].Spare, plan.Egress[e].Spare);
            Assert.Equal(aloneNext.Egress[0].Slices, next.Egress[e].Slices);
            Assert.Equal(aloneNext.Egress[0].Spare, next.Egress[e].Spare);
            Assert.Equal(aloneNext.Egress[0].Moves, next.Egress[e].Moves);
            rows.AddRange(aloneMovement.Hosts);
        }

        Assert.Contains(next.Egress, e => e.Moves.Count > 0);
        Assert.Contains(next.Egress.SelectMany(e => e.Slices), s => s.Ranges.Count > 1);
        Assert.Equal(rows, movement.Hosts);
        Assert.Equal(rows.Sum(r => (long)r.Before), movement.PreviouslyOwnedPorts);
        Assert.Equal(rows.Sum(r => (long)r.Released), movement.MovedPorts);
    }
}
