using System.Net;
using System.Text.Json.Serialization;

namespace PortShare.Cli.Doctor;

/// <summary>How a check came out. Any <see cref="Fail"/> makes <c>doctor</c> exit non-zero.</summary>
internal enum CheckStatus
{
    /// <summary>As PortShare needs it.</summary>
    Pass,

    /// <summary>Works, but worth knowing (or cannot be told from here).</summary>
    Warn,

    /// <summary>Breaks the deployment: replies are lost, go to another host, or leave from another host's ports.</summary>
    Fail,
}

/// <summary>One check: what was found and, unless it passed, the fix in one line.</summary>
/// <param name="Id">A stable snake_case name (<c>conntrack_exempt</c>), for scripts and tests.</param>
/// <param name="Status">Pass, warn or fail.</param>
/// <param name="Detail">What was found, naming the values.</param>
/// <param name="Fix">One line that fixes it (a command where there is one); null when it passed.</param>
internal sealed record DoctorCheck(string Id, CheckStatus Status, string Detail, string? Fix = null)
{
    public static DoctorCheck Pass(string id, string detail) => new(id, CheckStatus.Pass, detail);

    public static DoctorCheck Warn(string id, string detail, string fix) => new(id, CheckStatus.Warn, detail, fix);

    public static DoctorCheck Fail(string id, string detail, string fix) => new(id, CheckStatus.Fail, detail, fix);
}

/// <summary>Every check of one host or router.</summary>
/// <param name="Target"><c>host</c> or <c>router</c>.</param>
/// <param name="Subject">The host's name, or the router's namespace (or <c>this router</c>).</param>
/// <param name="Checks">The checks in the order they ran.</param>
internal sealed record DoctorResult(string Target, string Subject, IReadOnlyList<DoctorCheck> Checks)
{
    public int Failures => Checks.Count(c => c.Status == CheckStatus.Fail);

    public int Warnings => Checks.Count(c => c.Status == CheckStatus.Warn);

    public bool Passed => Failures == 0;
}

/// <summary>A host's slice: per egress address, the port ranges it owns (usually one; several after reserved ports or a re-plan).</summary>
internal sealed record HostSlices(string Host, IReadOnlyDictionary<IPAddress, IReadOnlyList<PortRange>> Ranges)
{
    /// <summary>The slices of a host file (one entry per egress address and range there).</summary>
    public static HostSlices From(HostSliceFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        return new HostSlices(file.Host, file.Slices
            .GroupBy(s => s.Egress)
            .ToDictionary(g => g.Key, g => (IReadOnlyList<PortRange>)g.SelectMany(s => s.Ports.Ranges).OrderBy(r => r.Low).ToList()));
    }

    /// <summary>The slices of <paramref name="host"/> in a plan at <paramref name="now"/> (none of its ports still in quarantine).</summary>
    public static HostSlices From(Planning.Plan plan, string host, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(plan);
        return From(plan.HostFile(host, now));
    }

    public static string Format(IEnumerable<PortRange> ranges) => string.Join(", ", ranges);

    public bool SameAs(HostSlices other) =>
        other is not null
        && Ranges.Count == other.Ranges.Count
        && Ranges.All(kv => other.Ranges.TryGetValue(kv.Key, out var o) && PortMask.Of(o).SetEquals(PortMask.Of(kv.Value)));
}

/// <summary>Port lists as sets of ports: differences and runs, for the few thousand ports doctor compares.</summary>
internal static class PortMask
{
    public static HashSet<int> Of(IEnumerable<PortRange> ranges) => ranges.SelectMany(r => Enumerable.Range(r.Low, r.Count)).ToHashSet();

    /// <summary>The ports of <paramref name="from"/> not in <paramref name="remove"/>, as ranges in order.</summary>
    public static List<PortRange> Except(IEnumerable<PortRange> from, IEnumerable<PortRange> remove)
    {
        var removed = Of(remove);
        return Runs(Of(from).Where(p => !removed.Contains(p)));
    }

    /// <summary>Consecutive ports as ranges.</summary>
    public static List<PortRange> Runs(IEnumerable<int> ports)
    {
        var result = new List<PortRange>();
        int start = -1, last = -2;
        foreach (var p in ports.Order())
        {
            if (p != last + 1)
            {
                if (start >= 0)
                {
                    result.Add(new PortRange((ushort)start, (ushort)last));
                }

                start = p;
            }

            last = p;
        }

        if (start >= 0)
        {
            result.Add(new PortRange((ushort)start, (ushort)last));
        }

        return result;
    }
}

/// <summary>One check as <c>doctor --json</c> writes it.</summary>
internal sealed record DoctorCheckJson(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("detail")] string Detail,
    [property: JsonPropertyName("fix")] string? Fix);

/// <summary><c>doctor --json</c>: one object per host or router.</summary>
internal sealed record DoctorJson(
    [property: JsonPropertyName("target")] string Target,
    [property: JsonPropertyName("subject")] string Subject,
    [property: JsonPropertyName("passed")] bool Passed,
    [property: JsonPropertyName("failures")] int Failures,
    [property: JsonPropertyName("warnings")] int Warnings,
    [property: JsonPropertyName("kernel")] string Kernel,
    [property: JsonPropertyName("ip_local_port_range_supported")] bool LocalPortRangeSupported,
    [property: JsonPropertyName("netns_range")] string? NetnsRange,
    [property: JsonPropertyName("checks")] IReadOnlyList<DoctorCheckJson> Checks)
{
    public static DoctorJson From(DoctorResult result, string? netnsRange)
    {
        ArgumentNullException.ThrowIfNull(result);
        return new DoctorJson(
            result.Target,
            result.Subject,
            result.Passed,
            result.Failures,
            result.Warnings,
            HostFacts.KernelRelease(),
            HostFacts.SupportsLocalPortRange(),
            netnsRange,
            result.Checks.Select(c => new DoctorCheckJson(c.Id, c.Status.ToString().ToLowerInvariant(), c.Detail, c.Fix)).ToList());
    }
}

/// <summary><c>lab doctor --json</c>: every namespace's result.</summary>
internal sealed record LabDoctorJson(
    [property: JsonPropertyName("passed")] bool Passed,
    [property: JsonPropertyName("results")] IReadOnlyList<DoctorJson> Results);

[JsonSourceGenerationOptions(WriteIndented = false)]
[JsonSerializable(typeof(DoctorJson))]
[JsonSerializable(typeof(LabDoctorJson))]
internal sealed partial class DoctorJsonContext : JsonSerializerContext;
