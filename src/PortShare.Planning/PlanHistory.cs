using System.Net;

namespace PortShare.Planning;

/// <summary>
/// Every plan generation with the time it took effect, so an abuse report ("egress IP, port, time") can be attributed
/// to the host that owned the port then. Entries are in ascending <see cref="HistoryEntry.EffectiveFrom"/> order.
/// </summary>
public sealed record PlanHistory
{
    /// <summary>Version 2 holds version 2 plans; version 1 (version 1 plans) is still read.</summary>
    public const int CurrentVersion = 2;

    public const int OldestReadableVersion = 1;

    public required int Version { get; init; }

    public required IReadOnlyList<HistoryEntry> Entries { get; init; }

    public static PlanHistory Empty => new() { Version = CurrentVersion, Entries = [] };

    /// <summary>The plan in effect at <paramref name="at"/>, or null before the first entry.</summary>
    public HistoryEntry? At(DateTimeOffset at)
    {
        HistoryEntry? found = null;
        foreach (var entry in Entries)
        {
            if (entry.EffectiveFrom > at)
            {
                break;
            }

            found = entry;
        }

        return found;
    }

    /// <summary>Adds a plan taking effect at <paramref name="effectiveFrom"/>; time and generation must both move forward.</summary>
    public PlanHistory Append(Plan plan, DateTimeOffset effectiveFrom)
    {
        ArgumentNullException.ThrowIfNull(plan);
        if (Entries.Count > 0)
        {
            var last = Entries[^1];
            if (effectiveFrom <= last.EffectiveFrom)
            {
                throw new PlanFileException($"The new plan would take effect at {effectiveFrom:O}, not after the last recorded one ({last.EffectiveFrom:O}, generation {last.Generation}).");
            }

            if (plan.Generation <= last.Generation)
            {
                throw new PlanFileException($"The new plan has generation {plan.Generation}, not above the last recorded generation {last.Generation}; re-plan with 'plan update'.");
            }
        }

        return this with { Entries = [.. Entries, new HistoryEntry { Generation = plan.Generation, EffectiveFrom = effectiveFrom.ToUniversalTime(), Plan = plan }] };
    }

    /// <summary>Who owned <paramref name="port"/> on <paramref name="egress"/> at <paramref name="at"/>.</summary>
    public WhoAnswer Who(IPAddress egress, ushort port, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(egress);
        var entry = At(at);
        return entry is null
            ? new WhoAnswer { Egress = egress.ToString(), Port = port, At = at, Status = OwnerStatus.NoPlan }
            : WhoAnswer.From(entry.Plan, egress, port, at, entry.EffectiveFrom);
    }

    public static PlanHistory Load(string path) => PlanJson.DeserializeHistory(PlanFile.ReadBytes(path), path);

    /// <summary>Loads the history, or an empty one when the file does not exist yet.</summary>
    public static PlanHistory LoadOrEmpty(string path) => File.Exists(path) ? Load(path) : Empty;

    public void Save(string path, IEnumerable<string>? inputs = null) =>
        PlanFile.WriteText(path, PlanJson.Serialize(this with { Version = CurrentVersion }), "--history", inputs);
}

public sealed record HistoryEntry
{
    public required long Generation { get; init; }

    public required DateTimeOffset EffectiveFrom { get; init; }

    public required Plan Plan { get; init; }
}

public enum OwnerStatus
{
    /// <summary>A host owned the port.</summary>
    Owned,

    /// <summary>The port was in the spare pool: no host should have used it.</summary>
    Spare,

    /// <summary>The port was reserved.</summary>
    Reserved,

    /// <summary>The port was outside the usable range.</summary>
    Outside,

    /// <summary>The plan did not share that egress IP.</summary>
    UnknownEgress,

    /// <summary>No plan was in effect yet.</summary>
    NoPlan,
}

/// <summary>The answer to "who used egress IP E, port P, at time T".</summary>
public sealed record WhoAnswer
{
    public required string Egress { get; init; }

    public required int Port { get; init; }

    public DateTimeOffset? At { get; init; }

    public required OwnerStatus Status { get; init; }

    public long? Generation { get; init; }

    public DateTimeOffset? EffectiveFrom { get; init; }

    public string? Host { get; init; }

    public IPAddress? NextHop { get; init; }

    public static WhoAnswer From(Plan plan, IPAddress egress, ushort port, DateTimeOffset? at = null, DateTimeOffset? effectiveFrom = null)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(egress);
        var answer = new WhoAnswer { Egress = egress.ToString(), Port = port, At = at, Generation = plan.Generation, EffectiveFrom = effectiveFrom, Status = OwnerStatus.UnknownEgress };
        var e = plan.FindEgress(egress);
        if (e is null)
        {
            return answer;
        }

        if (plan.Owner(egress, port) is { } slice)
        {
            return answer with { Status = OwnerStatus.Owned, Host = slice.Host, NextHop = slice.NextHop };
        }

        var status = !e.UsableRange.Contains(port) ? OwnerStatus.Outside
            : e.Reserved.Any(r => r.Contains(port)) ? OwnerStatus.Reserved
            : OwnerStatus.Spare;
        return answer with { Status = status };
    }
}
