using System.Net;
using PortShare.Planning;

namespace PortShare.Tests.Planning;

/// <summary>
/// The plan-file quarantine: what <c>plan update</c> records (<see cref="PortMove"/>), and what the one function
/// (<see cref="Plan.At"/>, <see cref="Plan.HostFile(string, DateTimeOffset)"/>) makes of it at a given time.
/// </summary>
public class QuarantineTests
{
    private static readonly IPAddress s_egress = IPAddress.Parse("192.0.2.1");
    private static readonly DateTimeOffset s_t0 = new(2026, 11, 25, 12, 0, 30, TimeSpan.Zero);

    private static PlanSpec Spec(params string[] hosts) => new()
    {
        Version = 1,
        UsableRange = new PortRange(40000, 40511),
        Alignment = 16,
        Egress = [new SpecEgress { Address = "192.0.2.1" }],
        Hosts = [.. hosts.Select(h => PlanTestData.Host(h))],
    };

    /// <summary>Every port of <paramref name="ranges"/>.</summary>
    private static HashSet<int> Ports(IEnumerable<PortRange> ranges) => [.. ranges.SelectMany(r => Enumerable.Range(r.Low, r.Count))];

    private static HashSet<int> Usable(Plan plan, string host, DateTimeOffset now) =>
        Ports(plan.HostFile(host, now).Slices.Where(s => s.Egress.Equals(s_egress)).SelectMany(s => s.Ports.Ranges));

    private static Dictionary<int, string> RoutedTo(Plan plan, DateTimeOffset now)
    {
        var map = new Dictionary<int, string>();
        foreach (var a in plan.At(now).Routes.Where(a => a.Egress.Equals(s_egress)))
        {
            foreach (var p in Ports(a.Ranges))
            {
                Assert.True(map.TryAdd(p, a.Host), $"port {p} routed to {map.GetValueOrDefault(p)} and {a.Host}");
            }
        }

        return map;
    }

    [Fact]
    public void A_re_plan_records_each_moved_range_with_old_owner_next_hop_new_owner_time_and_length()
    {
        var before = Planner.Create(Spec("h1", "h2", "h3"));
        var (plan, movement) = Planner.Replan(before, Spec("h1", "h2", "h3", "h4"), ReplanStrategy.KeepPorts, s_t0.AddMilliseconds(200), 60);

        Assert.Equal(Plan.CurrentVersion, plan.Version);
        var moves = plan.Egress[0].Moves;
        Assert.Equal(["h1", "h2", "h3"], moves.Select(m => m.From));
        Assert.All(moves, m =>
        {
            Assert.Equal("h4", m.To);
            Assert.Equal(before.FindSlice(m.From, s_egress)!.NextHop, m.FromNextHop);
            Assert.Equal(s_t0.AddSeconds(1), m.MovedAt); // rounded up to the second: never a shorter quarantine
            Assert.Equal(60, m.QuarantineSeconds);
            Assert.True(Ports(m.Ports).IsSubsetOf(Ports(before.GetSlice(m.From, s_egress))));
        });

        // Together the moves are exactly the ports that changed owner.
        var changed = Ports(before.Egress[0].Slices.SelectMany(s => s.Ranges)).Where(p => before.Owner(s_egress, (ushort)p)?.Host != plan.Owner(s_egress, (ushort)p)?.Host);
        Assert.Equal(changed.Order(), Ports(moves.SelectMany(m => m.Ports)).Order());
        Assert.Equal(moves.Count, movement.Quarantined.Count);
        Assert.DoesNotContain(PlanValidator.Validate(plan), i => i.Severity == IssueSeverity.Error);
    }

    [Fact]
    public void During_the_quarantine_moved_ports_are_routed_to_the_old_owner_and_in_no_host_file_then_handed_over()
    {
        var before = Planner.Create(Spec("h1", "h2", "h3"));
        var (plan, _) = Planner.Replan(before, Spec("h1", "h2", "h3", "h4"), ReplanStrategy.KeepPorts, s_t0, 60);
        var moved = Ports(plan.Egress[0].Moves.SelectMany(m => m.Ports));
        var until = s_t0.AddSeconds(60);

        foreach (var now in new[] { s_t0, s_t0.AddSeconds(30), until.AddTicks(-1) })
        {
            var routed = RoutedTo(plan, now);
            foreach (var p in moved)
            {
                Assert.Equal(before.Owner(s_egress, (ushort)p)!.Host, routed[p]);
            }

            Assert.Empty(Usable(plan, "h4", now));
            Assert.Throws<PortShareException>(() => plan.HostFile("h4", now).For(s_egress));
            Assert.All(["h1", "h2", "h3"], h => Assert.False(Usable(plan, h, now).Overlaps(moved)));
            Assert.All(plan.HostFile("h4", now).Quarantine, q => Assert.Equal(until, q.Until));
            Assert.Equal(until, plan.At(now).NextHandOver);
        }

        // At the end of the quarantine: the plan's slices, for the router and the hosts alike.
        var after = RoutedTo(plan, until);
        Assert.All(moved, p => Assert.Equal("h4", after[p]));
        Assert.Equal(Ports(plan.GetSlice("h4", s_egress)), Usable(plan, "h4", until));
        Assert.Empty(plan.At(until).Quarantined);
        Assert.Equal(plan.Egress[0].Moves.Count, plan.At(until).HandedOver.Count);
        Assert.Empty(plan.HostFile("h4", until).Quarantine);
    }

    [Fact]
    public void Quarantine_zero_hands_over_at_once_and_writes_a_version_2_plan()
    {
        var before = Planner.Create(Spec("h1", "h2", "h3"));
        var (plan, movement) = Planner.Replan(before, Spec("h1", "h2", "h3", "h4"), ReplanStrategy.KeepPorts, s_t0, 0);
        Assert.Empty(plan.Egress[0].Moves);
        Assert.Empty(movement.Quarantined);
        Assert.Equal(Plan.VersionWithoutMoves, plan.Version);
        Assert.StartsWith("{\n  \"version\": 2,", PlanJson.Serialize(plan), StringComparison.Ordinal);
        Assert.Equal(Ports(plan.GetSlice("h4", s_egress)), Usable(plan, "h4", s_t0));
        Assert.Equal(Planner.Replan(before, Spec("h1", "h2", "h3", "h4")).Plan, plan);
    }

    [Fact]
    public void Running_quarantines_carry_over_into_the_next_update_and_ended_ones_are_dropped()
    {
        var p1 = Planner.Create(Spec("h1", "h2", "h3"));
        var (p2, _) = Planner.Replan(p1, Spec("h1", "h2", "h3", "h4"), ReplanStrategy.KeepPorts, s_t0, 60);
        var first = p2.Egress[0].Moves;

        // An update 30 s later that changes nothing else: the same moves, same time, same length.
        var (carried, _) = Planner.Replan(p2, Spec("h1", "h2", "h3", "h4"), ReplanStrategy.KeepPorts, s_t0.AddSeconds(30), 60);
        Assert.Equal(first, carried.Egress[0].Moves);

        // 61 s later they are over: dropped, and nothing new moved.
        var (dropped, _) = Planner.Replan(p2, Spec("h1", "h2", "h3", "h4"), ReplanStrategy.KeepPorts, s_t0.AddSeconds(61), 60);
        Assert.Empty(dropped.Egress[0].Moves);
        Assert.Equal(Plan.VersionWithoutMoves, dropped.Version);

        // A running quarantine next to a new move: both kept, each with its own time and length.
        var (both, _) = Planner.Replan(p2, Spec("h1", "h2", "h3", "h4", "h5"), ReplanStrategy.KeepPorts, s_t0.AddSeconds(30), 10);
        var moves = both.Egress[0].Moves;
        Assert.Contains(moves, m => m.MovedAt == s_t0 && m.QuarantineSeconds == 60);
        Assert.Contains(moves, m => m.MovedAt == s_t0.AddSeconds(30) && m.QuarantineSeconds == 10 && m.To == "h5");
        Assert.DoesNotContain(PlanValidator.Validate(both), i => i.Severity == IssueSeverity.Error);
    }

    [Fact]
    public void A_port_in_quarantine_that_a_further_update_gives_to_a_third_host_stays_with_its_old_owner_until_the_end()
    {
        var p1 = Planner.Create(Spec("h1", "h2", "h3"));
        var (p2, _) = Planner.Replan(p1, Spec("h1", "h2", "h3", "h4"), ReplanStrategy.KeepPorts, s_t0, 60);
        var held = p2.Egress[0].Moves.SelectMany(m => Ports(m.Ports).Select(p => (Port: p, m.From))).ToDictionary(x => x.Port, x => x.From);

        // h4 leaves before it could use a port, and h5 comes: h4's ports, all still in quarantine, go to h5.
        var at = s_t0.AddSeconds(10);
        var (p3, _) = Planner.Replan(p2, Spec("h1", "h2", "h3", "h5"), ReplanStrategy.KeepPorts, at, 60);
        var moves = p3.Egress[0].Moves;
        Assert.All(moves, m => Assert.Equal(s_t0, m.MovedAt)); // the old quarantine, not a new one from h4 (which never used them)
        Assert.DoesNotContain(moves, m => m.From == "h4");
        Assert.Contains(moves, m => m.To == "h5");

        var routed = RoutedTo(p3, at);
        Assert.All(held, kv => Assert.Equal(kv.Value, routed[kv.Key]));
        Assert.False(Usable(p3, "h5", at).Overlaps(held.Keys));
        Assert.True(Usable(p3, "h5", s_t0.AddSeconds(60)).IsSupersetOf(held.Keys.Where(p => p3.Owner(s_egress, (ushort)p)?.Host == "h5")));

        // h4 leaves and nobody comes: a port given back to its holder ends its quarantine (the holder simply keeps it and
        // may use it again); one given to another of the old hosts stays in quarantine for its holder.
        var (back, _) = Planner.Replan(p2, Spec("h1", "h2", "h3"), ReplanStrategy.KeepPorts, at, 60);
        var backRouted = RoutedTo(back, at);
        Assert.All(back.Egress[0].Moves, m => Assert.NotEqual(m.From, back.Owner(s_egress, m.Ports[0].Low)?.Host));
        foreach (var (port, holder) in held)
        {
            var owner = back.Owner(s_egress, (ushort)port)?.Host; // null: spare now
            Assert.Equal(holder, backRouted[port]);
            Assert.Equal(owner == holder, Usable(back, holder, at).Contains(port));
            Assert.False(owner is not null && owner != holder && Usable(back, owner, at).Contains(port), $"port {port} usable by {owner} during {holder}'s quarantine");
        }
    }

    [Fact]
    public void A_removed_host_keeps_its_ports_routed_at_its_recorded_next_hop_until_the_end()
    {
        var p1 = Planner.Create(Spec("h1", "h2", "h3"));
        var hop = p1.FindSlice("h2", s_egress)!.NextHop;
        var (p2, _) = Planner.Replan(p1, Spec("h1", "h3"), ReplanStrategy.KeepPorts, s_t0, 60);
        Assert.Null(p2.FindSlice("h2", s_egress));
        Assert.Throws<PlanLookupException>(() => p2.HostFile("h2", s_t0));

        var route = Assert.Single(p2.At(s_t0).Routes, r => r.Host == "h2");
        Assert.Equal(hop, route.NextHop);
        Assert.Equal(Ports(p1.GetSlice("h2", s_egress)), Ports(route.Ranges));
        Assert.DoesNotContain(p2.At(s_t0.AddSeconds(60)).Routes, r => r.Host == "h2");

        // The file keeps what the router needs: h2's next hop, though h2 has no slice any more.
        var json = PlanJson.Serialize(p2);
        Assert.Equal(json, PlanJson.Serialize(PlanJson.DeserializePlan(json)));
        Assert.Equal(p2, PlanJson.DeserializePlan(json));
        Assert.DoesNotContain(PlanValidator.Validate(PlanJson.DeserializePlan(json)), i => i.Severity == IssueSeverity.Error);
    }

    [Fact]
    public void Who_names_the_old_owner_during_the_quarantine()
    {
        var p1 = Planner.Create(Spec("h1", "h2", "h3"));
        var (p2, _) = Planner.Replan(p1, Spec("h1", "h2", "h3", "h4"), ReplanStrategy.KeepPorts, s_t0, 60);
        var move = p2.Egress[0].Moves[0];
        var during = WhoAnswer.From(p2, s_egress, move.Ports[0].Low, s_t0.AddSeconds(5));
        Assert.Equal(move.From, during.Host);
        Assert.Equal(move.Until, during.QuarantinedUntil);
        Assert.Equal("h4", during.MovingTo);
        var after = WhoAnswer.From(p2, s_egress, move.Ports[0].Low, move.Until);
        Assert.Equal("h4", after.Host);
        Assert.Null(after.QuarantinedUntil);
    }

    [Fact]
    public void The_describe_line_says_what_until_when_and_what_to_run()
    {
        var q = new QuarantinedPorts(s_egress, [new PortRange(40000, 40127)], "h1", IPAddress.Parse("198.51.100.2"), "h3", s_t0.AddSeconds(60));
        Assert.Equal("ports 40000-40127 on 192.0.2.1: quarantined for h1 until 12:01:30Z; run router apply, then host apply on h3, again after that to hand them to h3", q.Describe(s_t0));
        Assert.Contains("until 2026-11-25T12:01:30Z", q.Describe(s_t0.AddDays(-1)), StringComparison.Ordinal);
        Assert.EndsWith("run 'portshare lab apply' again after that to hand them to h3", q.Describe(s_t0, "portshare lab apply"), StringComparison.Ordinal);
        Assert.Contains("they become spare", (q with { To = null }).Describe(s_t0), StringComparison.Ordinal);
    }

    [Fact]
    public void Replan_refuses_a_negative_or_too_long_quarantine()
    {
        var p1 = Planner.Create(Spec("h1", "h2"));
        Assert.Throws<ArgumentOutOfRangeException>(() => Planner.Replan(p1, Spec("h1", "h2", "h3"), ReplanStrategy.KeepPorts, s_t0, -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => Planner.Replan(p1, Spec("h1", "h2", "h3"), ReplanStrategy.KeepPorts, s_t0, PortMove.MaxQuarantineSeconds + 1));
    }

    /// <summary>A fleet-size re-plan compares hosts on another core while it finds the moves: the report is the one a
    /// re-plan without quarantine makes, and the moves hold exactly the moved ports.</summary>
    [Fact]
    public void A_fleet_size_re_plan_with_quarantine_reports_the_movement_of_a_plain_re_plan_and_records_every_moved_port()
    {
        var spec = PlanTestData.Fleet(egress: 3, hosts: 8_000);
        Assert.True(spec.Egress.Count * spec.Hosts.Count >= Fanout.MinParallelSlices);
        var before = Planner.Create(spec);
        var changed = spec with { Hosts = [.. spec.Hosts.Where((_, i) => i % 97 != 5), PlanTestData.Host("new-1", 3), PlanTestData.Host("new-2")] };

        var (plan, movement) = Planner.Replan(before, changed, ReplanStrategy.KeepPorts, s_t0, 60);
        var plain = Planner.Replan(before, changed).Movement;

        Assert.Equal(plain.Hosts, movement.Hosts);
        Assert.Equal(plain.MovedPorts, movement.MovedPorts);
        Assert.Equal(plain.PreviouslyOwnedPorts, movement.PreviouslyOwnedPorts);
        Assert.True(movement.MovedPorts > 0);
        Assert.Equal(movement.MovedPorts, plan.Egress.Sum(e => e.Moves.Sum(m => (long)PortSet.Count(m.Ports))));
        Assert.Equal(plan.Egress.Sum(e => e.Moves.Count), movement.Quarantined.Count);
        Assert.Equal(PlanDiff.Compare(before, plan).Hosts, movement.Hosts);
    }
}
