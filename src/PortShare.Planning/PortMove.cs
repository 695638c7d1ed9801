using System.Globalization;
using System.Net;

namespace PortShare.Planning;

/// <summary>
/// Ports of one egress IP that a re-plan (<c>plan update</c>) took from <see cref="From"/> and gave to <see cref="To"/>
/// (null: the spare pool), recorded in the plan with when it happened. Until <see cref="Until"/> the ports are in
/// quarantine: the router still sends their replies to <see cref="From"/> (at <see cref="FromNextHop"/>, kept here
/// because the old owner may have left the plan), so its open connections live on, and no host may choose them for a new
/// connection. From then on they are <see cref="To"/>'s, as the plan's slices say. See <see cref="Plan.At"/>.
/// </summary>
public sealed record PortMove
{
    /// <summary>The longest quarantine a plan records: a day.</summary>
    public const int MaxQuarantineSeconds = 86_400;

    /// <summary>The ports, sorted and disjoint (a MAP-shaped slice moves as many ranges).</summary>
    public required IReadOnlyList<PortRange> Ports { get; init; }

    /// <summary>The old owner: it keeps the replies until <see cref="Until"/>.</summary>
    public required string From { get; init; }

    /// <summary>The old owner's next hop of the egress IP's family: where the router sends the replies meanwhile.</summary>
    public required IPAddress FromNextHop { get; init; }

    /// <summary>The new owner (its slice holds <see cref="Ports"/>), or null when the ports became spare.</summary>
    public string? To { get; init; }

    /// <summary>When the move happened (UTC): the time of the re-plan, or its <c>--effective</c> time.</summary>
    public required DateTimeOffset MovedAt { get; init; }

    /// <summary>How long the ports stay with the old owner after <see cref="MovedAt"/>.</summary>
    public required int QuarantineSeconds { get; init; }

    /// <summary>When the quarantine ends: from then on the ports are handed over.</summary>
    public DateTimeOffset Until => MovedAt.AddSeconds(QuarantineSeconds);

    /// <summary>True while the ports are still in quarantine at <paramref name="now"/>.</summary>
    public bool IsActive(DateTimeOffset now) => now < Until;

    public bool Equals(PortMove? other) =>
        other is not null && Ports.SequenceEqual(other.Ports) && string.Equals(From, other.From, StringComparison.Ordinal) &&
        FromNextHop.Equals(other.FromNextHop) && string.Equals(To, other.To, StringComparison.Ordinal) &&
        MovedAt == other.MovedAt && QuarantineSeconds == other.QuarantineSeconds;

    public override int GetHashCode() => HashCode.Combine(From, To, MovedAt, Ports.Count);
}

/// <summary>Ports in quarantine at some time, as the router and the hosts see them (<see cref="EffectivePlan.Quarantined"/>).</summary>
/// <param name="Egress">The egress IP.</param>
/// <param name="Ports">The ports, sorted and disjoint.</param>
/// <param name="From">The old owner, which still gets their replies.</param>
/// <param name="FromNextHop">Where the router sends them.</param>
/// <param name="To">The new owner after <paramref name="Until"/>, or null (spare).</param>
/// <param name="Until">When the quarantine ends.</param>
public sealed record QuarantinedPorts(IPAddress Egress, IReadOnlyList<PortRange> Ports, string From, IPAddress FromNextHop, string? To, DateTimeOffset Until)
{
    /// <summary>
    /// One line for people: <c>ports 40000-40127 on 192.0.2.1: quarantined for h1 until 12:01:30Z; run router apply,
    /// then host apply on h3, again after that to hand them to h3</c>. The time is shown without its date when it is the
    /// same day as <paramref name="now"/>. <paramref name="command"/> replaces the commands named (e.g. <c>lab apply</c>).
    /// </summary>
    public string Describe(DateTimeOffset now, string? command = null)
    {
        var until = FormatTime(Until, now);
        var ports = Ports.Count <= 4 ? PortSet.Format(Ports) : string.Create(CultureInfo.InvariantCulture, $"{PortSet.Format(Ports.Take(3))},… ({PortSet.Count(Ports)} ports in {Ports.Count} ranges)");
        var run = command is null ? (To is null ? "router apply" : $"router apply, then host apply on {To},") : $"'{command}'";
        var then = To is null
            ? $"they become spare after that (run {run} again then)"
            : $"run {run} again after that to hand them to {To}";
        return $"ports {ports} on {Egress}: quarantined for {From} until {until}; {then}";
    }

    /// <summary>A UTC time as <c>HH:mm:ssZ</c> when it falls on the day of <paramref name="now"/>, else in full ISO 8601.</summary>
    public static string FormatTime(DateTimeOffset time, DateTimeOffset now)
    {
        var t = time.UtcDateTime;
        return t.Date == now.UtcDateTime.Date
            ? t.ToString("HH:mm:ss'Z'", CultureInfo.InvariantCulture)
            : t.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
    }
}
