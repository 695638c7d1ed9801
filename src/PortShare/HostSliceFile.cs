using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Serialization;
using PortShare.Connect;

namespace PortShare;

/// <summary>The ports this host owns on one egress address.</summary>
/// <param name="Egress">The shared egress address (assigned to this host's <c>lo</c> by <c>portshare host apply</c>).</param>
/// <param name="Ports">The exact ports: one range or several, never a joined range covering ports the host does not own.</param>
public sealed record EgressSlice(IPAddress Egress, PortSlice Ports)
{
    /// <summary>
    /// Fleet mode: the agent wanted another unit on this address and the pool had none free, so when these ports run out
    /// the pool is full, not just this host's share (connectors say so in their exhaustion error).
    /// </summary>
    public bool PoolFull { get; init; }
}

/// <summary>
/// Ports of an egress address in quarantine that concern this host: a re-plan moved them from <see cref="From"/> to
/// <see cref="To"/>, and until <see cref="Until"/> the router still sends their replies to <see cref="From"/>, so that
/// host's open connections on them live on. They are in no host's <see cref="HostSliceFile.Slices"/> meanwhile: the new
/// owner may use them only after <see cref="Until"/> (once <c>host apply</c> runs again), the old owner never again.
/// </summary>
/// <param name="Egress">The shared egress address.</param>
/// <param name="Ports">The ports in quarantine.</param>
/// <param name="From">The old owner: replies still go to it until <see cref="Until"/>.</param>
/// <param name="To">The new owner, or null when the ports went to the spare pool.</param>
/// <param name="Until">When the quarantine ends (UTC).</param>
public sealed record QuarantinedSlice(IPAddress Egress, PortSlice Ports, string From, string? To, DateTimeOffset Until);

/// <summary>One sysctl that <c>host apply</c> changed, with the value to restore on <c>host remove</c>.</summary>
/// <param name="Key">The key under <c>/proc/sys</c>, e.g. <c>net/ipv4/conf/all/arp_ignore</c>.</param>
/// <param name="Previous">The value before the first <c>host apply</c>.</param>
/// <param name="Value">The value <c>host apply</c> wrote.</param>
public sealed record SysctlChange(string Key, string Previous, string Value);

/// <summary>What <c>host apply</c> changed on the host, so that <c>host remove</c> undoes exactly that.</summary>
public sealed record HostChanges
{
    /// <summary>Egress addresses it added to <c>lo</c> (an address that was already there is not listed, and stays).</summary>
    public IReadOnlyList<IPAddress> Addresses { get; init; } = [];

    /// <summary>Sysctls it changed, each with its previous value.</summary>
    public IReadOnlyList<SysctlChange> Sysctls { get; init; } = [];

    /// <summary>The nftables table (family inet) it installed, or null.</summary>
    public string? NftTable { get; init; }
}

/// <summary>
/// This host's slices, as <c>portshare host apply</c> (or the fleet agent) writes them, atomically, to one file: the
/// default <see cref="DefaultPath"/>, or the path in <c>PORTSHARE_HOST_FILE</c>. The one model and the one reader of
/// that file for the CLI, the library and <c>PortShare.Http</c>, so an application asks for "my slice" without knowing
/// the plan: <c>HostSliceFile.Load().Connector()</c>, or <see cref="HostSliceConnector"/> to follow the file as it changes.
/// </summary>
public sealed record HostSliceFile
{
    /// <summary>Where the file lives unless <c>PORTSHARE_HOST_FILE</c> says otherwise.</summary>
    public const string DefaultPath = "/etc/portshare/host.json";

    /// <summary>The environment variable that overrides <see cref="DefaultPath"/>.</summary>
    public const string PathVariable = "PORTSHARE_HOST_FILE";

    /// <summary>The format this release writes (1: one <c>range</c> per slice, still read).</summary>
    public const int CurrentVersion = 2;

    /// <summary>The host's name in the plan.</summary>
    public required string Host { get; init; }

    /// <summary>The plan generation the slices come from, when known.</summary>
    public long? PlanGeneration { get; init; }

    /// <summary>The host's slices, one per egress address.</summary>
    public required IReadOnlyList<EgressSlice> Slices { get; init; }

    /// <summary>
    /// Ports in quarantine that move to or away from this host (<see cref="QuarantinedSlice"/>): not usable by it, but its
    /// egress addresses stay set up for them. Empty in a file of a release before quarantines (and when nothing moves).
    /// </summary>
    public IReadOnlyList<QuarantinedSlice> Quarantine { get; init; } = [];

    /// <summary>What <c>host apply</c> changed (null when the file was written by something else).</summary>
    public HostChanges? Applied { get; init; }

    /// <summary>
    /// When the slices stop being this host's unless renewed (fleet mode: the agent's local deadline, renewed every few
    /// seconds while etcd acknowledges its lease). Past it no connector opens a new connection, so an agent that is
    /// killed, stalled or cut off cannot leave applications using ports that may be given to another host. Null: no end
    /// (a plan-file host).
    /// </summary>
    public DateTimeOffset? ValidUntil { get; init; }

    /// <summary>Throws when <see cref="ValidUntil"/> has passed.</summary>
    /// <exception cref="PortShareException">The file expired.</exception>
    public void EnsureValid(string? path = null)
    {
        if (ValidUntil is { } until && DateTimeOffset.UtcNow > until)
        {
            throw new PortShareException($"The host file{(path is null ? string.Empty : " " + path)} of {Host} expired at {until.UtcDateTime:HH:mm:ss.fff}Z: the fleet agent that renews it has stopped, stalled or lost etcd, so these ports may no longer be this host's; no new connection is opened from them.");
        }
    }

    /// <summary>Every egress address the host needs set up: those of its slices and of its quarantined ports, in order.</summary>
    public IReadOnlyList<IPAddress> EgressAddresses =>
        [.. Slices.Select(s => s.Egress).Concat(Quarantine.Select(q => q.Egress)).Distinct()];

    /// <summary>The path in use: <paramref name="path"/>, else <c>PORTSHARE_HOST_FILE</c>, else <see cref="DefaultPath"/>.</summary>
    public static string ResolvePath(string? path = null)
    {
        if (!string.IsNullOrEmpty(path))
        {
            return path;
        }

        var env = Environment.GetEnvironmentVariable(PathVariable);
        return string.IsNullOrEmpty(env) ? DefaultPath : env;
    }

    /// <summary>
    /// The slice on <paramref name="egress"/>; with no address, the only slice, or the only one of
    /// <paramref name="family"/> when that is given.
    /// </summary>
    /// <exception cref="PortShareException">No slice matches, or several do and none was chosen; the message lists them.</exception>
    public EgressSlice For(IPAddress? egress = null, AddressFamily? family = null)
    {
        EnsureValid();
        egress = SliceGuard.Unmap(egress);
        if (egress is not null)
        {
            return Slices.FirstOrDefault(s => s.Egress.Equals(egress))
                ?? throw new PortShareException($"Host {Host} owns no slice on egress address {egress}; it owns {Describe(Slices)}.{Waiting(q => q.Egress.Equals(egress))}");
        }

        var candidates = family is null ? Slices : [.. Slices.Where(s => s.Egress.AddressFamily == family)];
        return candidates.Count switch
        {
            1 => candidates[0],
            0 when Slices.Count == 0 => throw new PortShareException($"Host {Host} owns no slice.{Waiting(q => family is null || q.Egress.AddressFamily == family)}"),
            0 => throw new PortShareException($"Host {Host} owns no slice on an {(family == AddressFamily.InterNetworkV6 ? "IPv6" : "IPv4")} egress address; it owns {Describe(Slices)}.{Waiting(q => q.Egress.AddressFamily == family)}"),
            _ => throw new PortShareException($"Host {Host} owns slices on {candidates.Count} egress addresses ({Describe(candidates)}): choose the egress address."),
        };
    }

    /// <summary>A connector for this host's slice (see <see cref="For"/>), bound to its egress address.</summary>
    public SliceConnector Connector(IPAddress? egress = null, ConnectStrategy strategy = ConnectStrategy.Auto)
    {
        var slice = For(egress);
        return new SliceConnector(slice.Ports, slice.Egress, strategy);
    }

    /// <summary>A UDP connector for this host's slice (see <see cref="For"/>), bound to its egress address.</summary>
    public UdpSliceConnector UdpConnector(IPAddress? egress = null, UdpPortMode mode = UdpPortMode.Shared)
    {
        var slice = For(egress);
        return new UdpSliceConnector(slice.Ports, slice.Egress, mode);
    }

    /// <summary>Reads the host file (<see cref="ResolvePath"/> decides which).</summary>
    /// <exception cref="PortShareException">The file is missing, unreadable or malformed; the message names it and what is wrong.</exception>
    public static HostSliceFile Load(string? path = null)
    {
        path = ResolvePath(path);
        string text;
        try
        {
            if (Directory.Exists(path))
            {
                throw new IOException("it is a directory");
            }

            text = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            var why = ex is FileNotFoundException or DirectoryNotFoundException ? "it does not exist" : ex.Message.TrimEnd('.');
            throw new PortShareException($"Cannot read the host's slices from {path}: {why}. Run 'portshare host apply PLAN.json --host NAME' on this host first, or set {PathVariable}.", ex);
        }

        return Parse(text, path);
    }

    /// <summary>Parses the host file's JSON; <paramref name="source"/> names it in error messages.</summary>
    /// <exception cref="PortShareException">The text is not a host file; the message says what is wrong.</exception>
    public static HostSliceFile Parse(string json, string source = "the host file")
    {
        ArgumentNullException.ThrowIfNull(json);
        HostFileJson? dto;
        try
        {
            dto = JsonSerializer.Deserialize(json, HostFileJsonContext.Default.HostFileJson);
        }
        catch (JsonException ex)
        {
            throw Bad(source, $"it is not valid JSON ({ex.Message})", ex);
        }

        if (dto is null)
        {
            throw Bad(source, "it is empty (null)");
        }

        var version = dto.Version ?? 1;
        if (version is < 1 or > CurrentVersion)
        {
            throw Bad(source, $"its version {version} is not one this release reads (1 to {CurrentVersion}); it was written by a newer portshare");
        }

        if (string.IsNullOrWhiteSpace(dto.Host))
        {
            throw Bad(source, "it names no \"host\"");
        }

        if (dto.Slices is null)
        {
            throw Bad(source, "it has no \"slices\" list");
        }

        var slices = new List<EgressSlice>(dto.Slices.Count);
        for (var i = 0; i < dto.Slices.Count; i++)
        {
            var s = dto.Slices[i] ?? throw Bad(source, $"slices[{i}] is null");
            if (!AddressText.TryParse(s.Egress, out var egress))
            {
                throw Bad(source, $"slices[{i}].egress '{s.Egress}' is not an IP address");
            }

            var texts = s.Ranges ?? (s.Range is null ? null : [s.Range]);
            if (texts is null || texts.Count == 0)
            {
                throw Bad(source, $"slices[{i}] ({egress}) has no \"ranges\"");
            }

            var ranges = new List<PortRange>(texts.Count);
            foreach (var t in texts)
            {
                if (!PortRange.TryParse(t, out var r, out var error))
                {
                    throw Bad(source, $"slices[{i}] ({egress}): {error}");
                }

                ranges.Add(r);
            }

            if (!PortSlice.TryFrom(ranges, out var ports, out var fromError))
            {
                throw Bad(source, $"slices[{i}] ({egress}): {fromError}");
            }

            if (slices.Any(x => x.Egress.Equals(egress)))
            {
                throw Bad(source, $"egress address {egress} is listed twice");
            }

            slices.Add(new EgressSlice(egress, ports) { PoolFull = s.PoolFull == true });
        }

        var quarantine = new List<QuarantinedSlice>();
        for (var i = 0; i < (dto.Quarantine?.Count ?? 0); i++)
        {
            var q = dto.Quarantine![i] ?? throw Bad(source, $"quarantine[{i}] is null");
            if (!AddressText.TryParse(q.Egress, out var egress))
            {
                throw Bad(source, $"quarantine[{i}].egress '{q.Egress}' is not an IP address");
            }

            if (!PortSlice.TryParse(string.Join(',', q.Ranges ?? []), out var ports, out var error))
            {
                throw Bad(source, $"quarantine[{i}] ({egress}): {error}");
            }

            if (string.IsNullOrWhiteSpace(q.From) || q.Until is not { } until)
            {
                throw Bad(source, $"quarantine[{i}] ({egress}) needs \"from\" and \"until\"");
            }

            // Written with a Z; a time without an offset is taken as UTC too.
            var utc = until.Kind == DateTimeKind.Unspecified ? DateTime.SpecifyKind(until, DateTimeKind.Utc) : until.ToUniversalTime();
            quarantine.Add(new QuarantinedSlice(egress, ports, q.From, q.To, new DateTimeOffset(utc)));
        }

        return new HostSliceFile
        {
            Host = dto.Host,
            PlanGeneration = dto.PlanGeneration,
            Slices = slices,
            Quarantine = quarantine,
            Applied = ReadApplied(dto, source),
            ValidUntil = dto.ValidUntil is null ? null
                : DateTimeOffset.TryParse(dto.ValidUntil, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out var validUntil) ? validUntil
                : throw Bad(source, $"valid_until '{dto.ValidUntil}' is not a UTC time"),
        };
    }

    /// <summary>The file's JSON (version <see cref="CurrentVersion"/>, snake_case).</summary>
    public string ToJson()
    {
        var dto = new HostFileJson
        {
            Version = CurrentVersion,
            Host = Host,
            PlanGeneration = PlanGeneration,
            ValidUntil = ValidUntil?.UtcDateTime.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
            Slices = [.. Slices.Select(s => new SliceJson { Egress = AddressText.Format(s.Egress), Ranges = [.. s.Ports.Ranges.Select(r => r.ToString())], PoolFull = s.PoolFull ? true : null })],
            Quarantine = Quarantine.Count == 0 ? null : [.. Quarantine.Select(q => new QuarantineJson
            {
                Egress = AddressText.Format(q.Egress),
                Ranges = [.. q.Ports.Ranges.Select(r => r.ToString())],
                From = q.From,
                To = q.To,
                Until = q.Until.UtcDateTime,
            })],
            Applied = Applied is null ? null : new AppliedJson
            {
                Addresses = [.. Applied.Addresses.Select(a => a.ToString())],
                NftTable = Applied.NftTable,
                Sysctls = [.. Applied.Sysctls.Select(c => new SysctlJson { Key = c.Key, Previous = c.Previous, Value = c.Value })],
            },
        };
        return JsonSerializer.Serialize(dto, HostFileJsonContext.Default.HostFileJson) + "\n";
    }

    /// <summary>Writes the file atomically (see <see cref="SafeFile"/>).</summary>
    /// <exception cref="PortShareException">The path cannot be written; the message says why.</exception>
    public void Save(string? path = null) => SafeFile.Write(ResolvePath(path), ToJson(), "the host file");

    private static HostChanges? ReadApplied(HostFileJson dto, string source)
    {
        if (dto.Applied is { } a)
        {
            var addresses = new List<IPAddress>();
            foreach (var text in a.Addresses ?? [])
            {
                addresses.Add(AddressText.TryParse(text, out var address) ? address : throw Bad(source, $"applied.addresses: '{text}' is not an IP address"));
            }

            var sysctls = new List<SysctlChange>();
            foreach (var c in a.Sysctls ?? [])
            {
                if (c is null || string.IsNullOrWhiteSpace(c.Key) || c.Previous is null || c.Value is null)
                {
                    throw Bad(source, "applied.sysctls has an entry without key, previous and value");
                }

                sysctls.Add(new SysctlChange(c.Key, c.Previous, c.Value));
            }

            return new HostChanges { Addresses = addresses, Sysctls = sysctls, NftTable = a.NftTable };
        }

        // Version 1 recorded only the port range it narrowed.
        return dto.PreviousPortRange is { } previous
            ? new HostChanges { Sysctls = [new SysctlChange("net/ipv4/ip_local_port_range", previous, string.Empty)] }
            : null;
    }

    /// <summary>" Ports … are in quarantine … until …" for the ports on their way to this host, or empty.</summary>
    private string Waiting(Func<QuarantinedSlice, bool> where)
    {
        var coming = Quarantine.Where(q => q.To == Host && where(q)).ToList();
        return coming.Count == 0
            ? string.Empty
            : $" Ports {string.Join("; ", coming.Select(q => $"{q.Ports} on {q.Egress} (still routed to {q.From} until {q.Until.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ})"))} move to it after their quarantine: run 'portshare host apply' again after that.";
    }

    private static string Describe(IEnumerable<EgressSlice> slices) =>
        string.Join("; ", slices.Select(s => $"{s.Ports} on {s.Egress}")) is { Length: > 0 } text ? text : "none";

    private static PortShareException Bad(string source, string why, Exception? inner = null) =>
        new($"{source} is not a usable PortShare host file: {why}.", inner);
}

/// <summary>The host file on disk (snake_case).</summary>
internal sealed class HostFileJson
{
    public int? Version { get; set; }

    public string? Host { get; set; }

    public long? PlanGeneration { get; set; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? ValidUntil { get; set; }

    public List<SliceJson?>? Slices { get; set; }

    /// <summary>Optional (older readers skip it): the host's ports in quarantine.</summary>
    public List<QuarantineJson?>? Quarantine { get; set; }

    public AppliedJson? Applied { get; set; }

    /// <summary>Version 1 only.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    [JsonPropertyName("previousPortRange")]
    public string? PreviousPortRange { get; set; }
}

internal sealed class SliceJson
{
    public string? Egress { get; set; }

    public List<string>? Ranges { get; set; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public bool? PoolFull { get; set; }

    /// <summary>Version 1: one range.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Range { get; set; }
}

internal sealed class QuarantineJson
{
    public string? Egress { get; set; }

    public List<string>? Ranges { get; set; }

    public string? From { get; set; }

    public string? To { get; set; }

    public DateTime? Until { get; set; }
}

internal sealed class AppliedJson
{
    public List<string>? Addresses { get; set; }

    public string? NftTable { get; set; }

    public List<SysctlJson?>? Sysctls { get; set; }
}

internal sealed class SysctlJson
{
    public string? Key { get; set; }

    public string? Previous { get; set; }

    public string? Value { get; set; }
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    WriteIndented = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    ReadCommentHandling = JsonCommentHandling.Skip,
    AllowTrailingCommas = true,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip)]
[JsonSerializable(typeof(HostFileJson))]
internal sealed partial class HostFileJsonContext : JsonSerializerContext;
