using System.Net;

namespace PortShare.Planning;

/// <summary>Ports one host keeps, releases and acquires on one egress IP between two plans.</summary>
public sealed record HostMovement
{
    public required string Egress { get; init; }

    public required string Host { get; init; }

    public required int Before { get; init; }

    public required int After { get; init; }

    public required int Kept { get; init; }

    /// <summary>Ports the host owned and no longer does: its live connections on them break.</summary>
    public required int Released { get; init; }

    public required int Acquired { get; init; }
}

/// <summary>What a re-plan moves. <see cref="MovedPorts"/> counts ports whose owner changed (or that became spare).</summary>
public sealed record MovementReport
{
    public required long PreviousGeneration { get; init; }

    public required long Generation { get; init; }

    /// <summary>Ports owned by some host in the previous plan.</summary>
    public required long PreviouslyOwnedPorts { get; init; }

    public required long MovedPorts { get; init; }

    public required IReadOnlyList<HostMovement> Hosts { get; init; }

    /// <summary>The moved ports in quarantine when the re-plan was made (still routed to their old owner until then).</summary>
    public IReadOnlyList<QuarantinedPorts> Quarantined { get; init; } = [];
}

/// <summary>Compares two plans port by port.</summary>
public static class PlanDiff
{
    public static MovementReport Compare(Plan previous, Plan next)
    {
        ArgumentNullException.ThrowIfNull(previous);
        ArgumentNullException.ThrowIfNull(next);
        var rows = new List<HostMovement>();
        var seen = new HashSet<IPAddress>();
        foreach (var egress in next.Egress.Concat(previous.Egress))
        {
            var address = egress.Address;
            var text = address.ToString();
            if (!seen.Add(address))
            {
                continue;
            }

            var before = previous.FindEgress(address);
            var after = next.FindEgress(address);
            var hosts = (after?.Slices ?? []).Concat(before?.Slices ?? []).Select(s => s.Host).Distinct(StringComparer.Ordinal);

            // One lookup table per side: FindSlice scans the list, which made a 10,000-host comparison quadratic (seconds).
            var beforeByHost = BySlice(before);
            var afterByHost = BySlice(after);
            foreach (var host in hosts)
            {
                var (b, a, kept) = Overlap(beforeByHost.GetValueOrDefault(host)?.Ranges ?? [], afterByHost.GetValueOrDefault(host)?.Ranges ?? []);
                rows.Add(new HostMovement { Egress = text, Host = host, Before = b, After = a, Kept = kept, Released = b - kept, Acquired = a - kept });
            }
        }

        return new MovementReport
        {
            PreviousGeneration = previous.Generation,
            Generation = next.Generation,
            PreviouslyOwnedPorts = rows.Sum(r => (long)r.Before),
            MovedPorts = rows.Sum(r => (long)r.Released),
            Hosts = rows,
        };
    }

    /// <summary>Ports in <paramref name="before"/>, in <paramref name="after"/>, and in both (a slice listing a port twice
    /// counts it once).</summary>
    internal static (int Before, int After, int Kept) Overlap(IReadOnlyList<PortRange> before, IReadOnlyList<PortRange> after)
    {
        if (before.Count == 1 && after.Count == 1)
        {
            // The usual slice, without the lists that merging needs.
            return (before[0].Count, after[0].Count, before[0].Intersect(after[0])?.Count ?? 0);
        }

        var old = PortSet.Normalize(before);
        var now = PortSet.Normalize(after);
        return (PortSet.Count(old), PortSet.Count(now), PortSet.Count(PortSet.Intersect(old, now)));
    }

    /// <summary>Each host's slice on <paramref name="egress"/> (the first, as <see cref="EgressPlan.FindSlice"/> returns).</summary>
    private static Dictionary<string, HostSlice> BySlice(EgressPlan? egress)
    {
        var map = new Dictionary<string, HostSlice>(egress?.Slices.Count ?? 0, StringComparer.Ordinal);
        foreach (var s in egress?.Slices ?? [])
        {
            map.TryAdd(s.Host, s);
        }

        return map;
    }
}
