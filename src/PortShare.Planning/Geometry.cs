using System.Net;

namespace PortShare.Planning;

/// <summary>
/// The smallest piece the planner hands out. Contiguous shape: <c>alignment</c> consecutive ports on the alignment grid.
/// MAP shape: one PSID's port set. <see cref="Pieces"/> is null when the unit is the whole range [Low, High];
/// otherwise it holds what is left after reserved ports, the usable range and parity trimming.
/// </summary>
internal readonly record struct Unit(int Low, int High, int Capacity, PortRange[]? Pieces)
{
    public void AddTo(List<PortRange> ranges)
    {
        if (Pieces is null)
        {
            ranges.Add(new PortRange((ushort)Low, (ushort)High));
        }
        else
        {
            ranges.AddRange(Pieces);
        }
    }
}

/// <summary>One egress IP as the planner sees it: its usable ports cut into units, in port order.</summary>
internal sealed class Geometry
{
    private readonly Grid _grid;

    private Geometry(string text, IPAddress address, PortRange usable, List<PortRange> reserved, Grid grid, bool isMap)
    {
        Text = text;
        IsMap = isMap;
        Address = address;
        Usable = usable;
        Reserved = reserved;
        _grid = grid;
    }

    public string Text { get; }

    public IPAddress Address { get; }

    public PortRange Usable { get; }

    public List<PortRange> Reserved { get; }

    /// <summary>The units in port order: an array, indexed in the planner's loops (160,000 slices' worth per plan).</summary>
    public Unit[] Units => _grid.Units;

    /// <summary>prefix[i] = ports in units [0, i), for the first <paramref name="allocatable"/> units. Shared by the egress IPs
    /// with the same range and reserved ports, like <see cref="Units"/>: both are large (32,256 units for 1024-65535
    /// cut by 2) and, allocated per egress IP, pushed every plan into gen-2 collections.</summary>
    public long[] Prefix(int allocatable) => _grid.Prefix(allocatable);

    /// <summary>MAP shape: a unit is a PSID's port set, not a run of the grid.</summary>
    public bool IsMap { get; }

    /// <summary>The geometry of <paramref name="egress"/>; <paramref name="shared"/> holds the unit grids already cut for
    /// this spec (the same for every egress IP with the same usable range and reserved ports).</summary>
    public static Geometry Create(PlanSpec spec, SpecEgress egress, Dictionary<string, Grid> shared)
    {
        ArgumentNullException.ThrowIfNull(shared);
        var usable = egress.UsableRange ?? spec.UsableRange;
        var reserved = PortSet.Normalize(spec.Reserved.Concat(egress.Reserved));
        var key = $"{usable}|{PortSet.Format(reserved)}";
        if (!shared.TryGetValue(key, out var grid))
        {
            grid = new Grid(spec.Map is { } map ? MapUnits(map, usable, reserved) : GridUnits(spec.Alignment, usable, reserved));
            shared[key] = grid;
        }

        return new Geometry(egress.Address, AddressText.Parse(egress.Address), usable, reserved, grid, spec.Map is not null);
    }

    /// <summary>Units and their prefix sums; read by the egress IPs planned side by side (<see cref="Fanout"/>).</summary>
    internal sealed class Grid(Unit[] units)
    {
        private readonly Lock _lock = new();
        private long[]? _prefix;

        public Unit[] Units { get; } = units;

        public long[] Prefix(int allocatable)
        {
            lock (_lock)
            {
                if (_prefix is { } p && p.Length == allocatable + 1)
                {
                    return p;
                }

                p = new long[allocatable + 1];
                for (var i = 0; i < allocatable; i++)
                {
                    p[i + 1] = p[i] + Units[i].Capacity;
                }

                return _prefix = p;
            }
        }
    }

    // An array of the exact size (32,256 units for 1024-65535 by 2), not a list copied into one: both are large objects.
    private static Unit[] GridUnits(int alignment, PortRange usable, List<PortRange> reserved)
    {
        var first = PlanValidator.AlignUp(usable.Low, alignment);
        var units = new Unit[Math.Max(0, (usable.High - first + 1) / alignment)];
        var n = 0;
        var j = 0;
        var pieces = new List<PortRange>();
        for (var lo = PlanValidator.AlignUp(usable.Low, alignment); lo + alignment - 1 <= usable.High; lo += alignment)
        {
            var hi = lo + alignment - 1;
            while (j < reserved.Count && reserved[j].High < lo)
            {
                j++;
            }

            if (j >= reserved.Count || reserved[j].Low > hi)
            {
                units[n++] = new Unit(lo, hi, alignment, null);
                continue;
            }

            // Not trimmed to parity here: only a segment's ends need it, and those depend on the neighbours (Planner).
            pieces.Clear();
            pieces.AddRange(PortSet.Subtract([new PortRange((ushort)lo, (ushort)hi)], reserved.GetRange(j, reserved.Count - j)));
            units[n++] = new Unit(lo, hi, PortSet.Count(pieces), [.. pieces]);
        }

        return units;
    }

    // RFC 7597 §5.1: port = i·2^(16-a) + psid·2^m + j, i ≥ 1 (i = 0 is the excluded low range).
    private static Unit[] MapUnits(MapShape map, PortRange usable, List<PortRange> reserved)
    {
        int a = map.OffsetBits, k = map.PsidLength, m = map.ContiguousBits;
        var units = new Unit[1 << k];
        var pieces = new List<PortRange>();
        for (var psid = 0; psid < 1 << k; psid++)
        {
            pieces.Clear();
            for (var i = 1; i < 1 << a; i++)
            {
                var lo = (i << (16 - a)) + (psid << m);
                var hi = lo + (1 << m) - 1;
                if (hi < usable.Low || lo > usable.High)
                {
                    continue;
                }

                var block = new PortRange((ushort)Math.Max(lo, usable.Low), (ushort)Math.Min(hi, usable.High));
                foreach (var free in PortSet.Subtract([block], reserved))
                {
                    AddTrimmed(pieces, free.Low, free.High);
                }
            }

            units[psid] = new Unit(psid, psid, PortSet.Count(pieces), [.. pieces]);
        }

        return units;
    }

    private static void AddTrimmed(List<PortRange> pieces, int low, int high)
    {
        if (low <= high && PortSet.TrimToParity(low, high) is { } r)
        {
            pieces.Add(r);
        }
    }
}
