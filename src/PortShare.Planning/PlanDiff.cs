using System.Net;
using System.Runtime.CompilerServices;

namespace PortShare.Planning;

/// <summary>Ports one host keeps, releases and acquires on one egress IP between two plans.</summary>
public sealed record HostMovement
{
    public required string Egress { get; init; }

    public required string Host { get; init; }

    public required int Before { get; init; }

    public required int After { get; init; }

    public required int Kept { get; init; }

    /// <summary>Ports the host owned and no longer does: its live connections on them break.</summary>
    public required int Released { get; init; }

    public required int Acquired { get; init; }
}

/// <summary>What a re-plan moves. <see cref="MovedPorts"/> counts ports whose owner changed (or that became spare).</summary>
public sealed record MovementReport
{
    public required long PreviousGeneration { get; init; }

    public required long Generation { get; init; }

    /// <summary>Ports owned by some host in the previous plan.</summary>
    public required long PreviouslyOwnedPorts { get; init; }

    public required long MovedPorts { get; init; }

    public required IReadOnlyList<HostMovement> Hosts { get; init; }

    /// <summary>The moved ports in quarantine when the re-plan was made (still routed to their old owner until then).</summary>
    public IReadOnlyList<QuarantinedPorts> Quarantined { get; init; } = [];
}

/// <summary>Compares two plans port by port.</summary>
public static class PlanDiff
{
    /// <summary>
    /// One row per egress IP (the next plan's, then those only the previous plan has) and host (those with a slice in the
    /// next plan, by first port, then those only in the previous one), comparing each host's first slice on either side.
    /// </summary>
    public static MovementReport Compare(Plan previous, Plan next)
    {
        ArgumentNullException.ThrowIfNull(previous);
        ArgumentNullException.ThrowIfNull(next);

        // The egress IPs to compare, in row order.
        var seen = new HashSet<IPAddress>();
        var addresses = new List<IPAddress>(next.Egress.Count + previous.Egress.Count);
        foreach (var e in next.Egress.Concat(previous.Egress))
        {
            if (seen.Add(e.Address))
            {
                addresses.Add(e.Address);
            }
        }

        // Runs of egress IPs compared side by side, each into its own rows, kept at the index of its first egress IP.
        var parts = new (List<HostMovement> Rows, long Owned, long Moved)?[addresses.Count];
        Fanout.Runs(addresses.Count, Fanout.SliceCount(next.Egress) + Fanout.SliceCount(previous.Egress), (from, to) => parts[from] = Compare(previous, next, addresses, from, to));

        long owned = 0, moved = 0;
        var rows = new List<HostMovement>(parts.Sum(p => p?.Rows.Count ?? 0));
        foreach (var part in parts)
        {
            if (part is var (partRows, partOwned, partMoved))
            {
                rows.AddRange(partRows);
                owned += partOwned;
                moved += partMoved;
            }
        }

        return new MovementReport
        {
            PreviousGeneration = previous.Generation,
            Generation = next.Generation,
            PreviouslyOwnedPorts = owned,
            MovedPorts = moved,
            Hosts = rows,
        };
    }

    // Egress IPs addresses[from..to): per host id, stamped with the egress IP being compared (so nothing is cleared between
    // egress IPs), the host's first slice before, and whether it has its row yet. One table of names for both plans.
    private static (List<HostMovement> Rows, long Owned, long Moved) Compare(Plan previous, Plan next, List<IPAddress> addresses, int from, int to)
    {
        var perEgress = next.Egress.Count > 0 ? next.Egress[0].Slices.Count : 0;
        var rows = new List<HostMovement>((to - from) * perEgress);
        var ids = new HostIds(perEgress);
        int[]? guessBefore = null, guessAfter = null;
        var firstBefore = Array.Empty<int>();
        var beforeStamp = Array.Empty<int>();
        var rowStamp = Array.Empty<int>();
        var stamp = 0;
        long owned = 0, moved = 0;
        for (var n = from; n < to; n++)
        {
            var address = addresses[n];
            var text = AddressText.Format(address);
            var before = previous.FindEgress(address);
            var after = next.FindEgress(address);
            var beforeIds = before is null ? [] : guessBefore = ids.Of(before.Slices, guessBefore, add: true);
            var afterIds = after is null ? [] : guessAfter = ids.Of(after.Slices, guessAfter, add: true);
            var beforeSlices = before is null ? [] : ListSpan.Of(before.Slices);
            var afterSlices = after is null ? [] : ListSpan.Of(after.Slices);
            if (ids.Count > rowStamp.Length)
            {
                var size = Math.Max(ids.Count, rowStamp.Length * 2);
                Array.Resize(ref firstBefore, size);
                Array.Resize(ref beforeStamp, size);
                Array.Resize(ref rowStamp, size);
            }

            stamp++;
            for (var k = 0; k < beforeIds.Length; k++)
            {
                var id = beforeIds[k];
                if (beforeStamp[id] != stamp)
                {
                    beforeStamp[id] = stamp;
                    firstBefore[id] = k;
                }
            }

            // Hosts of the next plan first, then those only before; each host's first slice on each side.
            for (var k = 0; k < afterIds.Length; k++)
            {
                var id = afterIds[k];
                if (rowStamp[id] == stamp)
                {
                    continue;
                }

                rowStamp[id] = stamp;
                var slice = afterSlices[k];
                var b = beforeStamp[id] == stamp ? beforeSlices[firstBefore[id]].Ranges : [];
                Add(rows, text, slice.Host, b, slice.Ranges, ref owned, ref moved);
            }

            for (var k = 0; k < beforeIds.Length; k++)
            {
                var id = beforeIds[k];
                if (rowStamp[id] == stamp)
                {
                    continue;
                }

                rowStamp[id] = stamp;
                var slice = beforeSlices[k];
                Add(rows, text, slice.Host, slice.Ranges, [], ref owned, ref moved);
            }
        }

        return (rows, owned, moved);
    }

    // Inlined into Compare's loops (once per row, 160,000 times), with the usual one range a side counted in place.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Add(List<HostMovement> rows, string egress, string host, IReadOnlyList<PortRange> before, IReadOnlyList<PortRange> after, ref long owned, ref long moved)
    {
        int b, a, kept;
        var beforeRanges = ListSpan.Of(before);
        var afterRanges = ListSpan.Of(after);
        if (beforeRanges.Length == 1 && afterRanges.Length == 1)
        {
            var (x, y) = (beforeRanges[0], afterRanges[0]);
            (b, a) = (x.High - x.Low + 1, y.High - y.Low + 1);
            kept = Math.Max(0, Math.Min(x.High, y.High) - Math.Max(x.Low, y.Low) + 1);
        }
        else
        {
            (b, a, kept) = Overlap(before, after);
        }

        rows.Add(new HostMovement { Egress = egress, Host = host, Before = b, After = a, Kept = kept, Released = b - kept, Acquired = a - kept });
        owned += b;
        moved += b - kept;
    }

    /// <summary>Ports in <paramref name="before"/>, in <paramref name="after"/>, and in both (a slice listing a port twice
    /// counts it once).</summary>
    internal static (int Before, int After, int Kept) Overlap(IReadOnlyList<PortRange> before, IReadOnlyList<PortRange> after)
    {
        if (before.Count == 1 && after.Count == 1)
        {
            // The usual slice, without the lists that merging needs.
            return (before[0].Count, after[0].Count, before[0].Intersect(after[0])?.Count ?? 0);
        }

        if (Disjoint(before) && Disjoint(after))
        {
            // Sorted and apart (a planner-written slice): merging would change no count, so count in one pass.
            var kept = 0;
            for (int i = 0, j = 0; i < before.Count && j < after.Count;)
            {
                kept += before[i].Intersect(after[j])?.Count ?? 0;
                if (before[i].High < after[j].High)
                {
                    i++;
                }
                else
                {
                    j++;
                }
            }

            return (PortSet.Count(before), PortSet.Count(after), kept);
        }

        var old = PortSet.Normalize(before);
        var now = PortSet.Normalize(after);
        return (PortSet.Count(old), PortSet.Count(now), PortSet.Count(PortSet.Intersect(old, now)));
    }

    private static bool Disjoint(IReadOnlyList<PortRange> ranges)
    {
        for (var i = 1; i < ranges.Count; i++)
        {
            if (ranges[i].Low <= ranges[i - 1].High)
            {
                return false;
            }
        }

        return true;
    }
}
