using System.Text.Json;
using System.Text.Json.Serialization;

using PortShare.Routing;

namespace PortShare.Lab;

/// <summary>What a running lab is made of, persisted so that <c>lab test/show/down</c> work across invocations.</summary>
public sealed record LabState
{
    /// <summary>The namespace name prefix (<c>psl-xxxxxx-</c>).</summary>
    public required string Prefix { get; init; }

    /// <summary>True when the lab shares the IPv6 egress address, else IPv4.</summary>
    public required bool Ipv6 { get; init; }

    /// <summary>The router backend.</summary>
    public required RouterBackend Backend { get; init; }

    /// <summary>True when the router reassembles fragments.</summary>
    public bool Reassemble { get; init; }

    /// <summary>How many routers serve the same plan (1 or 2; ECMP over them both ways).</summary>
    public int Routers { get; init; } = 1;

    /// <summary>The hosts (<c>h1</c>…).</summary>
    public required IReadOnlyList<string> Hosts { get; init; }

    /// <summary>
    /// Hosts removed by a re-plan whose ports are still in quarantine: the router still sends them the replies of their
    /// open connections, so their namespaces stay until a later <c>lab apply</c> (or re-plan) finds the quarantine over.
    /// Settable (not init): a state file written before quarantines has no such member and must read as empty.
    /// </summary>
    public IReadOnlyList<string> Departing { get; set; } = [];

    /// <summary>The current plan, as the planner's JSON.</summary>
    public required string PlanJson { get; init; }

    /// <summary>Where the hosts' slice files live.</summary>
    public string StateDir => Path.Combine("/run/portshare", Prefix.TrimEnd('-'));

    /// <summary>Every namespace of the lab.</summary>
    public IEnumerable<string> Namespaces => [.. RouterNamespaces, LabTopology.ServerNs(Prefix), .. Hosts.Concat(Departing).Select(h => LabTopology.HostNs(Prefix, h))];

    /// <summary>The routers' namespaces.</summary>
    public IEnumerable<string> RouterNamespaces => Enumerable.Range(1, Routers).Select(k => LabTopology.RouterNs(Prefix, k));

    /// <summary>The default state file of the CLI.</summary>
    public const string DefaultPath = "/run/portshare/lab.json";

    /// <summary>Writes the state file (atomically, through <see cref="SafeFile"/>).</summary>
    public void Save(string path) => SafeFile.Write(path, JsonSerializer.Serialize(this, LabJsonContext.Default.LabState), "the lab state file");

    /// <summary>Reads the state file; a missing file says how to start a lab.</summary>
    public static LabState Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new PortShareException($"No lab is running (no state file {path}). Start one with 'portshare lab up'.");
        }

        try
        {
            return JsonSerializer.Deserialize(File.ReadAllText(path), LabJsonContext.Default.LabState)
                ?? throw new PortShareException($"{path} is empty.");
        }
        catch (JsonException ex)
        {
            throw new PortShareException($"{path} is not a lab state file: {ex.Message}. Remove it with 'portshare lab down --all'.", ex);
        }
    }
}

[JsonSourceGenerationOptions(WriteIndented = true, UseStringEnumConverter = true, PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(LabState))]
internal sealed partial class LabJsonContext : JsonSerializerContext
{
}
