using System.Net;

namespace PortShare.Planning;

/// <summary>
/// Every plan generation with the time it took effect, so an abuse report ("egress IP, port, time") can be attributed
/// to the host that owned the port then. <see cref="Load"/> validates every plan inside and returns the entries in
/// ascending <see cref="HistoryEntry.EffectiveFrom"/> order, whatever their order in the file.
/// </summary>
public sealed record PlanHistory
{
    /// <summary>Version 2 holds version 2 plans (version 3 for a plan that records moves); version 1 (version 1 plans) is still read.</summary>
    public const int CurrentVersion = 2;

    public const int OldestReadableVersion = 1;

    public required int Version { get; init; }

    public required IReadOnlyList<HistoryEntry> Entries { get; init; }

    public static PlanHistory Empty => new() { Version = CurrentVersion, Entries = [] };

    /// <summary>The plan in effect at <paramref name="at"/> (the latest to take effect at or before it), or null before the first.</summary>
    public HistoryEntry? At(DateTimeOffset at)
    {
        HistoryEntry? found = null;
        foreach (var entry in Entries)
        {
            if (entry.EffectiveFrom <= at && (found is null || entry.EffectiveFrom > found.EffectiveFrom))
            {
                found = entry;
            }
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

    /// <summary>Loads and checks a history: every plan inside valid, one plan per time, generations rising with time.</summary>
    /// <exception cref="PlanFileException">The file is unreadable or a check fails; the message lists the problems.</exception>
    public static PlanHistory Load(string path) => Checked(PlanJson.DeserializeHistory(PlanFile.ReadBytes(path), path), path);

    /// <summary>The history with its entries in time order, after checking them (see <see cref="Load"/>).</summary>
    /// <exception cref="PlanFileException">A check fails.</exception>
    public static PlanHistory Checked(PlanHistory history, string source)
    {
        ArgumentNullException.ThrowIfNull(history);
        var problems = new List<string>();
        if (history.Entries is null)
        {
            throw new PlanFileException(source, ["entries is null: give a list."]);
        }

        for (var i = 0; i < history.Entries.Count; i++)
        {
            var e = history.Entries[i];
            if (e is null)
            {
                problems.Add($"entries[{i}] is null.");
            }
            else if (e.Plan is null)
            {
                problems.Add($"entries[{i}] (generation {e.Generation}) has no plan.");
            }
            else
            {
                if (e.Plan.Generation != e.Generation)
                {
                    problems.Add($"entries[{i}] says generation {e.Generation} but holds a plan of generation {e.Plan.Generation}.");
                }

                problems.AddRange(PlanValidator.Validate(e.Plan).Where(x => x.Severity == IssueSeverity.Error).Select(x => $"entries[{i}] (generation {e.Generation}): {x.Message}"));
            }
        }

        if (problems.Count > 0)
        {
            throw new PlanFileException(source, problems);
        }

        var ordered = history.Entries.OrderBy(e => e.EffectiveFrom).ToList();
        for (var i = 1; i < ordered.Count; i++)
        {
            if (ordered[i].EffectiveFrom == ordered[i - 1].EffectiveFrom)
            {
                problems.Add($"generations {ordered[i - 1].Generation} and {ordered[i].Generation} both take effect at {ordered[i].EffectiveFrom:O}: which one owned a port then is ambiguous.");
            }
            else if (ordered[i].Generation <= ordered[i - 1].Generation)
            {
                problems.Add($"generation {ordered[i].Generation} takes effect at {ordered[i].EffectiveFrom:O}, after generation {ordered[i - 1].Generation}: generations must rise with time.");
            }
        }

        return problems.Count > 0 ? throw new PlanFileException(source, problems) : history with { Entries = ordered };
    }

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

    /// <summary>Set when the port was in quarantine at <see cref="At"/>: a re-plan had moved it, but until then only
    /// <see cref="Host"/> (its previous owner) could have used it.</summary>
    public DateTimeOffset? QuarantinedUntil { get; init; }

    /// <summary>With <see cref="QuarantinedUntil"/>: the host the port moved to (null: the spare pool).</summary>
    public string? MovingTo { get; init; }

    /// <summary>
    /// Who owned <paramref name="port"/> on <paramref name="egress"/> in <paramref name="plan"/> at <paramref name="at"/>:
    /// during a quarantine the previous owner (the only host whose connections could be on it), else the plan's owner.
    /// </summary>
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

        if (at is { } when && e.Moves.FirstOrDefault(m => m.IsActive(when) && m.Ports.Any(r => r.Contains(port))) is { } held)
        {
            return answer with { Status = OwnerStatus.Owned, Host = held.From, NextHop = held.FromNextHop, QuarantinedUntil = held.Until, MovingTo = held.To };
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
