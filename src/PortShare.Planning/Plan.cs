using System.Net;
using System.Text.Json.Serialization;

namespace PortShare.Planning;

/// <summary>
/// What the planner writes: for each egress IP, which host owns which ports. Self-contained: it carries the rules it was
/// cut with (usable range, reserved ports, minimum size, alignment), so a hand-edited plan can be validated on its own.
/// Addresses are typed when the file is read (a bad address is a read error naming it); serialized as snake_case JSON
/// by <see cref="PlanJsonConverter"/> (schemas/plan.schema.json).
/// </summary>
[JsonConverter(typeof(PlanJsonConverter))]
public sealed record Plan
{
    /// <summary>The newest version this release reads and writes. Version 2 lists each host's next hops once and a slice
    /// as one <c>"host": "LO-HI[,LO-HI…]"</c> member (≈ 25 bytes a slice, against ≈ 145 in version 1). Version 3 adds the
    /// moves in quarantine (<see cref="EgressPlan.Moves"/>); a plan without any is still written as version 2, which
    /// releases before quarantines read, and one with moves says "unsupported version 3" to them.</summary>
    public const int CurrentVersion = 3;

    /// <summary>The version a plan without moves is written as.</summary>
    public const int VersionWithoutMoves = 2;

    /// <summary>The oldest version this release still reads.</summary>
    public const int OldestReadableVersion = 1;

    public required int Version { get; init; }

    /// <summary>Starts at 1; each re-plan adds 1.</summary>
    public required long Generation { get; init; }

    public required int MinSliceSize { get; init; }

    public required int Alignment { get; init; }

    public MapShape? Map { get; init; }

    public required IReadOnlyList<EgressPlan> Egress { get; init; }

    /// <summary>The egress IP's plan, or null when the plan does not share <paramref name="address"/>.</summary>
    public EgressPlan? FindEgress(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        foreach (var egress in Egress)
        {
            if (egress.Address.Equals(address))
            {
                return egress;
            }
        }

        return null;
    }

    /// <summary>The slice of <paramref name="host"/> on <paramref name="egress"/>, or null.</summary>
    public HostSlice? FindSlice(string host, IPAddress egress) => FindEgress(egress)?.FindSlice(host);

    /// <summary>
    /// The port ranges <paramref name="host"/> owns on <paramref name="egress"/> (sorted, usually one).
    /// Throws <see cref="PlanLookupException"/> naming what is missing.
    /// </summary>
    public IReadOnlyList<PortRange> GetSlice(string host, IPAddress egress) => Find(host, egress).Slice.Ranges;

    /// <summary>The slice of <paramref name="host"/> on <paramref name="egress"/> in typed form; throws <see cref="PlanLookupException"/>.</summary>
    public SliceAssignment GetAssignment(string host, IPAddress egress)
    {
        var (e, slice) = Find(host, egress);
        return Assignment(e, slice);
    }

    /// <summary>The slices of <paramref name="host"/> on every egress IP it uses.</summary>
    public IEnumerable<SliceAssignment> GetSlices(string host)
    {
        ArgumentNullException.ThrowIfNull(host);
        foreach (var egress in Egress)
        {
            if (egress.FindSlice(host) is { } slice)
            {
                yield return Assignment(egress, slice);
            }
        }
    }

    /// <summary>True when a re-plan recorded moves (in quarantine or handed over) on some egress IP.</summary>
    public bool HasMoves => Egress.Any(e => e.Moves.Count > 0);

    /// <summary>
    /// The plan as it holds at <paramref name="now"/>: which ports are still in quarantine, the routes the router installs
    /// and each host's file. The one place that decides it (<see cref="HostFile"/> is its per-host part).
    /// </summary>
    public EffectivePlan At(DateTimeOffset now) => new(this, now);

    /// <summary>
    /// The one place a host's ports come from: the exact ranges <paramref name="host"/> may use at <paramref name="now"/>
    /// on every egress IP, as the host file that <c>host apply</c> writes and every consumer reads (<c>plan slice</c>,
    /// <c>connect --plan</c>; the router's routes, <see cref="EffectivePlan.Routes"/>, agree with it). Ports of its slice
    /// still in quarantine for their previous owner are left out (and listed in <see cref="HostSliceFile.Quarantine"/>)
    /// until the quarantine ends; an egress IP where nothing is usable yet has no slice in the file. Never a joined range
    /// covering ports the host does not own.
    /// </summary>
    /// <exception cref="PlanLookupException">The host owns no slice in the plan; the message lists the plan's hosts.</exception>
    public HostSliceFile HostFile(string host, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(host);
        var slices = new List<EgressSlice>();
        var quarantine = new List<QuarantinedSlice>();
        var known = false;
        foreach (var egress in Egress)
        {
            if (egress.FindSlice(host) is { } slice && slice.Ranges.Count > 0)
            {
                known = true;
                var usable = egress.Moves.Count == 0 ? slice.Ranges : EffectivePlan.Subtract(PortSet.Normalize(slice.Ranges), EffectivePlan.Held(egress, now));
                if (usable.Count > 0)
                {
                    slices.Add(new EgressSlice(egress.Address, PortSlice.From(usable)));
                }
            }

            foreach (var m in egress.Moves)
            {
                if (m.IsActive(now) && (string.Equals(m.To, host, StringComparison.Ordinal) || string.Equals(m.From, host, StringComparison.Ordinal)))
                {
                    quarantine.Add(new QuarantinedSlice(egress.Address, PortSlice.From(m.Ports), m.From, m.To, m.Until));
                }
            }
        }

        if (!known)
        {
            var hosts = Egress.SelectMany(e => e.Slices).Select(s => s.Host).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
            var shown = hosts.Count > 10 ? string.Join(", ", hosts.Take(10)) + $" and {hosts.Count - 10} more" : string.Join(", ", hosts);
            throw new PlanLookupException($"Host '{host}' is not in the plan (generation {Generation}); its hosts are: {shown}.");
        }

        return new HostSliceFile { Host = host, PlanGeneration = Generation, Slices = slices, Quarantine = quarantine };
    }

    /// <summary>Every slice as one flat, typed row: egress IP, host, next hop, ranges — the plan's owners, once every
    /// quarantine has ended (what the router installs at a given time is <see cref="EffectivePlan.Routes"/>).</summary>
    public IEnumerable<SliceAssignment> Assignments()
    {
        foreach (var egress in Egress)
        {
            foreach (var slice in egress.Slices)
            {
                yield return Assignment(egress, slice);
            }
        }
    }

    /// <summary>The host that owns <paramref name="port"/> on <paramref name="egress"/> in the plan, or null (spare, reserved
    /// or unplanned); during a quarantine the router still sends it to the old owner (<see cref="EffectivePlan.RouteOf"/>).</summary>
    public HostSlice? Owner(IPAddress egress, ushort port) =>
        FindEgress(egress)?.Slices.FirstOrDefault(s => s.Ranges.Any(r => r.Contains(port)));

    public bool Equals(Plan? other) =>
        other is not null && Version == other.Version && Generation == other.Generation && MinSliceSize == other.MinSliceSize &&
        Alignment == other.Alignment && Equals(Map, other.Map) && Egress.SequenceEqual(other.Egress);

    public override int GetHashCode() => HashCode.Combine(Generation, MinSliceSize, Alignment, Egress.Count);

    private (EgressPlan Egress, HostSlice Slice) Find(string host, IPAddress egress)
    {
        ArgumentNullException.ThrowIfNull(host);
        var e = FindEgress(egress) ?? throw new PlanLookupException(
            $"The plan (generation {Generation}) has no egress IP {egress}; it shares {string.Join(", ", Egress.Select(x => x.Address))}.");
        var slice = e.FindSlice(host) ?? throw new PlanLookupException(
            $"Host '{host}' has no slice on egress IP {e.Address} in the plan (generation {Generation}).");
        return (e, slice);
    }

    private static SliceAssignment Assignment(EgressPlan egress, HostSlice slice) =>
        new(egress.Address, slice.Host, slice.NextHop, slice.Ranges);
}

/// <summary>The slices of one egress IP.</summary>
public sealed record EgressPlan
{
    private Dictionary<string, HostSlice>? _byHost;

    // Look-ups answered by a scan so far: the index is built only for a caller that keeps asking.
    private int _scans;

    public required IPAddress Address { get; init; }

    public required PortRange UsableRange { get; init; }

    public IReadOnlyList<PortRange> Reserved { get; init; } = [];

    /// <summary>Sorted by first port.</summary>
    public required IReadOnlyList<HostSlice> Slices
    {
        get;
        init
        {
            field = value;
            _byHost = null;
            _scans = 0;
        }
    }

    /// <summary>Usable, unreserved ports no host owns: room for hosts added later, never silently lost.</summary>
    public IReadOnlyList<PortRange> Spare { get; init; } = [];

    /// <summary>
    /// Ports re-plans moved between hosts, with when and for how long they stay in quarantine (sorted by first port,
    /// disjoint). Those still in quarantine are carried into the next re-plan; those whose quarantine has passed are dropped
    /// by it (until then they are kept, harmlessly: <see cref="Plan.At"/> treats them as handed over).
    /// </summary>
    public IReadOnlyList<PortMove> Moves { get; init; } = [];

    private const int MaxScans = 8;

    /// <summary>The host's slice (the first, should a hand-edited plan list it twice), or null.</summary>
    public HostSlice? FindSlice(string host)
    {
        // A few look-ups (plan slice, who, the validator's check of a re-plan's few move targets) scan: the index of a
        // fleet's 10,000 slices costs as much as dozens of scans. A caller asking for many hosts (a compact re-plan's moves) gets
        // the index from its ninth look-up on, so it stays linear.
        if (_byHost is null && Slices.Count > 64 && ++_scans > MaxScans)
        {
            var map = new Dictionary<string, HostSlice>(Slices.Count, StringComparer.Ordinal);
            foreach (var s in Slices)
            {
                map.TryAdd(s.Host, s);
            }

            _byHost = map;
        }

        if (_byHost is not null)
        {
            return _byHost.GetValueOrDefault(host);
        }

        foreach (var s in ListSpan.Of(Slices))
        {
            if (string.Equals(s.Host, host, StringComparison.Ordinal))
            {
                return s;
            }
        }

        return null;
    }

    public bool Equals(EgressPlan? other) =>
        other is not null && Address.Equals(other.Address) && UsableRange == other.UsableRange &&
        Reserved.SequenceEqual(other.Reserved) && Slices.SequenceEqual(other.Slices) && Spare.SequenceEqual(other.Spare) &&
        Moves.SequenceEqual(other.Moves);

    public override int GetHashCode() => HashCode.Combine(Address, UsableRange, Slices.Count);
}

/// <summary>One host's ports on one egress IP: usually one range; several when reserved ports split it, after a
/// minimal-movement re-plan, or with the MAP shape.</summary>
public sealed record HostSlice
{
    public required string Host { get; init; }

    /// <summary>The router sends replies for these ports here.</summary>
    public required IPAddress NextHop { get; init; }

    public required IReadOnlyList<PortRange> Ranges { get; init; }

    [JsonIgnore]
    public int PortCount => PortSet.Count(Ranges);

    public bool Equals(HostSlice? other) =>
        other is not null && string.Equals(Host, other.Host, StringComparison.Ordinal) && NextHop.Equals(other.NextHop) && Ranges.SequenceEqual(other.Ranges);

    public override int GetHashCode() => HashCode.Combine(Host, NextHop, Ranges.Count);
}

/// <summary>
/// A slice in typed form: egress IP <see cref="Egress"/>, owned by <see cref="Host"/>, reached via <see cref="NextHop"/>.
/// <see cref="Ranges"/> are the exact ports the host owns, for routing and for connecting alike (the connectors set
/// <c>IP_LOCAL_PORT_RANGE</c> to one of them at a time, so reserved ports between them are never chosen).
/// </summary>
public sealed record SliceAssignment(IPAddress Egress, string Host, IPAddress NextHop, IReadOnlyList<PortRange> Ranges)
{
    public int PortCount => Ranges.Sum(r => r.Count);

    /// <summary>The ranges as one <see cref="PortSlice"/>.</summary>
    public PortSlice Ports => PortSlice.From(Ranges);
}

/// <summary>A host or egress IP asked of a plan is not in it.</summary>
public sealed class PlanLookupException : PortShareException
{
    public PlanLookupException(string message)
        : base(message)
    {
    }

    public PlanLookupException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public PlanLookupException()
    {
    }
}
