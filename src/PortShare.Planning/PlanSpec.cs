using System.Text.Json.Serialization;

namespace PortShare.Planning;

/// <summary>
/// What the operator writes: the egress IPs to share, the hosts that share them, and the rules for cutting slices.
/// Serialized as snake_case JSON (schemas/plan-spec.schema.json); unknown fields are rejected.
/// Optional members with a default are <c>set</c>, not <c>init</c>: the source generator assigns every init-only
/// property, so a member missing from the JSON would lose its default (dotnet/runtime#84484).
/// </summary>
public sealed record PlanSpec
{
    public const int CurrentVersion = 1;

    /// <summary>The default usable range: the Linux netns default <c>ip_local_port_range</c> (32768-60999).</summary>
    public static readonly PortRange DefaultUsableRange = new(32768, 60999);

    public required int Version { get; init; }

    /// <summary>Ports slices may use on every egress IP unless the egress IP overrides it; must lie inside the hosts' netns range (F1).</summary>
    public PortRange UsableRange { get; set; } = DefaultUsableRange;

    /// <summary>Ports or ranges excluded on every egress IP (e.g. the hosts' <c>ip_local_reserved_ports</c>).</summary>
    public IReadOnlyList<PortRange> Reserved { get; set; } = [];

    /// <summary>No host gets fewer ports than this on an egress IP; even.</summary>
    public int MinSliceSize { get; set; } = 2;

    /// <summary>Slice boundaries lie on multiples of this; even, so low ports are even and high ports odd (F2).</summary>
    public int Alignment { get; set; } = 2;

    /// <summary>Ports per egress IP kept out of every slice (at the top of the range) for hosts added later.</summary>
    public int SparePorts { get; init; }

    /// <summary>When set, slices are MAP-style port sets (RFC 7597 §5.1) instead of contiguous ranges.</summary>
    public MapShape? Map { get; init; }

    public required IReadOnlyList<SpecEgress> Egress { get; init; }

    public required IReadOnlyList<SpecHost> Hosts { get; init; }
}

/// <summary>One shared egress IP (IPv4 or IPv6).</summary>
public sealed record SpecEgress
{
    public required string Address { get; init; }

    /// <summary>Overrides <see cref="PlanSpec.UsableRange"/> for this IP.</summary>
    public PortRange? UsableRange { get; init; }

    /// <summary>Excluded in addition to <see cref="PlanSpec.Reserved"/>.</summary>
    public IReadOnlyList<PortRange> Reserved { get; set; } = [];
}

/// <summary>One host that egresses from the shared IPs (read and written by <see cref="SpecHostJsonConverter"/>).</summary>
[JsonConverter(typeof(SpecHostJsonConverter))]
public sealed record SpecHost
{
    public required string Name { get; init; }

    /// <summary>Relative share of each egress IP's ports (after pinned slices, reserved ports and alignment).</summary>
    public int Weight { get; set; } = 1;

    /// <summary>Where the router sends replies for this host: one address per IP family of the egress IPs it uses.</summary>
    public required IReadOnlyList<string> NextHops { get; init; }

    /// <summary>A fixed slice size in ports (rounded up to the alignment) instead of a weighted share.</summary>
    public int? SliceSize { get; init; }

    /// <summary>The egress IPs this host uses; all of them when absent.</summary>
    public IReadOnlyList<string>? Egress { get; init; }
}

/// <summary>
/// RFC 7597 §5.1 port-set shape: a port is <c>i·2^(16-a) + psid·2^m + j</c> with <c>m = 16 - a - k</c>; ports with
/// <c>i = 0</c> (below <c>2^(16-a)</c>) are excluded. Each host gets whole PSIDs, so its ports spread over the range.
/// </summary>
public sealed record MapShape
{
    /// <summary><c>a</c>: offset bits.</summary>
    public required int OffsetBits { get; init; }

    /// <summary><c>k</c>: PSID length; 2^k port sets per egress IP.</summary>
    public required int PsidLength { get; init; }

    /// <summary><c>m</c>: each block holds 2^m consecutive ports.</summary>
    [JsonIgnore]
    public int ContiguousBits => 16 - OffsetBits - PsidLength;
}
