using System.Net;

namespace PortShare.Planning;

/// <summary>
/// The moves a re-plan records (<see cref="EgressPlan.Moves"/>). For each port, the host that uses it now — its holder if
/// it is still in quarantine, else its owner in the previous plan — is compared with its owner in the new plan:
/// <list type="bullet">
/// <item>still in quarantine, and the new plan gives it back to its holder: the quarantine ends (the holder keeps it);</item>
/// <item>still in quarantine, and the new plan gives it to anyone else (the same new owner, a third host, or the spare
/// pool): the quarantine is carried over unchanged — same holder, same end — and only its new owner is updated. So a port
/// in quarantine is never handed to a third host before its quarantine ends: until then it stays routed to the holder
/// and is in no host's file, whoever the plan names next;</item>
/// <item>not in quarantine, and its owner changes: a new move from the previous owner, at <c>movedAt</c>, for the
/// quarantine asked (none with 0 seconds: handed over at once);</item>
/// <item>moves whose quarantine has passed are dropped.</item>
/// </list>
/// Ports outside the new usable range are not carried (they cannot be routed by the new plan). Linear in the number of
/// ranges of the two plans.
/// </summary>
internal static class PlanMoves
{
    private sealed record User(string Host, IPAddress Hop, PortMove? Hold);

    private readonly record struct Key(string From, IPAddress Hop, string? To, DateTimeOffset MovedAt, int Seconds);

    public static List<PortMove> Between(EgressPlan? previous, EgressPlan next, DateTimeOffset now, DateTimeOffset movedAt, int quarantineSeconds)
    {
        if (previous is null)
        {
            return [];
        }

        // Who uses each port now: the plan's owners, overridden by the holders of ports still in quarantine.
        var owners = Pieces(previous.Slices.SelectMany(s => s.Ranges.Select(r => (r, new User(s.Host, s.NextHop, null)))));
        var holds = Pieces(previous.Moves.Where(m => m.IsActive(now)).SelectMany(m => m.Ports.Select(r => (r, new User(m.From, m.FromNextHop, m)))));
        if (holds.Count == 0 && quarantineSeconds == 0)
        {
            return [];
        }

        var users = Overlay(owners, holds).Select(p => (p.Range, p.B ?? p.A!)).ToList();
        var nextOwners = Pieces(next.Slices.SelectMany(s => s.Ranges.Select(r => (r, s.Host))));
        var grouped = new Dictionary<Key, List<PortRange>>();
        var order = new List<Key>();
        foreach (var (range, user, owner) in Overlay(users, nextOwners))
        {
            if (user is not { } u || range.Intersect(next.UsableRange) is not { } inside)
            {
                continue;
            }

            Key key;
            if (u.Hold is { } hold)
            {
                if (string.Equals(owner, u.Host, StringComparison.Ordinal))
                {
                    continue;
                }

                key = new Key(hold.From, hold.FromNextHop, owner, hold.MovedAt, hold.QuarantineSeconds);
            }
            else if (quarantineSeconds > 0 && !string.Equals(owner, u.Host, StringComparison.Ordinal))
            {
                key = new Key(u.Host, u.Hop, owner, movedAt, quarantineSeconds);
            }
            else
            {
                continue;
            }

            if (!grouped.TryGetValue(key, out var list))
            {
                grouped[key] = list = [];
                order.Add(key);
            }

            if (list.Count > 0 && list[^1].High + 1 == inside.Low)
            {
                list[^1] = new PortRange(list[^1].Low, inside.High);
            }
            else
            {
                list.Add(inside);
            }
        }

        return [.. order.Select(k => new PortMove { Ports = grouped[k], From = k.From, FromNextHop = k.Hop, To = k.To, MovedAt = k.MovedAt, QuarantineSeconds = k.Seconds })];
    }

    /// <summary>Labelled ranges sorted by first port (a plan's ranges are disjoint, so this is a partition of what they cover).</summary>
    private static List<(PortRange Range, T Label)> Pieces<T>(IEnumerable<(PortRange Range, T Label)> items)
    {
        var list = items.ToList();
        list.Sort((a, b) => a.Range.Low.CompareTo(b.Range.Low));
        return list;
    }

    /// <summary>
    /// The union of two sorted, disjoint labelled range lists, cut where either label changes: each piece with the label of
    /// <paramref name="a"/> and of <paramref name="b"/> covering it (default where none does). One pass over both.
    /// </summary>
    internal static IEnumerable<(PortRange Range, TA? A, TB? B)> Overlay<TA, TB>(List<(PortRange Range, TA Label)> a, List<(PortRange Range, TB Label)> b)
    {
        int i = 0, j = 0;
        var at = 0;
        while (i < a.Count || j < b.Count)
        {
            // Skip what lies wholly before the cursor.
            while (i < a.Count && a[i].Range.High < at)
            {
                i++;
            }

            while (j < b.Count && b[j].Range.High < at)
            {
                j++;
            }

            if (i >= a.Count && j >= b.Count)
            {
                yield break;
            }

            var aLow = i < a.Count ? Math.Max(at, (int)a[i].Range.Low) : int.MaxValue;
            var bLow = j < b.Count ? Math.Max(at, (int)b[j].Range.Low) : int.MaxValue;
            var start = Math.Min(aLow, bLow);
            var inA = aLow == start;
            var inB = bLow == start;

            // The piece ends where the next label change is: the end of a covering range, or the start of the other.
            var end = int.MaxValue;
            end = inA ? Math.Min(end, a[i].Range.High) : Math.Min(end, aLow - 1);
            end = inB ? Math.Min(end, b[j].Range.High) : Math.Min(end, bLow - 1);
            yield return (new PortRange((ushort)start, (ushort)end), inA ? a[i].Label : default, inB ? b[j].Label : default);
            at = end + 1;
            if (at > ushort.MaxValue)
            {
                yield break;
            }
        }
    }
}
