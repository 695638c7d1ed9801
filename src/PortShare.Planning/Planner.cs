using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;

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
        var plan = Rebuild(previous, spec, strategy);
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
        var built = Rebuild(previous, spec, strategy);
        var slices = Fanout.SliceCount(built.Egress);

        // A fleet's per-host comparison (160,000 rows) needs only the slices, which the moves leave as they are: it runs on
        // another core while the moves are found, filling each one's single-core stretches. A small plan's is compared
        // here, after them.
        var movement = Fanout.Beside(slices, () => PlanDiff.Compare(previous, built));
        var utc = now.ToUniversalTime();
        var movedAt = new DateTimeOffset((utc.Ticks + TimeSpan.TicksPerSecond - 1) / TimeSpan.TicksPerSecond * TimeSpan.TicksPerSecond, TimeSpan.Zero);
        var egress = new EgressPlan[built.Egress.Count];
        Fanout.Runs(egress.Length, slices, (from, to) =>
        {
            var buffers = new PlanMoves.Buffers();
            for (var i = from; i < to; i++)
            {
                var e = built.Egress[i];
                egress[i] = e with { Moves = PlanMoves.Between(previous.FindEgress(e.Address), e, utc, movedAt, quarantineSeconds, buffers) };
            }
        });

        var anyMoves = egress.Any(e => e.Moves.Count > 0);
        var plan = built with { Egress = egress, Version = anyMoves ? Plan.CurrentVersion : Plan.VersionWithoutMoves };
        return new ReplanResult(plan, movement() with { Quarantined = plan.At(utc).Quarantined });
    }

    // The re-plan's slices: built on the previous plan's (keeping ports) or from scratch (compact), one generation on.
    private static Plan Rebuild(Plan previous, PlanSpec spec, ReplanStrategy strategy) =>
        Build(spec, strategy == ReplanStrategy.KeepPorts ? Checked(previous) : null, Checked(previous).Generation + 1);

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
        var all = spec.Hosts;
        var hopsV4 = new IPAddress?[all.Count];
        var hopsV6 = new IPAddress?[all.Count];
        for (var i = 0; i < all.Count; i++)
        {
            foreach (var n in all[i].NextHops)
            {
                var a = AddressText.Parse(n);
                if (a.AddressFamily == AddressFamily.InterNetworkV6)
                {
                    hopsV6[i] ??= a;
                }
                else
                {
                    hopsV4[i] ??= a;
                }
            }
        }

        // A re-plan finds each previous slice's host by id: one table of the spec's names for every egress IP.
        HostIds? ids = null;
        if (previous is not null)
        {
            ids = new HostIds(all.Count);
            for (var i = 0; i < all.Count; i++)
            {
                ids.Add(all[i].Name);
            }
        }

        var grids = new Dictionary<string, Geometry.Grid>(StringComparer.Ordinal);

        // Without per-host egress lists every egress IP has every host: one host list (and next hops per family) for all.
        var unfiltered = true;
        for (var i = 0; i < all.Count && unfiltered; i++)
        {
            unfiltered = all[i].Egress is null;
        }

        // First, in spec order, each egress IP's geometry and hosts (shared between egress IPs where they can be); then
        // the egress IPs are cut side by side (Fanout), each run of them with its own working arrays and error list.
        var count = spec.Egress.Count;
        var work = new (Geometry Geometry, List<SpecHost> Hosts, List<IPAddress> NextHops, int[] Local)[count];
        var families = new (List<SpecHost> Hosts, List<IPAddress> NextHops, int[] Local)?[2];
        long slices = 0;
        for (var e = 0; e < count; e++)
        {
            var geometry = Geometry.Create(spec, spec.Egress[e], grids);
            var v6 = geometry.Address.AddressFamily == AddressFamily.InterNetworkV6;
            if (!unfiltered || families[v6 ? 1 : 0] is null)
            {
                var selected = new List<SpecHost>(all.Count);
                var hops = new List<IPAddress>(all.Count);

                // local[i]: the index in this egress IP's host list of spec host i, or -1.
                var map = new int[all.Count];
                for (var i = 0; i < all.Count; i++)
                {
                    var h = all[i];
                    if (h.Egress is null || h.Egress.Any(a => AddressText.Parse(a).Equals(geometry.Address)))
                    {
                        map[i] = selected.Count;
                        selected.Add(h);
                        hops.Add((v6 ? hopsV6[i] : hopsV4[i]) ?? throw new InvalidOperationException($"Host '{h.Name}' has no next hop of the family of {geometry.Address}."));
                    }
                    else
                    {
                        map[i] = -1;
                    }
                }

                families[v6 ? 1 : 0] = (families[v6 ? 0 : 1] is { } other && unfiltered ? other.Hosts : selected, hops, map);
            }

            var (hosts, nextHops, local) = families[v6 ? 1 : 0]!.Value;
            work[e] = (geometry, hosts, nextHops, local);
            slices += hosts.Count;
        }

        var egressPlans = new EgressPlan[count];
        var errorsOf = new List<string>[count];
        Fanout.Runs(count, slices, (from, to) =>
        {
            var scratch = new Scratch();
            int[]? guess = null;
            for (var e = from; e < to; e++)
            {
                var (geometry, hosts, nextHops, local) = work[e];
                var prior = previous?.FindEgress(geometry.Address);
                int[]? priorHosts = null;
                if (prior is not null)
                {
                    // The (remaining) host of each previous slice, as an index into this egress IP's hosts, or -1.
                    priorHosts = ids!.Of(prior.Slices, guess, add: false);
                    guess = (int[])priorHosts.Clone();
                    for (var k = 0; k < priorHosts.Length; k++)
                    {
                        priorHosts[k] = priorHosts[k] < 0 ? -1 : local[priorHosts[k]];
                    }
                }

                egressPlans[e] = PlanEgress(spec, geometry, hosts, nextHops, prior, priorHosts, scratch, errorsOf[e] = []);
            }
        });

        var errors = errorsOf.SelectMany(e => e).ToList();
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

    private static EgressPlan PlanEgress(PlanSpec spec, Geometry g, List<SpecHost> hosts, List<IPAddress> nextHops, EgressPlan? prior, int[]? priorHosts, Scratch scratch, List<string> errors)
    {
        var units = g.Units;

        // The spare pool is the top of the range, so hosts added later can grow into it without moving anyone.
        var allocatable = units.Length;
        for (long spare = 0; allocatable > 0 && spare < spec.SparePorts; allocatable--)
        {
            spare += units[allocatable - 1].Capacity;
        }

        var prefix = g.Prefix(allocatable);

        var (targets, floors) = scratch.Targets(hosts, prefix[allocatable], spec.MinSliceSize);
        var runs = prior is null ? Cut(targets, floors, prefix, spec.MinSliceSize) : null;

        // A re-plan: each host's units, ascending, as order[offsets[h]..offsets[h + 1]).
        int[]? order = null, offsets = null;
        if (prior is not null)
        {
            var previousOwner = PreviousOwners(units, allocatable, prior, priorHosts!, scratch);
            var owner = KeepAndFill(units, hosts.Count, targets, floors, prefix, previousOwner, spec.MinSliceSize, scratch);
            (order, offsets) = Group(owner, allocatable, hosts.Count, scratch);
        }

        var slices = new HostSlice[hosts.Count];
        var lows = Scratch.Fit(ref scratch.SliceLows, hosts.Count);
        var count = 0;
        var pieces = new List<PortRange>();
        for (var h = 0; h < hosts.Count; h++)
        {
            // The usual slice, consecutive grid units clear of reserved ports, is one range, built here rather than in
            // RangesOf: this runs once per slice (160,000 times), and in a fresh process a loop body is compiled
            // optimized soon while a method called per slice runs unoptimized for a long while.
            int first, last;
            if (runs is not null)
            {
                (first, last) = (runs[h].Start, runs[h].End - 1);
            }
            else
            {
                var (from, to) = (offsets![h], offsets[h + 1]);
                (first, last) = to > from && order![to - 1] - order[from] == to - from - 1 ? (order[from], order[to - 1]) : (0, -1);
            }

            var simple = last >= first && !g.IsMap;
            for (var u = first; simple && u <= last; u++)
            {
                simple = units[u].Pieces is null;
            }

            PortRange[] merged;
            int size;
            if (simple)
            {
                merged = [new PortRange((ushort)units[first].Low, (ushort)units[last].High)];
                size = units[last].High - units[first].Low + 1;
            }
            else
            {
                merged = runs is not null
                    ? RangesOf(g, runs[h].Start, runs[h].End, pieces)
                    : RangesOf(g, order!, offsets![h], offsets[h + 1], pieces);
                size = PortSet.Count(merged);
            }

            if (size < spec.MinSliceSize)
            {
                errors.Add(string.Create(CultureInfo.InvariantCulture,
                    $"egress {g.Text}: host '{hosts[h].Name}' would get {size} ports, below min_slice_size {spec.MinSliceSize}; {prefix[allocatable]} ports are allocatable for {hosts.Count} hosts (lower min_slice_size, alignment or spare_ports, widen the usable range, or use fewer hosts)."));
                continue;
            }

            lows[count] = merged[0].Low;
            slices[count++] = new HostSlice { Host = hosts[h].Name, NextHop = nextHops[h], Ranges = merged };
        }

        // By first port; slices are disjoint, so the order is unique whatever the sort (a fresh cut is in order already).
        var sorted = true;
        for (var i = 1; i < count && sorted; i++)
        {
            sorted = lows[i - 1] < lows[i];
        }

        if (!sorted)
        {
            RadixSort.Sort(lows, slices, count);
        }

        if (count < slices.Length)
        {
            Array.Resize(ref slices, count);
        }

        return new EgressPlan { Address = g.Address, UsableRange = g.Usable, Reserved = g.Reserved, Slices = slices, Spare = Spare(g, slices, scratch) };
    }

    /// <summary>Usable, unreserved ports no slice owns: the slices' ranges merged as <see cref="PortSet.Normalize"/> does,
    /// on two int arrays (sorted only when out of order: a fresh cut's are in order, a re-plan's mostly).</summary>
    private static List<PortRange> Spare(Geometry g, HostSlice[] slices, Scratch scratch)
    {
        var n = 0;
        foreach (var slice in slices)
        {
            n += slice.Ranges.Count;
        }

        var lows = Scratch.Fit(ref scratch.Lows, n);
        var highs = Scratch.Fit(ref scratch.Highs, n);
        n = 0;
        var sorted = true;
        foreach (var slice in slices)
        {
            var ranges = ListSpan.Of(slice.Ranges);
            for (var i = 0; i < ranges.Length; i++)
            {
                lows[n] = ranges[i].Low;
                highs[n] = ranges[i].High;
                sorted &= n == 0 || lows[n - 1] <= lows[n];
                n++;
            }
        }

        if (!sorted)
        {
            // Equal lows merge the same in any order.
            RadixSort.Sort(lows, highs, n);
        }

        var owned = new List<PortRange>();
        for (var i = 0; i < n; i++)
        {
            if (owned.Count > 0 && lows[i] <= owned[^1].High + 1)
            {
                owned[^1] = new PortRange(owned[^1].Low, (ushort)Math.Max(owned[^1].High, highs[i]));
            }
            else
            {
                owned.Add(new PortRange((ushort)lows[i], (ushort)highs[i]));
            }
        }

        return PortSet.Subtract(PortSet.Subtract([g.Usable], g.Reserved), owned);
    }

    /// <summary>
    /// The ranges of the units [<paramref name="start"/>, <paramref name="end"/>) (a fresh cut). The usual slice —
    /// consecutive grid units clear of reserved ports — is one range whose ends are already even and odd, built directly:
    /// the general path (collect, merge, trim to parity) allocated three lists per slice, which for 160,000 slices was
    /// most of the planner's time in the GC.
    /// </summary>
    private static PortRange[] RangesOf(Geometry g, int start, int end, List<PortRange> scratch)
    {
        var units = g.Units;
        var simple = end > start && !g.IsMap;
        for (var u = start; simple && u < end; u++)
        {
            simple = units[u].Pieces is null;
        }

        if (simple)
        {
            return [new PortRange((ushort)units[start].Low, (ushort)units[end - 1].High)];
        }

        scratch.Clear();
        for (var u = start; u < end; u++)
        {
            units[u].AddTo(scratch);
        }

        return [.. PortSet.TrimSegments(PortSet.Normalize(scratch), g.Reserved)];
    }

    /// <summary>
    /// The ranges of the units <paramref name="order"/>[<paramref name="from"/>..<paramref name="to"/>) (ascending; a
    /// re-plan). Grid units clear of reserved ports, on a grid without reserved ports, have even lows and odd highs and
    /// runs of them are apart by whole units, so each run of consecutive units is one range as it stands — what the
    /// general path (collect, merge, trim each segment to parity) returns for them, without its lists.
    /// </summary>
    private static PortRange[] RangesOf(Geometry g, int[] order, int from, int to, List<PortRange> scratch)
    {
        var units = g.Units;
        var runs = 0;
        var simple = to > from && !g.IsMap;
        for (var i = from; simple && i < to; i++)
        {
            simple = units[order[i]].Pieces is null;
            if (i == from || order[i] != order[i - 1] + 1)
            {
                runs++;
            }
        }

        if (simple && (runs == 1 || g.Reserved.Count == 0))
        {
            var result = new PortRange[runs];
            var r = 0;
            var low = order[from];
            for (var i = from + 1; i <= to; i++)
            {
                if (i == to || order[i] != order[i - 1] + 1)
                {
                    result[r++] = new PortRange((ushort)units[low].Low, (ushort)units[order[i - 1]].High);
                    low = i < to ? order[i] : 0;
                }
            }

            return result;
        }

        scratch.Clear();
        for (var i = from; i < to; i++)
        {
            units[order[i]].AddTo(scratch);
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
    /// largest — so new slices stay as few ranges as the free space allows. Returns each allocatable unit's new owner
    /// (-1: spare); a unit has at most one owner, so this is each host's unit list in port order.
    /// </summary>
    private static int[] KeepAndFill(Unit[] units, int hostCount, double[] targets, bool[] floors, long[] prefix, int[] previousOwner, int minSize, Scratch scratch)
    {
        var allocatable = prefix.Length - 1;
        var owner = Scratch.Fit(ref scratch.Owner, allocatable);
        var kept = Scratch.Fit(ref scratch.Kept, hostCount);
        Array.Clear(kept, 0, hostCount);
        var freeRuns = 0;
        for (var u = 0; u < allocatable; u++)
        {
            var h = previousOwner[u];
            var c = units[u].Capacity;
            if (h >= 0 && c > 0 && Wants(floors[h], targets[h], kept[h], c, minSize))
            {
                owner[u] = h;
                kept[h] += c;
            }
            else
            {
                owner[u] = -1;
                if (u == 0 || owner[u - 1] >= 0)
                {
                    freeRuns++;
                }
            }
        }

        // Free runs ordered by (capacity, start) for best fit; end[start] is where the run starting there ends.
        var keys = Scratch.Fit(ref scratch.Keys, freeRuns);
        var end = Scratch.Fit(ref scratch.End, allocatable);
        var n = 0;
        for (var u = 0; u < allocatable;)
        {
            if (owner[u] >= 0)
            {
                u++;
                continue;
            }

            var s = u;
            while (u < allocatable && owner[u] < 0)
            {
                u++;
            }

            end[s] = u;
            keys[n++] = RunSet.Key(prefix[u] - prefix[s], s);
        }

        var runs = new RunSet(keys, n);
        for (var h = 0; h < hostCount; h++)
        {
            while (runs.Count > 0)
            {
                var deficit = (long)Math.Ceiling(targets[h] - kept[h]);
                if (deficit <= 0)
                {
                    break;
                }

                // The smallest run that covers the deficit, else the largest.
                var largest = runs.Max;
                var run = RunSet.CapacityOf(largest) >= deficit ? runs.Ceiling(RunSet.Key(deficit, 0)) : largest;
                var start = RunSet.StartOf(run);
                var runEnd = end[start];
                var u = start;
                while (u < runEnd && (units[u].Capacity == 0 || Wants(floors[h], targets[h], kept[h], units[u].Capacity, minSize)))
                {
                    owner[u] = h;
                    kept[h] += units[u].Capacity;
                    u++;
                }

                if (u == start)
                {
                    // Nothing taken: the run stays as it was.
                    break;
                }

                runs.Remove(run);
                if (u < runEnd)
                {
                    end[u] = runEnd;
                    runs.Add(RunSet.Key(prefix[runEnd] - prefix[u], u));
                }
            }
        }

        // Ports nobody needed go back to their previous owner rather than to the spare pool: moving them gains nothing.
        for (var u = 0; u < allocatable; u++)
        {
            if (owner[u] < 0)
            {
                owner[u] = previousOwner[u];
            }
        }

        return owner;
    }

    /// <summary>Each host's units in port order: order[offsets[h]..offsets[h + 1]) (a counting sort of <paramref name="owner"/>).</summary>
    private static (int[] Order, int[] Offsets) Group(int[] owner, int allocatable, int hostCount, Scratch scratch)
    {
        var offsets = Scratch.Fit(ref scratch.Offsets, hostCount + 1);
        Array.Clear(offsets, 0, hostCount + 1);
        for (var u = 0; u < allocatable; u++)
        {
            if (owner[u] >= 0)
            {
                offsets[owner[u] + 1]++;
            }
        }

        for (var h = 0; h < hostCount; h++)
        {
            offsets[h + 1] += offsets[h];
        }

        var order = Scratch.Fit(ref scratch.Order, offsets[hostCount]);
        var next = Scratch.Fit(ref scratch.Next, hostCount);
        Array.Copy(offsets, next, hostCount);
        for (var u = 0; u < allocatable; u++)
        {
            if (owner[u] >= 0)
            {
                order[next[owner[u]]++] = u;
            }
        }

        return (order, offsets);
    }

    // Take another unit while it fits the target (pinned and raised-to-minimum hosts: until the target is reached).
    // Rounding down, unlike the fresh cut, because per-host rounding up would over-commit the range; what is left
    // over goes back to its previous owner.
    private static bool Wants(bool floor, double target, long have, int capacity, int minSize) =>
        have < minSize || (floor ? have < target : have + capacity <= target);

    /// <summary>
    /// For each allocatable unit, the index of the (remaining) host that owned all of it before, or -1.
    /// <paramref name="hostOf"/> holds each previous slice's host (-1: not in this re-plan). A planner-written plan's
    /// ranges, in slice order, are mostly ascending and disjoint: then a cursor walks them along the units (binary search
    /// only where the units jump back, as MAP units do). Overlapping ranges (a hand-edited plan) take the general path.
    /// </summary>
    private static int[] PreviousOwners(Unit[] units, int allocatable, EgressPlan prior, int[] hostOf, Scratch scratch)
    {
        var slices = ListSpan.Of(prior.Slices);
        var total = 0;
        for (var k = 0; k < hostOf.Length; k++)
        {
            if (hostOf[k] >= 0)
            {
                total += slices[k].Ranges.Count;
            }
        }

        var lows = Scratch.Fit(ref scratch.Lows, total);
        var highs = Scratch.Fit(ref scratch.Highs, total);
        var hosts = Scratch.Fit(ref scratch.Hosts, total);
        var n = 0;
        for (var k = 0; k < hostOf.Length; k++)
        {
            if (hostOf[k] < 0)
            {
                continue;
            }

            var ranges = ListSpan.Of(slices[k].Ranges);
            for (var i = 0; i < ranges.Length; i++)
            {
                lows[n] = ranges[i].Low;
                highs[n] = ranges[i].High;
                hosts[n++] = hostOf[k];
            }
        }

        var ascending = true;
        for (var i = 1; i < n && ascending; i++)
        {
            ascending = lows[i - 1] < lows[i];
        }

        if (!ascending)
        {
            // Sort by first port. Where ranges are disjoint their lows differ and the order is unique; where they overlap
            // this is the sort (algorithm and comparison) the planner always used, so ties fall as they did.
            var owned = new (PortRange Range, int Host)[n];
            for (var i = 0; i < n; i++)
            {
                owned[i] = (new PortRange((ushort)lows[i], (ushort)highs[i]), hosts[i]);
            }

            Array.Sort(owned, static (a, b) => a.Range.Low.CompareTo(b.Range.Low));
            for (var i = 0; i < n; i++)
            {
                (lows[i], highs[i], hosts[i]) = (owned[i].Range.Low, owned[i].Range.High, owned[i].Host);
            }
        }

        var strictly = true;
        for (var i = 1; i < n && strictly; i++)
        {
            strictly = lows[i - 1] < lows[i];
        }

        var cursor = 0;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        int OwnerOf(int low, int high)
        {
            int i;
            if (strictly && n > 0 && lows[cursor] <= low)
            {
                i = cursor;
                while (i + 1 < n && lows[i + 1] <= low)
                {
                    i++;
                }

                cursor = i;
            }
            else
            {
                i = Array.BinarySearch(lows, 0, n, low);
                i = i >= 0 ? i : ~i - 1;
                if (strictly && i >= 0)
                {
                    cursor = i;
                }
            }

            return i >= 0 && low >= lows[i] && high <= highs[i] ? hosts[i] : -1;
        }

        var result = Scratch.Fit(ref scratch.PreviousOwner, allocatable);
        for (var u = 0; u < allocatable; u++)
        {
            var unit = units[u];
            int owner;
            if (unit.Pieces is not { } pieces)
            {
                owner = OwnerOf(unit.Low, unit.High);
            }
            else
            {
                owner = pieces.Length == 0 ? -1 : OwnerOf(pieces[0].Low, pieces[0].High);
                for (var p = 1; p < pieces.Length && owner >= 0; p++)
                {
                    if (OwnerOf(pieces[p].Low, pieces[p].High) != owner)
                    {
                        owner = -1;
                    }
                }
            }

            result[u] = owner;
        }

        return result;
    }

    /// <summary>
    /// Working arrays of a re-plan, reused from one egress IP to the next. Sized by the grid (32,256 units for 1024-65535
    /// cut by 2), each would be a large-object allocation per egress IP, and those start full collections of a heap that
    /// holds both plans.
    /// </summary>
    private sealed class Scratch
    {
        public int[] PreviousOwner = [];
        public int[] Owner = [];
        public int[] End = [];
        public int[] Order = [];
        public int[] Lows = [];
        public int[] Highs = [];
        public int[] Hosts = [];
        public int[] SliceLows = [];
        public int[] Offsets = [];
        public int[] Next = [];
        public long[] Kept = [];
        public long[] Keys = [];

        private IReadOnlyList<SpecHost>? _targetHosts;
        private long _targetCapacity;
        private int _targetMinSize;
        private (double[] Targets, bool[] Floors) _targets;

        /// <summary><see cref="Planner.Targets"/>, computed once for the egress IPs that share hosts and capacity (only
        /// read from there on).</summary>
        public (double[] Targets, bool[] Floors) Targets(IReadOnlyList<SpecHost> hosts, long capacity, int minSize)
        {
            if (!ReferenceEquals(hosts, _targetHosts) || capacity != _targetCapacity || minSize != _targetMinSize)
            {
                _targets = Planner.Targets(hosts, capacity, minSize);
                (_targetHosts, _targetCapacity, _targetMinSize) = (hosts, capacity, minSize);
            }

            return _targets;
        }

        /// <summary><paramref name="array"/> when it holds at least <paramref name="length"/> items, else a new one.</summary>
        public static T[] Fit<T>(ref T[] array, int length)
        {
            if (array.Length < length)
            {
                array = new T[length];
            }

            return array;
        }
    }
}
