namespace PortShare.Planning;

/// <summary>Operations on sorted, disjoint, merged lists of port ranges.</summary>
internal static class PortSet
{
    /// <summary>Sorts and merges overlapping or adjacent ranges.</summary>
    public static List<PortRange> Normalize(IEnumerable<PortRange> ranges)
    {
        var sorted = ranges.OrderBy(r => r.Low).ToList();
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

    /// <summary><paramref name="from"/> minus <paramref name="remove"/>; both normalized.</summary>
    public static List<PortRange> Subtract(IReadOnlyList<PortRange> from, IReadOnlyList<PortRange> remove)
    {
        var result = new List<PortRange>();
        var j = 0;
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

    public static int Count(IEnumerable<PortRange> ranges) => ranges.Sum(r => r.Count);

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

    public static string Format(IEnumerable<PortRange> ranges) => string.Join(",", ranges);
}
