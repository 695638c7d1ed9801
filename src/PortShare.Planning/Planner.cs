using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace PortShare.Planning;

/// <summary>How <see cref="Planner.Replan"/> trades port movement against slice shape.</summary>
public enum ReplanStrategy
{
    /// <summary>Each remaining host keeps as many of its ports as its new share allows; hosts that grow or are new take
    /// the freed ports (best fit), so a slice may become several ranges. Moves the fewest ports.</summary>
    KeepPorts,

    /// <summary>Plan from scratch: one contiguous range per host again, at the cost of moving more ports.</summary>
    Compact,
}

/// <summary>A re-plan and the ports it moves.</summary>
public sealed record ReplanResult(Plan Plan, MovementReport Movement);

/// <summary>
/// Cuts each egress IP's usable ports into host slices. Deterministic (same spec, same bytes), linear in the number
/// of units plus <c>H log U</c>: the work per egress IP is one pass over its units and one binary search per host.
/// </summary>
public static class Planner
{
    /// <summary>A fresh plan (generation 1). Throws <see cref="PlanningException"/> listing every problem.</summary>
    public static Plan Create(PlanSpec spec) => Build(spec, previous: null, generation: 1);

    /// <summary>
    /// Re-plans <paramref name="previous"/> for a changed <paramref name="spec"/> (hosts added, removed, re-weighted),
    /// keeping ports in place where the strategy allows, and reports the movement per host. Every moved port is handed
    /// over at once: no move is recorded, and quarantines the previous plan recorded are dropped (see the overload with a
    /// quarantine, which <c>plan update</c> uses).
    /// </summary>
    public static ReplanResult Replan(Plan previous, PlanSpec spec, ReplanStrategy strategy = ReplanStrategy.KeepPorts)
    {
        var plan = Build(spec, strategy == ReplanStrategy.KeepPorts ? Checked(previous) : null, Checked(previous).Generation + 1);
        return new ReplanResult(plan, PlanDiff.Compare(previous, plan));
    }

    /// <summary>
    /// As <see cref="Replan(Plan, PlanSpec, ReplanStrategy)"/>, recording the ports it moves (<see cref="EgressPlan.Moves"/>):
    /// each moved port stays routed to its previous owner, and out of every host file, for
    /// <paramref name="quarantineSeconds"/> from <paramref name="now"/> (0: handed over at once). Quarantines of the
    /// previous plan still running at <paramref name="now"/> are carried over — also when this re-plan gives their ports
    /// to yet another host, which gets them only when the quarantine ends — and those that have passed are dropped
    /// (<see cref="PlanMoves"/>). The move time is <paramref name="now"/> rounded up to the second, so the file stays
    /// readable and no quarantine is shorter than asked.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="quarantineSeconds"/> is negative or above <see cref="PortMove.MaxQuarantineSeconds"/>.</exception>
    public static ReplanResult Replan(Plan previous, PlanSpec spec, ReplanStrategy strategy, DateTimeOffset now, int quarantineSeconds)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(quarantineSeconds);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(quarantineSeconds, PortMove.MaxQuarantineSeconds);
        var (plan, movement) = Replan(previous, spec, strategy);
        var utc = now.ToUniversalTime();
        var movedAt = new DateTimeOffset((utc.Ticks + TimeSpan.TicksPerSecond - 1) / TimeSpan.TicksPerSecond * TimeSpan.TicksPerSecond, TimeSpan.Zero);
        var egress = plan.Egress.Select(e => e with { Moves = PlanMoves.Between(previous.FindEgress(e.Address), e, utc, movedAt, quarantineSeconds) }).ToList();
        plan = plan with { Egress = egress, Version = egress.Any(e => e.Moves.Count > 0) ? Plan.CurrentVersion : Plan.VersionWithoutMoves };
        return new ReplanResult(plan, movement with { Quarantined = plan.At(utc).Quarantined });
    }

    private static Plan Checked(Plan previous)
    {
        ArgumentNullException.ThrowIfNull(previous);
        return previous.Generation is < 1 or >= long.MaxValue
            ? throw new PlanFileException($"The previous plan's generation {previous.Generation} cannot be followed: generations run from 1 to {long.MaxValue - 1:N0}.")
            : previous;
    }

    private static Plan Build(PlanSpec spec, Plan? previous, long generation)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var problems = SpecValidator.IsKnownValid(spec) ? [] : SpecValidator.Validate(spec);
        if (problems.Count > 0)
        {
            throw new PlanningException(problems);
        }

        // Each host's next hops, parsed once (not once per egress IP): the plan holds them typed.
        var hops = new Dictionary<SpecHost, (IPAddress? V4, IPAddress? V6)>(spec.Hosts.Count, ReferenceEqualityComparer.Instance);
        foreach (var h in spec.Hosts)
        {
            (IPAddress? V4, IPAddress? V6) pair = default;
            foreach (var n in h.NextHops)
            {
                var a = IPAddress.Parse(n);
                if (a.AddressFamily == AddressFamily.InterNetworkV6)
                {
                    pair.V6 ??= a;
                }
                else
                {
                    pair.V4 ??= a;
                }
            }

            hops[h] = pair;
        }

        var errors = new List<string>();
        var egressPlans = new List<EgressPlan>(spec.Egress.Count);
        var grids = new Dictionary<string, Geometry.Grid>(StringComparer.Ordinal);
        foreach (var egress in spec.Egress)
        {
            var geometry = Geometry.Create(spec, egress, grids);
            var v6 = geometry.Address.AddressFamily == AddressFamily.InterNetworkV6;
            var hosts = new List<SpecHost>(spec.Hosts.Count);
            var nextHops = new List<IPAddress>(spec.Hosts.Count);
            foreach (var h in spec.Hosts)
            {
                if (h.Egress is null || h.Egress.Any(e => IPAddress.Parse(e).Equals(geometry.Address)))
                {
                    hosts.Add(h);
                    nextHops.Add((v6 ? hops[h].V6 : hops[h].V4) ?? throw new InvalidOperationException($"Host '{h.Name}' has no next hop of the family of {geometry.Address}."));
                }
            }

            var prior = previous?.FindEgress(geometry.Address);
            egressPlans.Add(PlanEgress(spec, geometry, hosts, nextHops, prior, errors));
        }

        if (errors.Count > 0)
        {
            throw new PlanningException(errors);
        }

        return new Plan
        {
            Version = Plan.VersionWithoutMoves,
            Generation = generation,
            MinSliceSize = spec.MinSliceSize,
            Alignment = spec.Alignment,
            Map = spec.Map,
            Egress = egressPlans,
        };
    }

    private static EgressPlan PlanEgress(PlanSpec spec, Geometry g, List<SpecHost> hosts, List<IPAddress> nextHops, EgressPlan? prior, List<string> errors)
    {
        var units = g.Units;

        // The spare pool is the top of the range, so hosts added later can grow into it without moving anyone.
        var allocatable = units.Count;
        for (long spare = 0; allocatable > 0 && spare < spec.SparePorts; allocatable--)
        {
            spare += units[allocatable - 1].Capacity;
        }

        var prefix = g.Prefix(allocatable);

        var (targets, floors) = Targets(hosts, prefix[allocatable], spec.MinSliceSize);
        var runs = prior is null ? Cut(targets, floors, prefix, spec.MinSliceSize) : null;
        var assigned = prior is null ? null : KeepAndFill(g, hosts, targets, floors, prefix, prior, spec.MinSliceSize);

        var slices = new List<HostSlice>(hosts.Count);
        var owned = new List<PortRange>(hosts.Count);
        var ranges = new List<PortRange>();
        for (var h = 0; h < hosts.Count; h++)
        {
            var merged = runs is not null ? RangesOf(g, runs[h].Start, runs[h].End, null, ranges) : RangesOf(g, 0, 0, assigned![h], ranges);
            var size = PortSet.Count(merged);
            if (size < spec.MinSliceSize)
            {
                errors.Add(string.Create(CultureInfo.InvariantCulture,
                    $"egress {g.Text}: host '{hosts[h].Name}' would get {size} ports, below min_slice_size {spec.MinSliceSize}; {prefix[allocatable]} ports are allocatable for {hosts.Count} hosts (lower min_slice_size, alignment or spare_ports, widen the usable range, or use fewer hosts)."));
                continue;
            }

            owned.AddRange(merged);
            slices.Add(new HostSlice { Host = hosts[h].Name, NextHop = nextHops[h], Ranges = merged });
        }

        slices.Sort((a, b) => a.Ranges[0].Low.CompareTo(b.Ranges[0].Low));
        var spareRanges = PortSet.Subtract(PortSet.Subtract([g.Usable], g.Reserved), PortSet.Normalize(owned));
        return new EgressPlan { Address = g.Address, UsableRange = g.Usable, Reserved = g.Reserved, Slices = slices, Spare = spareRanges };
    }

    /// <summary>
    /// The ranges of the units [<paramref name="start"/>, <paramref name="end"/>) (a fresh cut) or of <paramref name="list"/>
    /// (a re-plan). The usual slice — consecutive grid units clear of reserved ports — is one range whose ends are already
    /// even and odd, built directly: the general path (collect, merge, trim to parity) allocated three lists per slice,
    /// which for 160,000 slices was most of the planner's time in the GC.
    /// </summary>
    private static PortRange[] RangesOf(Geometry g, int start, int end, List<int>? list, List<PortRange> scratch)
    {
        var units = g.Units;
        var count = list?.Count ?? end - start;
        var first = list is null ? start : count > 0 ? list[0] : 0;
        var simple = count > 0 && !g.IsMap;
        for (var i = 0; simple && i < count; i++)
        {
            var u = list is null ? start + i : list[i];
            simple = u == first + i && units[u].Pieces is null;
        }

        if (simple)
        {
            return [new PortRange((ushort)units[first].Low, (ushort)units[first + count - 1].High)];
        }

        scratch.Clear();
        for (var i = 0; i < count; i++)
        {
            units[list is null ? start + i : list[i]].AddTo(scratch);
        }

        return [.. PortSet.TrimSegments(PortSet.Normalize(scratch), g.Reserved)];
    }

    /// <summary>
    /// Each host's ideal port count: pinned hosts their <c>slice_size</c>, the rest a weighted share of what is left;
    /// a host whose share falls below the minimum is raised to it and the others share the rest (water-filling).
    /// </summary>
    internal static (double[] Targets, bool[] Floors) Targets(IReadOnlyList<SpecHost> hosts, long capacity, int minSize)
    {
        var targets = new double[hosts.Count];
        var fixedSize = new bool[hosts.Count];
        for (var i = 0; i < hosts.Count; i++)
        {
            if (hosts[i].SliceSize is { } s)
            {
                targets[i] = s;
                fixedSize[i] = true;
            }
        }

        while (true)
        {
            double remaining = capacity;
            long weights = 0;
            for (var i = 0; i < hosts.Count; i++)
            {
                if (fixedSize[i])
                {
                    remaining -= targets[i];
                }
                else
                {
                    weights += hosts[i].Weight;
                }
            }

            remaining = Math.Max(0, remaining);
            var raised = false;
            for (var i = 0; i < hosts.Count; i++)
            {
                if (fixedSize[i])
                {
                    continue;
                }

                targets[i] = remaining * hosts[i].Weight / weights;
                if (targets[i] < minSize)
                {
                    targets[i] = minSize;
                    fixedSize[i] = true;
                    raised = true;
                }
            }

            if (!raised)
            {
                return (targets, fixedSize);
            }
        }
    }

    /// <summary>
    /// Fresh plan: hosts in spec order, each a run of units ending nearest its cumulative target, so rounding never
    /// accumulates (each size is within one unit of its ideal). Floors (pinned sizes, minimums) are met, not rounded.
    /// </summary>
    private static (int Start, int End)[] Cut(double[] targets, bool[] floors, long[] prefix, int minSize)
    {
        var result = new (int Start, int End)[targets.Length];
        var start = 0;
        double cumulative = 0;
        for (var h = 0; h < targets.Length; h++)
        {
            cumulative += targets[h];
            var end = floors[h] ? FirstAtLeast(prefix, start, prefix[start] + (long)Math.Ceiling(targets[h])) : Nearest(prefix, start, cumulative);
            if (prefix[end] - prefix[start] < minSize)
            {
                end = FirstAtLeast(prefix, start, prefix[start] + minSize);
            }

            if (floors[h])
            {
                cumulative = prefix[end];
            }

            result[h] = (start, end);
            start = end;
        }

        return result;
    }

    /// <summary>The smallest index k ≥ <paramref name="from"/> with prefix[k] ≥ value (or the last index).</summary>
    private static int FirstAtLeast(long[] prefix, int from, long value)
    {
        int lo = from, hi = prefix.Length - 1;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (prefix[mid] >= value)
            {
                hi = mid;
            }
            else
            {
                lo = mid + 1;
            }
        }

        return lo;
    }

    /// <summary>The index k ≥ <paramref name="from"/> whose prefix lies nearest <paramref name="value"/> (lower on ties).</summary>
    private static int Nearest(long[] prefix, int from, double value)
    {
        var k = FirstAtLeast(prefix, from, (long)Math.Ceiling(value));
        if (k > from && value - prefix[k - 1] <= prefix[k] - value)
        {
            k--;
        }

        return k;
    }

    /// <summary>
    /// Re-plan keeping ports: every remaining host keeps its previous units (lowest first) up to its new target; then
    /// hosts short of their target, in spec order, take free runs — the smallest run that covers the shortfall, else the
    /// largest — so new slices stay as few ranges as the free space allows.
    /// </summary>
    private static List<int>[] KeepAndFill(Geometry g, List<SpecHost> hosts, double[] targets, bool[] floors, long[] prefix, EgressPlan prior, int minSize)
    {
        var units = g.Units;
        var allocatable = prefix.Length - 1;
        var index = new Dictionary<string, int>(hosts.Count, StringComparer.Ordinal);
        for (var h = 0; h < hosts.Count; h++)
        {
            index[hosts[h].Name] = h;
        }

        var previousOwner = PreviousOwners(units, allocatable, prior, index);
        var result = new List<int>[hosts.Count];
        var kept = new long[hosts.Count];
        for (var h = 0; h < hosts.Count; h++)
        {
            result[h] = [];
        }

        var free = new bool[allocatable];
        for (var u = 0; u < allocatable; u++)
        {
            var h = previousOwner[u];
            var c = units[u].Capacity;
            if (h >= 0 && c > 0 && Wants(floors[h], targets[h], kept[h], c, minSize))
            {
                result[h].Add(u);
                kept[h] += c;
            }
            else
            {
                free[u] = true;
            }
        }

        // Free runs ordered by (capacity, start) for best fit.
        var runs = new SortedSet<(long Capacity, int Start, int End)>();
        for (var u = 0; u < allocatable;)
        {
            if (!free[u])
            {
                u++;
                continue;
            }

            var s = u;
            while (u < allocatable && free[u])
            {
                u++;
            }

            runs.Add((prefix[u] - prefix[s], s, u));
        }

        for (var h = 0; h < hosts.Count; h++)
        {
            while (runs.Count > 0)
            {
                var deficit = (long)Math.Ceiling(targets[h] - kept[h]);
                if (deficit <= 0)
                {
                    break;
                }

                // The smallest run that covers the deficit, else the largest. (A view's Count walks the whole view, which
                // made re-planning 10,000 hosts quadratic; comparing with the largest run first keeps this O(log n).)
                var largest = runs.Max;
                var run = largest.Capacity >= deficit
                    ? runs.GetViewBetween((deficit, int.MinValue, int.MinValue), (long.MaxValue, int.MaxValue, int.MaxValue)).Min
                    : largest;
                runs.Remove(run);
                var u = run.Start;
                while (u < run.End && (units[u].Capacity == 0 || Wants(floors[h], targets[h], kept[h], units[u].Capacity, minSize)))
                {
                    result[h].Add(u);
                    kept[h] += units[u].Capacity;
                    u++;
                }

                if (u < run.End)
                {
                    runs.Add((prefix[run.End] - prefix[u], u, run.End));
                }

                if (u == run.Start)
                {
                    break;
                }
            }

        }

        // Ports nobody needed go back to their previous owner rather than to the spare pool: moving them gains nothing.
        var assigned = new bool[allocatable];
        foreach (var list in result)
        {
            foreach (var u in list)
            {
                assigned[u] = true;
            }
        }

        for (var u = 0; u < allocatable; u++)
        {
            if (!assigned[u] && previousOwner[u] >= 0)
            {
                result[previousOwner[u]].Add(u);
            }
        }

        foreach (var list in result)
        {
            list.Sort();
        }

        return result;
    }

    // Take another unit while it fits the target (pinned and raised-to-minimum hosts: until the target is reached).
    // Rounding down, unlike the fresh cut, because per-host rounding up would over-commit the range; what is left
    // over goes back to its previous owner.
    private static bool Wants(bool floor, double target, long have, int capacity, int minSize) =>
        have < minSize || (floor ? have < target : have + capacity <= target);

    /// <summary>For each allocatable unit, the index of the (remaining) host that owned all of it before, or -1.</summary>
    private static int[] PreviousOwners(List<Unit> units, int allocatable, EgressPlan prior, Dictionary<string, int> index)
    {
        var owned = new List<(PortRange Range, int Host)>();
        foreach (var slice in prior.Slices)
        {
            if (index.TryGetValue(slice.Host, out var h))
            {
                owned.AddRange(slice.Ranges.Select(r => (r, h)));
            }
        }

        owned.Sort((a, b) => a.Range.Low.CompareTo(b.Range.Low));
        var lows = owned.Select(o => (int)o.Range.Low).ToArray();
        int OwnerOf(PortRange piece)
        {
            var i = Array.BinarySearch(lows, piece.Low);
            i = i >= 0 ? i : ~i - 1;
            return i >= 0 && owned[i].Range.Contains(piece) ? owned[i].Host : -1;
        }

        var result = new int[allocatable];
        var pieces = new List<PortRange>();
        for (var u = 0; u < allocatable; u++)
        {
            pieces.Clear();
            units[u].AddTo(pieces);
            var owner = pieces.Count == 0 ? -1 : OwnerOf(pieces[0]);
            for (var p = 1; p < pieces.Count && owner >= 0; p++)
            {
                if (OwnerOf(pieces[p]) != owner)
                {
                    owner = -1;
                }
            }

            result[u] = owner;
        }

        return result;
    }
}
