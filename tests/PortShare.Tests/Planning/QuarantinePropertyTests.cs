using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using PortShare.Planning;

namespace PortShare.Tests.Planning;

/// <summary>
/// The quarantine's invariants over random specs and two re-plans at random times: the plans stay valid; at every time
/// the routes are disjoint and each host file lies inside the ports routed to its host; no port in quarantine is in any
/// host file; a port in quarantine stays with its holder, until the same time, through a further re-plan (unless the
/// re-plan gives it back to the holder); after the last quarantine, routes and host files are the plan's slices.
/// </summary>
public class QuarantinePropertyTests
{
    private static readonly DateTimeOffset s_t0 = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);

    private static PlanSpec Change(PlanSpec spec, int change, string added)
    {
        var hosts = spec.Hosts.ToList();
        switch (change % 3)
        {
            case 0:
                hosts.Add(PlanTestData.Host(added, 1 + (change % 7)));
                break;
            case 1 when hosts.Count > 1:
                hosts.RemoveAt(change % hosts.Count);
                break;
            default:
                var i = change % hosts.Count;
                hosts[i] = hosts[i] with { Weight = 1 + (change % 11) };
                break;
        }

        return spec with { Hosts = hosts };
    }

    /// <summary>Per egress IP and port, the host the router sends it to; false when two routes claim one port.</summary>
    private static bool Routes(Plan plan, DateTimeOffset now, out Dictionary<(System.Net.IPAddress, int), string> routed)
    {
        routed = [];
        foreach (var a in plan.At(now).Routes)
        {
            foreach (var r in a.Ranges)
            {
                for (var p = (int)r.Low; p <= r.High; p++)
                {
                    if (!routed.TryAdd((a.Egress, p), a.Host))
                    {
                        return false;
                    }
                }
            }
        }

        return true;
    }

    private static string? Check(Plan plan, DateTimeOffset now)
    {
        if (PlanValidator.Validate(plan).FirstOrDefault(i => i.Severity == IssueSeverity.Error) is { } error)
        {
            return $"invalid: {error.Message}";
        }

        if (!Routes(plan, now, out var routed))
        {
            return "two routes for one port";
        }

        var at = plan.At(now);
        var held = at.Quarantined.SelectMany(q => q.Ports.SelectMany(r => Enumerable.Range(r.Low, r.Count)).Select(p => (q.Egress, p, q.From))).ToList();
        if (held.Any(h => routed.GetValueOrDefault((h.Egress, h.p)) != h.From))
        {
            return "a port in quarantine is not routed to its old owner";
        }

        foreach (var host in plan.Egress.SelectMany(e => e.Slices).Select(s => s.Host).Distinct())
        {
            foreach (var s in plan.HostFile(host, now).Slices)
            {
                foreach (var r in s.Ports.Ranges)
                {
                    for (var p = (int)r.Low; p <= r.High; p++)
                    {
                        if (routed.GetValueOrDefault((s.Egress, p)) != host)
                        {
                            return $"host {host} may use {s.Egress}:{p}, which the router sends to {routed.GetValueOrDefault((s.Egress, p)) ?? "nobody"}";
                        }
                    }
                }
            }
        }

        // After every quarantine: the plan's slices, exactly.
        var end = plan.Egress.SelectMany(e => e.Moves).Select(m => m.Until).DefaultIfEmpty(now).Max();
        var settled = plan.At(end).Routes.Select(a => (a.Egress.ToString(), a.Host, string.Join(",", a.Ranges))).Order().ToList();
        var slices = plan.Assignments().Select(a => (a.Egress.ToString(), a.Host, string.Join(",", a.Ranges))).Order().ToList();
        return settled.SequenceEqual(slices) ? null : "after the quarantines the routes are not the plan's slices";
    }

    [Property(MaxTest = 60)]
    public Property Routes_and_host_files_agree_through_two_re_plans(int seed, PositiveInt first, PositiveInt second, PositiveInt gap, PositiveInt quarantine)
    {
        var spec = PlanTestData.Random(seed, pinned: false);
        var q = 1 + (quarantine.Get % 120);
        var p1 = Planner.Create(spec);
        var spec2 = Change(spec, first.Get, "added");
        var (p2, _) = Planner.Replan(p1, spec2, ReplanStrategy.KeepPorts, s_t0, q);
        var t1 = s_t0.AddSeconds(gap.Get % 200);
        var (p3, _) = Planner.Replan(p2, Change(spec2, second.Get, "added2"), second.Get % 4 == 0 ? ReplanStrategy.Compact : ReplanStrategy.KeepPorts, t1, q);

        var problem = Check(p2, s_t0) ?? Check(p2, t1) ?? Check(p3, t1) ?? Check(p3, t1.AddSeconds(q / 2)) ?? Check(p3, t1.AddSeconds(q));
        if (problem is null && Routes(p2, t1, out var before) && Routes(p3, t1, out var after))
        {
            // Carried over: every port in quarantine at t1 still goes to its holder, until the same time, unless p3 gave
            // it back to the holder (who then owns it outright).
            foreach (var held in p2.At(t1).Quarantined)
            {
                foreach (var r in held.Ports)
                {
                    for (var p = (int)r.Low; p <= r.High; p++)
                    {
                        var owner = p3.Owner(held.Egress, (ushort)p)?.Host;
                        var inside = p3.FindEgress(held.Egress) is { } e && e.UsableRange.Contains(p);
                        var still = p3.At(t1).Quarantined.Any(x => x.Egress.Equals(held.Egress) && x.From == held.From && x.Until == held.Until && x.Ports.Any(y => y.Contains(p)));
                        if (inside && owner != held.From && !still)
                        {
                            problem = $"{held.Egress}:{p} lost its quarantine for {held.From}";
                        }
                    }
                }
            }

            problem ??= before.Count == 0 && after.Count == 0 ? "no routes" : null;
        }

        return (problem is null).Label(problem ?? string.Empty);
    }

    // PortSet.Subtract starts with a binary search (the quarantine subtracts long held lists from every slice).
    [Property(MaxTest = 300)]
    public Property Subtract_is_the_set_difference(int seed)
    {
        var r = new Random(seed);
        List<PortRange> Draw()
        {
            var list = new List<PortRange>();
            for (var i = r.Next(0, 12); i > 0; i--)
            {
                var low = r.Next(1, 65000);
                list.Add(new PortRange((ushort)low, (ushort)Math.Min(65535, low + r.Next(0, 400))));
            }

            return PortSet.Normalize(list);
        }

        var a = Draw();
        var b = Draw();
        var expected = a.SelectMany(r => Enumerable.Range(r.Low, r.Count)).Except(b.SelectMany(r => Enumerable.Range(r.Low, r.Count))).ToHashSet();
        var actual = PortSet.Subtract(a, b);
        var ok = actual.SelectMany(r => Enumerable.Range(r.Low, r.Count)).ToHashSet().SetEquals(expected) && PortSet.Normalize(actual).SequenceEqual(actual);
        return ok.Label($"{PortSet.Format(a)} - {PortSet.Format(b)} = {PortSet.Format(actual)}");
    }
}
