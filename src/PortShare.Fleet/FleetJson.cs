using System.Text.Json.Serialization;

namespace PortShare.Fleet;

/// <summary>The pool record (and the spec file of <c>fleet init</c>).</summary>
internal sealed class PoolJson
{
    public int? Version { get; set; }

    public int? UnitSize { get; set; }

    public int? MinUnits { get; set; }

    public int? QuarantineSeconds { get; set; }

    public int? LeaseTtlSeconds { get; set; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? MaxUnits { get; set; }

    public double? GrowAt { get; set; }

    public int? HoldDownSeconds { get; set; }

    public double? ShrinkBelow { get; set; }

    public int? IdleSeconds { get; set; }

    public string? UsableRange { get; set; }

    public List<string>? Reserved { get; set; }

    public List<PoolEgressJson?>? Egress { get; set; }
}

internal sealed class PoolEgressJson
{
    public string? Address { get; set; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? MinUnits { get; set; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? MaxUnits { get; set; }

    public string? UsableRange { get; set; }

    public List<string>? Reserved { get; set; }
}

/// <summary>The value of a unit key, a quarantine key and a host key: who owns it and where its replies go.</summary>
internal sealed class OwnerJson
{
    public string? Host { get; set; }

    public List<string>? NextHops { get; set; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Weight { get; set; }
}

/// <summary>The agent's state file: the leases of its run, resumed by a restarted agent.</summary>
internal sealed class AgentStateJson
{
    public string? Host { get; set; }

    public string? Prefix { get; set; }

    public long Owner { get; set; }

    public long Hold { get; set; }

    /// <summary>The units held ("EGRESS LO-HI"), claimed first again after a restart.</summary>
    public List<string>? Units { get; set; }
}

/// <summary>One row of <c>fleet status --json</c>.</summary>
/// <param name="Egress">The egress address.</param>
/// <param name="Unit">The unit's ports.</param>
/// <param name="Owner">The owner (or, quarantined, the previous owner), or null when free.</param>
/// <param name="State"><c>owned</c>, <c>draining</c>, <c>quarantined</c> or <c>free</c>.</param>
/// <param name="LeaseTtlLeft">Seconds left on the lease that holds the unit (owned: the owner's; quarantined: the quarantine's), or null.</param>
/// <param name="Epoch">The unit key's mod_revision (its fencing token), or null when not owned.</param>
public sealed record UnitStatus(string Egress, string Unit, string? Owner, string State, long? LeaseTtlLeft, long? Epoch);

/// <summary>One line of <c>fleet status --watch --json</c>.</summary>
/// <param name="At">When (UTC).</param>
/// <param name="Hosts">Units owned per host.</param>
/// <param name="Free">Free units.</param>
/// <param name="Quarantined">Quarantined units.</param>
/// <param name="Wants">Hosts waiting for a unit, as HOST@EGRESS.</param>
public sealed record FleetSampleJson(string At, IReadOnlyDictionary<string, int> Hosts, int Free, int Quarantined, IReadOnlyList<string> Wants);

// Every --json and every record in etcd is snake_case.
[JsonSourceGenerationOptions(WriteIndented = false, PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(PoolJson))]
[JsonSerializable(typeof(OwnerJson))]
[JsonSerializable(typeof(AgentStateJson))]
[JsonSerializable(typeof(List<UnitStatus>))]
[JsonSerializable(typeof(FleetSampleJson))]
internal sealed partial class FleetJsonContext : JsonSerializerContext;
