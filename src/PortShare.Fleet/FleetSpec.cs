using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Numerics;
using System.Text.Json;

namespace PortShare.Fleet;

/// <summary>One egress address of a pool and the ports it offers.</summary>
/// <param name="Address">The shared egress address.</param>
/// <param name="UsableRange">The ports cut into units.</param>
/// <param name="Reserved">Ports no unit may contain (a unit touching one is left out).</param>
public sealed record PoolEgress(IPAddress Address, PortRange UsableRange, IReadOnlyList<PortRange> Reserved)
{
    /// <summary>Units a host claims on this address at least (null: the pool's <c>min_units</c>).</summary>
    public int? MinUnits { get; init; }

    /// <summary>Units a host may grow to on this address (null: the pool's <c>max_units</c>).</summary>
    public int? MaxUnits { get; init; }
}

/// <summary>
/// A fleet pool: per egress address, fixed-size units of <see cref="UnitSize"/> ports (a power of two, aligned to its
/// size, so each unit starts on an even port and ends on an odd one, as the kernel's even-port rule wants).
/// </summary>
public sealed record PoolSpec
{
    /// <summary>The spec format version this release writes.</summary>
    public const int CurrentVersion = 1;

    /// <summary>Ports per unit.</summary>
    public required int UnitSize { get; init; }

    /// <summary>Units an agent claims per egress address.</summary>
    public int MinUnits { get; init; } = 1;

    /// <summary>Units an agent may grow to per egress address when it fills (elastic slices); equal to <see cref="MinUnits"/> when not given, which turns growing off.</summary>
    public int? MaxUnits { get; init; }

    /// <summary>Grow when the fullest destination uses this fraction of the host's ports on an address.</summary>
    public double GrowAt { get; init; } = 0.8;

    /// <summary>After a claim or a release for fill, wait this long before the next (a burst does not grab the pool).</summary>
    public int HoldDownSeconds { get; init; } = 5;

    /// <summary>A unit whose sockets stay at or below this fraction of its ports for <see cref="IdleSeconds"/> is drained and released (never below the minimum).</summary>
    public double ShrinkBelow { get; init; } = 0.05;

    /// <summary>How long a unit must stay idle before it is drained.</summary>
    public int IdleSeconds { get; init; } = 60;

    /// <summary>The fewest units a host holds on <paramref name="egress"/>.</summary>
    public int MinFor(PoolEgress egress) => egress?.MinUnits ?? MinUnits;

    /// <summary>The most units a host may hold on <paramref name="egress"/>.</summary>
    public int MaxFor(PoolEgress egress) => Math.Max(MinFor(egress!), egress?.MaxUnits ?? MaxUnits ?? MinUnits);

    /// <summary>True when some host may hold more than its minimum somewhere.</summary>
    public bool IsElastic => Egress.Any(e => MaxFor(e) > MinFor(e));

    /// <summary>How long a released or expired unit stays routed to its previous owner before anyone may claim it.</summary>
    public int QuarantineSeconds { get; init; } = 60;

    /// <summary>The TTL of each agent's lease.</summary>
    public int LeaseTtlSeconds { get; init; } = 10;

    /// <summary>The egress addresses.</summary>
    public required IReadOnlyList<PoolEgress> Egress { get; init; }

    /// <summary>The units of <paramref name="egress"/>: aligned blocks of <see cref="UnitSize"/> inside its usable range, clear of reserved ports.</summary>
    public IReadOnlyList<PortRange> UnitsOf(PoolEgress egress)
    {
        ArgumentNullException.ThrowIfNull(egress);
        var units = new List<PortRange>();
        var first = (egress.UsableRange.Low + UnitSize - 1) / UnitSize * UnitSize;
        for (var low = first; low + UnitSize - 1 <= egress.UsableRange.High; low += UnitSize)
        {
            var unit = new PortRange((ushort)low, (ushort)(low + UnitSize - 1));
            if (!egress.Reserved.Any(r => r.Overlaps(unit)))
            {
                units.Add(unit);
            }
        }

        return units;
    }

    /// <summary>The egress entry of <paramref name="address"/>, or null.</summary>
    public PoolEgress? Find(IPAddress address) => Egress.FirstOrDefault(e => e.Address.Equals(address));

    /// <summary>Every problem of the spec, each naming the field and value; empty when it is usable.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (UnitSize < 2 || !BitOperations.IsPow2(UnitSize) || UnitSize > 32768)
        {
            errors.Add($"unit_size {UnitSize} is not usable: it must be a power of two from 2 to 32768, so that every unit starts on an even port and ends on an odd one (the kernel's even-port rule; a 1-port unit would lose its port).");
        }

        if (MinUnits < 1)
        {
            errors.Add($"min_units {MinUnits} must be at least 1.");
        }

        if (QuarantineSeconds < 1)
        {
            errors.Add($"quarantine_seconds {QuarantineSeconds} must be at least 1 (use at least the longest TIME_WAIT of the fleet, 60 s on Linux).");
        }

        if (LeaseTtlSeconds < 2)
        {
            errors.Add($"lease_ttl_seconds {LeaseTtlSeconds} must be at least 2 (etcd's shortest lease).");
        }

        if (Egress.Count == 0)
        {
            errors.Add("the spec has no egress addresses.");
        }

        foreach (var dup in Egress.GroupBy(e => e.Address).Where(g => g.Count() > 1))
        {
            errors.Add($"egress {dup.Key} is listed {dup.Count()} times.");
        }

        if (MaxUnits is { } max && max < MinUnits)
        {
            errors.Add($"max_units {max} is less than min_units {MinUnits}.");
        }

        if (GrowAt is <= 0 or > 1 || double.IsNaN(GrowAt))
        {
            errors.Add($"grow_at {GrowAt.ToString(CultureInfo.InvariantCulture)} must be a fraction above 0 and at most 1 (e.g. 0.8).");
        }

        if (ShrinkBelow is < 0 or >= 1 || double.IsNaN(ShrinkBelow))
        {
            errors.Add($"shrink_below {ShrinkBelow.ToString(CultureInfo.InvariantCulture)} must be a fraction from 0 up to (not including) 1.");
        }

        if (HoldDownSeconds < 0 || IdleSeconds < 1)
        {
            errors.Add($"hold_down_seconds {HoldDownSeconds} must be at least 0 and idle_seconds {IdleSeconds} at least 1.");
        }

        if (errors.Count == 0)
        {
            foreach (var e in Egress)
            {
                var n = UnitsOf(e).Count;
                if (n == 0)
                {
                    errors.Add($"egress {e.Address}: usable_range {e.UsableRange} holds no aligned unit of {UnitSize} ports clear of reserved ports.");
                }
                else if (e.MinUnits is { } emin && e.MaxUnits is { } emax && emax < emin)
                {
                    errors.Add($"egress {e.Address}: max_units {emax} is less than min_units {emin}.");
                }
                else if (MaxFor(e) > n)
                {
                    errors.Add($"egress {e.Address}: max_units {MaxFor(e)} is more than the {n} units its usable range holds.");
                }
                else if (MinFor(e) > n)
                {
                    errors.Add($"egress {e.Address}: min_units {MinFor(e)} is more than the {n} units its usable range holds.");
                }
            }
        }

        return errors;
    }

    /// <summary>Parses a fleet spec; throws <see cref="FleetException"/> naming <paramref name="source"/> and every problem.</summary>
    public static PoolSpec Parse(string json, string source)
    {
        ArgumentNullException.ThrowIfNull(json);
        PoolJson? dto;
        try
        {
            dto = JsonSerializer.Deserialize(json, FleetJsonContext.Default.PoolJson);
        }
        catch (JsonException ex)
        {
            throw new FleetException($"{source} is not a fleet spec: it is not valid JSON ({ex.Message}).", ex);
        }

        if (dto is null)
        {
            throw new FleetException($"{source} is not a fleet spec: it is empty.");
        }

        var errors = new List<string>();
        if (dto.Version is { } v && v != CurrentVersion)
        {
            errors.Add($"version {v} is not one this release reads ({CurrentVersion}).");
        }

        var defaultRange = ParseRange(dto.UsableRange, "usable_range", errors) ?? new PortRange(32768, 60999);
        var defaultReserved = ParseRanges(dto.Reserved, "reserved", errors);
        var egress = new List<PoolEgress>();
        if (dto.UnitSize is null)
        {
            errors.Add("unit_size is missing (a power of two of ports, e.g. 64).");
        }

        for (var i = 0; i < (dto.Egress?.Count ?? 0); i++)
        {
            var e = dto.Egress![i];
            if (e?.Address is null || !IPAddress.TryParse(e.Address, out var address) || address.AddressFamily is not (AddressFamily.InterNetwork or AddressFamily.InterNetworkV6))
            {
                errors.Add($"egress[{i}].address '{e?.Address}' is not an IPv4 or IPv6 address.");
                continue;
            }

            var range = ParseRange(e.UsableRange, $"egress[{i}].usable_range", errors) ?? defaultRange;
            var reserved = e.Reserved is null ? defaultReserved : ParseRanges(e.Reserved, $"egress[{i}].reserved", errors);
            egress.Add(new PoolEgress(address, range, reserved) { MinUnits = e.MinUnits, MaxUnits = e.MaxUnits });
        }

        var spec = new PoolSpec
        {
            UnitSize = dto.UnitSize ?? 0,
            MinUnits = dto.MinUnits ?? 1,
            QuarantineSeconds = dto.QuarantineSeconds ?? 60,
            LeaseTtlSeconds = dto.LeaseTtlSeconds ?? 10,
            MaxUnits = dto.MaxUnits,
            GrowAt = dto.GrowAt ?? 0.8,
            HoldDownSeconds = dto.HoldDownSeconds ?? 5,
            ShrinkBelow = dto.ShrinkBelow ?? 0.05,
            IdleSeconds = dto.IdleSeconds ?? 60,
            Egress = egress,
        };
        if (errors.Count == 0)
        {
            errors.AddRange(spec.Validate());
        }

        if (errors.Count > 0)
        {
            throw new FleetException($"{source} is not a usable fleet spec: {string.Join(" ", errors)}");
        }

        return spec;
    }

    /// <summary>The spec as stored in etcd (and as a spec file).</summary>
    public string ToJson() => JsonSerializer.Serialize(
        new PoolJson
        {
            Version = CurrentVersion,
            UnitSize = UnitSize,
            MinUnits = MinUnits,
            QuarantineSeconds = QuarantineSeconds,
            LeaseTtlSeconds = LeaseTtlSeconds,
            MaxUnits = MaxUnits,
            GrowAt = GrowAt,
            HoldDownSeconds = HoldDownSeconds,
            ShrinkBelow = ShrinkBelow,
            IdleSeconds = IdleSeconds,
            Egress = [.. Egress.Select(e => new PoolEgressJson
            {
                Address = e.Address.ToString(),
                MinUnits = e.MinUnits,
                MaxUnits = e.MaxUnits,
                UsableRange = e.UsableRange.ToString(),
                Reserved = [.. e.Reserved.Select(r => r.ToString())],
            })],
        },
        FleetJsonContext.Default.PoolJson);

    /// <summary>What differs between this spec and <paramref name="other"/>, for a conflict message; empty when they are the same pool.</summary>
    public IReadOnlyList<string> Differences(PoolSpec other)
    {
        ArgumentNullException.ThrowIfNull(other);
        var d = new List<string>();
        void Cmp<T>(string name, T a, T b)
        {
            if (!EqualityComparer<T>.Default.Equals(a, b))
            {
                d.Add(string.Create(CultureInfo.InvariantCulture, $"{name} {a} (pool) vs {b} (spec)"));
            }
        }

        Cmp("unit_size", UnitSize, other.UnitSize);
        Cmp("min_units", MinUnits, other.MinUnits);
        Cmp("quarantine_seconds", QuarantineSeconds, other.QuarantineSeconds);
        Cmp("lease_ttl_seconds", LeaseTtlSeconds, other.LeaseTtlSeconds);
        Cmp("max_units", MaxUnits, other.MaxUnits);
        Cmp("grow_at", GrowAt, other.GrowAt);
        Cmp("hold_down_seconds", HoldDownSeconds, other.HoldDownSeconds);
        Cmp("shrink_below", ShrinkBelow, other.ShrinkBelow);
        Cmp("idle_seconds", IdleSeconds, other.IdleSeconds);
        Cmp("egress", Describe(this), Describe(other));
        return d;

        static string Describe(PoolSpec s) => string.Join("; ", s.Egress.Select(e => $"{e.Address} {e.UsableRange}" + (e.Reserved.Count > 0 ? " reserved " + string.Join(',', e.Reserved) : string.Empty) + (e.MinUnits is { } mn ? $" min {mn}" : string.Empty) + (e.MaxUnits is { } mx ? $" max {mx}" : string.Empty)));
    }

    private static PortRange? ParseRange(string? text, string field, List<string> errors)
    {
        if (text is null)
        {
            return null;
        }

        if (PortRange.TryParse(text, out var r, out var why))
        {
            return r;
        }

        errors.Add($"{field} '{text}' is not a port range LO-HI ({why}).");
        return null;
    }

    private static List<PortRange> ParseRanges(List<string>? texts, string field, List<string> errors) =>
        texts is null ? [] : [.. texts.Select(t => ParseRange(t, field, errors)).OfType<PortRange>()];
}
