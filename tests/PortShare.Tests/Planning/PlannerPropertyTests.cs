using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using PortShare.Planning;

namespace PortShare.Tests.Planning;

/// <summary>Planning invariants over random specs (FsCheck draws the seeds; <see cref="PlanTestData.Random"/> builds the spec).</summary>
public class PlannerPropertyTests
{
    [Property(MaxTest = 300)]
    public Property Plans_are_valid_disjoint_inside_the_range_and_clear_of_reserved_ports(int seed)
    {
        var spec = PlanTestData.Random(seed);
        var plan = Planner.Create(spec);
        var issues = PlanValidator.Validate(plan);
        var ok = issues.Count == 0;
        foreach (var e in plan.Egress)
        {
            var usable = e.UsableRange;
            var owned = e.Slices.SelectMany(s => s.Ranges).OrderBy(r => r.Low).ToList();
            for (var i = 1; i < owned.Count; i++)
            {
                ok &= owned[i - 1].High < owned[i].Low;
            }

            ok &= owned.All(r => usable.Contains(r) && !e.Reserved.Any(x => x.Overlaps(r)));
            ok &= e.Slices.All(s => s.PortCount >= spec.MinSliceSize);

            // Every usable port is exactly one of: reserved, in a slice, spare.
            var reserved = e.Reserved.Sum(r => r.Intersect(usable)?.Count ?? 0);
            ok &= reserved + owned.Sum(r => r.Count) + e.Spare.Sum(r => r.Count) == usable.Count;

            // Every host that uses this egress IP has a slice.
            ok &= e.Slices.Count == spec.Hosts.Count;
        }

        return ok.Label($"issues: {string.Join("; ", issues.Select(i => i.Message))}");
    }

    [Property(MaxTest = 200)]
    public Property Contiguous_slices_sit_on_the_alignment_grid(int seed)
    {
        var spec = PlanTestData.Random(seed, reserved: false, map: false);
        var plan = Planner.Create(spec);
        var a = spec.Alignment;
        return plan.Egress.SelectMany(e => e.Slices).SelectMany(s => s.Ranges)
            .All(r => r.Low % a == 0 && (r.High + 1) % a == 0 && r.IsParityAligned).ToProperty();
    }

    [Property(MaxTest = 200)]
    public Property Planning_is_deterministic_and_json_round_trips(int seed)
    {
        var spec = PlanTestData.Random(seed);
        var json = PlanJson.Serialize(Planner.Create(spec));
        var again = PlanJson.Serialize(Planner.Create(PlanJson.DeserializeSpec(PlanJson.Serialize(spec))));
        var roundTrip = PlanJson.Serialize(PlanJson.DeserializePlan(json));
        return (json == again && json == roundTrip).ToProperty();
    }

    [Property(MaxTest = 200)]
    public Property Sizes_are_within_one_alignment_unit_of_the_weighted_ideal(int seed)
    {
        var spec = PlanTestData.Random(seed, reserved: false, pinned: false, map: false);
        var plan = Planner.Create(spec);
        var a = spec.Alignment;
        var usable = spec.UsableRange;

        // The grid's capacity, computed independently: whole aligned units inside the usable range.
        var units = ((usable.High + 1) / a) - ((usable.Low + a - 1) / a);
        var capacity = (double)units * a;
        var weights = spec.Hosts.Sum(h => h.Weight);
        var worst = plan.Egress.SelectMany(e => e.Slices)
            .Max(s => Math.Abs(s.PortCount - (capacity * spec.Hosts.Single(h => h.Name == s.Host).Weight / weights)));
        return (worst <= a).Label($"worst deviation {worst} > alignment {a}");
    }

    [Property(MaxTest = 150)]
    public Property Replan_moves_a_host_only_by_what_it_shrinks(int seed, PositiveInt change)
    {
        var spec = PlanTestData.Random(seed, reserved: false, pinned: false, map: false);
        var before = Planner.Create(spec);
        var hosts = spec.Hosts.ToList();
        switch (change.Get % 3)
        {
            case 0:
                hosts.Add(PlanTestData.Host("added", 1 + (change.Get % 7)));
                break;
            case 1 when hosts.Count > 1:
                hosts.RemoveAt(change.Get % hosts.Count);
                break;
            default:
                var i = change.Get % hosts.Count;
                hosts[i] = hosts[i] with { Weight = 1 + (change.Get % 11) };
                break;
        }

        var (after, movement) = Planner.Replan(before, spec with { Hosts = hosts });
        var valid = PlanValidator.Validate(after).All(i => i.Severity != IssueSeverity.Error);
        var bounded = movement.Hosts.Where(h => h.Before > 0 && h.After > 0)
            .All(h => h.Released <= Math.Max(0, h.Before - h.After) + spec.Alignment);
        var total = movement.MovedPorts <= movement.Hosts.Sum(h => Math.Max(0, h.Before - h.After)) + (hosts.Count * spec.Alignment);
        return (valid && bounded && total).Label($"valid {valid}, per-host bound {bounded}, total bound {total}");
    }

    [Property(MaxTest = 100)]
    public Property Replan_with_reserved_ports_and_map_stays_valid(int seed)
    {
        var spec = PlanTestData.Random(seed);
        var before = Planner.Create(spec);
        var hosts = spec.Hosts.Skip(1).Append(PlanTestData.Host("added", 3)).ToList();
        var (after, _) = Planner.Replan(before, spec with { Hosts = hosts });
        var errors = PlanValidator.Validate(after).Where(i => i.Severity == IssueSeverity.Error).Select(i => i.Message).ToList();
        return (errors.Count == 0).Label(string.Join("; ", errors));
    }
}
