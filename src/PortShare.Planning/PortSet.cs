namespace PortShare.Planning;

/// <summary>Operations on sorted, disjoint, merged lists of port ranges.</summary>
internal static class PortSet
{
    /// <summary>Sorts and merges overlapping or adjacent ranges.</summary>
    public static List<PortRange> Normalize(IEnumerable<PortRange> ranges)
    {
        // Planning calls this once per host and egress IP (160,000 times for 10,000 hosts on 16 IPs): sort in place, and
        // only when needed, rather than through LINQ's OrderBy and its buffers. Equal lows merge the same in any order.
        var sorted = new List<PortRange>(ranges);
        for (var i = 1; i < sorted.Count; i++)
        {
            if (sorted[i].Low < sorted[i - 1].Low)
            {
                sorted.Sort(static (x, y) => x.Low.CompareTo(y.Low));
                break;
            }
        }

        var result = new List<PortRange>(sorted.Count);
        foreach (var r in sorted)
        {
            if (result.Count > 0 && r.Low <= result[^1].High + 1)
            {
                var last = result[^1];
                result[^1] = new PortRange(last.Low, Math.Max(last.High, r.High));
            }
            else
            {
                result.Add(r);
            }
        }

        return result;
    }

    /// <summary><paramref name="from"/> minus <paramref name="remove"/>; both normalized. The first range of
    /// <paramref name="remove"/> that matters is found by binary search, so subtracting a long list (a fleet's ports in
    /// quarantine, a new host's 10,000 ranges) from a short one costs its logarithm, not its length.</summary>
    public static List<PortRange> Subtract(IReadOnlyList<PortRange> from, IReadOnlyList<PortRange> remove)
    {
        var result = new List<PortRange>();
        int j = 0, hi = remove.Count;
        if (from.Count > 0)
        {
            while (j < hi)
            {
                var mid = (j + hi) >>> 1;
                if (remove[mid].High < from[0].Low)
                {
                    j = mid + 1;
                }
                else
                {
                    hi = mid;
                }
            }
        }

        foreach (var r in from)
        {
            int lo = r.Low;
            while (j < remove.Count && remove[j].High < lo)
            {
                j++;
            }

            var k = j;
            while (k < remove.Count && remove[k].Low <= r.High)
            {
                if (remove[k].Low > lo)
                {
                    result.Add(new PortRange((ushort)lo, (ushort)(remove[k].Low - 1)));
                }

                lo = Math.Max(lo, remove[k].High + 1);
                k++;
            }

            if (lo <= r.High)
            {
                result.Add(new PortRange((ushort)lo, r.High));
            }
        }

        return result;
    }

    /// <summary><paramref name="a"/> ∩ <paramref name="b"/>; both normalized.</summary>
    public static List<PortRange> Intersect(IReadOnlyList<PortRange> a, IReadOnlyList<PortRange> b)
    {
        var result = new List<PortRange>();
        int i = 0, j = 0;
        while (i < a.Count && j < b.Count)
        {
            if (a[i].Intersect(b[j]) is { } x)
            {
                result.Add(x);
            }

            if (a[i].High < b[j].High)
            {
                i++;
            }
            else
            {
                j++;
            }
        }

        return result;
    }

    public static int Count(IEnumerable<PortRange> ranges)
    {
        if (ranges is not IReadOnlyList<PortRange> list)
        {
            return ranges.Sum(r => r.Count);
        }

        // Indexed: no enumerator is boxed on the planner's per-slice path.
        var n = 0;
        for (var i = 0; i < list.Count; i++)
        {
            n += list[i].Count;
        }

        return n;
    }

    /// <summary>Shrinks a run to an even low and an odd high port (F2); null when nothing is left.</summary>
    public static PortRange? TrimToParity(int low, int high)
    {
        if (low % 2 == 1)
        {
            low++;
        }

        if (high % 2 == 0)
        {
            high--;
        }

        return low <= high ? new PortRange((ushort)low, (ushort)high) : null;
    }

    /// <summary>
    /// Groups a slice's sorted ranges into segments: runs whose gaps hold only reserved ports, which the kernel skips
    /// by itself (<c>ip_local_reserved_ports</c>), so one <c>IP_LOCAL_PORT_RANGE</c> value (the segment's span) serves the run.
    /// </summary>
    public static List<PortRange> Segments(IReadOnlyList<PortRange> ranges, IReadOnlyList<PortRange> reserved)
    {
        var spans = new List<PortRange>();
        for (var i = 0; i < ranges.Count; i++)
        {
            if (spans.Count > 0 && ranges[i].Low > spans[^1].High && OnlyReserved(spans[^1].High + 1, ranges[i].Low - 1, reserved))
            {
                spans[^1] = new PortRange(spans[^1].Low, ranges[i].High);
            }
            else
            {
                spans.Add(ranges[i]);
            }
        }

        return spans;
    }

    /// <summary>Trims each segment's span to an even low and an odd high port (F2), dropping ports outside the trimmed spans.</summary>
    public static List<PortRange> TrimSegments(List<PortRange> ranges, IReadOnlyList<PortRange> reserved)
    {
        var result = new List<PortRange>(ranges.Count);
        var segments = Segments(ranges, reserved);
        foreach (var span in segments)
        {
            if (TrimToParity(span.Low, span.High) is { } trimmed)
            {
                // One segment that needs no trimming (the usual slice) is the ranges themselves.
                result.AddRange(segments.Count == 1 && trimmed == span ? ranges : Intersect(ranges, [trimmed]));
            }
        }

        return result;
    }

    private static bool OnlyReserved(int low, int high, IReadOnlyList<PortRange> reserved) =>
        low > high || Subtract([new PortRange((ushort)low, (ushort)high)], reserved).Count == 0;

    public static string Format(IEnumerable<PortRange> ranges) => string.Join(",", ranges);
}
