using System.Net;
using System.Runtime.CompilerServices;

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
    private const int None = int.MinValue;

    public static List<PortMove> Between(EgressPlan? previous, EgressPlan next, DateTimeOffset now, DateTimeOffset movedAt, int quarantineSeconds) =>
        Between(previous, next, now, movedAt, quarantineSeconds, new Buffers());

    /// <summary>As the overload above, with working arrays reused from one egress IP to the next.</summary>
    public static List<PortMove> Between(EgressPlan? previous, EgressPlan next, DateTimeOffset now, DateTimeOffset movedAt, int quarantineSeconds, Buffers buffers)
    {
        ArgumentNullException.ThrowIfNull(buffers);
        if (previous is null)
        {
            return [];
        }

        // Who uses each port now: the plan's owners (label: slice index), overridden by the holders of ports still in
        // quarantine (label: ~move index).
        var holds = Holds(previous.Moves, now);
        if (holds.Length == 0 && quarantineSeconds == 0)
        {
            return [];
        }

        var (owners, ownerCount) = Pieces(previous.Slices, ref buffers.Owners, buffers);
        (PortRange Range, int Label)[] users;
        int count;
        if (holds.Length == 0 && Disjoint(owners, ownerCount))
        {
            // Nothing held: the overlay of the owners alone is the owners.
            (users, count) = (owners, ownerCount);
        }
        else
        {
            users = Buffers.Fit(ref buffers.Users, ownerCount + (2 * holds.Length));
            count = 0;
            var first = new Overlay(owners, ownerCount, holds, holds.Length);
            while (first.Next(out var range, out var owner, out var hold))
            {
                if (count == users.Length)
                {
                    Array.Resize(ref buffers.Users, count * 2);
                    users = buffers.Users;
                }

                users[count++] = (range, hold != None ? hold : owner);
            }
        }

        var (nextOwners, nextCount) = Pieces(next.Slices, ref buffers.Next, buffers);
        var nextSlices = ListSpan.Of(next.Slices);
        var previousSlices = ListSpan.Of(previous.Slices);
        var groups = new Groups();
        var second = new Overlay(users, count, nextOwners, nextCount);
        while (second.Next(out var range, out var user, out var ownerSlice))
        {
            if (user == None || range.Intersect(next.UsableRange) is not { } inside)
            {
                continue;
            }

            var owner = ownerSlice == None ? null : nextSlices[ownerSlice].Host;
            if (user < 0)
            {
                var hold = previous.Moves[~user];
                if (string.Equals(owner, hold.From, StringComparison.Ordinal))
                {
                    continue;
                }

                groups.Add(hold.From, hold.FromNextHop, owner, hold.MovedAt, hold.QuarantineSeconds, inside);
            }
            else
            {
                var slice = previousSlices[user];
                if (quarantineSeconds > 0 && !string.Equals(owner, slice.Host, StringComparison.Ordinal))
                {
                    groups.Add(slice.Host, slice.NextHop, owner, movedAt, quarantineSeconds, inside);
                }
            }
        }

        return groups.Moves();
    }

    /// <summary>The slices' ranges labelled by slice index, sorted by first port (a plan's ranges are disjoint, so this
    /// is a partition of what they cover; in slice order they are usually sorted already), in <paramref name="array"/>
    /// or the buffer sorting swapped in.</summary>
    private static ((PortRange Range, int Label)[] List, int Count) Pieces(IReadOnlyList<HostSlice> all, ref (PortRange Range, int Label)[] array, Buffers buffers)
    {
        var slices = ListSpan.Of(all);
        var n = 0;
        for (var k = 0; k < slices.Length; k++)
        {
            n += slices[k].Ranges.Count;
        }

        var list = Buffers.Fit(ref array, n);
        n = 0;
        for (var k = 0; k < slices.Length; k++)
        {
            var ranges = ListSpan.Of(slices[k].Ranges);
            for (var i = 0; i < ranges.Length; i++)
            {
                list[n++] = (ranges[i], k);
            }
        }

        var sorted = Sorted(list, n, buffers);
        if (!ReferenceEquals(sorted, list))
        {
            // The sorted copy is in the spare buffer: swap it with this one.
            (array, buffers.Spare) = (sorted, list);
        }

        return (sorted, n);
    }

    private static bool Disjoint((PortRange Range, int Label)[] list, int count)
    {
        for (var i = 1; i < count; i++)
        {
            if (list[i].Range.Low <= list[i - 1].Range.High)
            {
                return false;
            }
        }

        return true;
    }

    private static (PortRange Range, int Label)[] Holds(IReadOnlyList<PortMove> moves, DateTimeOffset now)
    {
        var n = 0;
        for (var m = 0; m < moves.Count; m++)
        {
            n += moves[m].IsActive(now) ? moves[m].Ports.Count : 0;
        }

        var list = new (PortRange Range, int Label)[n];
        n = 0;
        for (var m = 0; m < moves.Count; m++)
        {
            if (moves[m].IsActive(now))
            {
                foreach (var r in moves[m].Ports)
                {
                    list[n++] = (r, ~m);
                }
            }
        }

        return list.Length < 2 ? list : Sorted(list, list.Length, new Buffers());
    }

    // Sorted by first port: untouched when strictly ascending (the order any sort gives); else sorted on int keys, which
    // gives that same order where the lows differ (a plan's ranges are disjoint); where they tie (an overlapping
    // hand-edited plan) by the sort (algorithm and comparison) this always used, so ties fall as they did.
    private static (PortRange Range, int Label)[] Sorted((PortRange Range, int Label)[] list, int count, Buffers buffers)
    {
        var ascending = true;
        for (var i = 1; i < count && ascending; i++)
        {
            ascending = list[i].Range.Low > list[i - 1].Range.Low;
        }

        if (ascending)
        {
            return list;
        }

        var lows = Buffers.Fit(ref buffers.Lows, count);
        var index = Buffers.Fit(ref buffers.Index, count);
        for (var i = 0; i < count; i++)
        {
            lows[i] = list[i].Range.Low;
            index[i] = i;
        }

        RadixSort.Sort(lows, index, count);
        for (var i = 1; i < count; i++)
        {
            if (lows[i] == lows[i - 1])
            {
                // The comparison sort over exactly the list's items, as always.
                var exact = list.Length == count ? list : list[..count];
                Array.Sort(exact, static (a, b) => a.Range.Low.CompareTo(b.Range.Low));
                return exact;
            }
        }

        var sorted = Buffers.Fit(ref buffers.Spare, count);
        for (var i = 0; i < count; i++)
        {
            sorted[i] = list[index[i]];
        }

        return sorted;
    }

    /// <summary>Working arrays of <see cref="Between(EgressPlan?, EgressPlan, DateTimeOffset, DateTimeOffset, int, Buffers)"/>,
    /// reused from one egress IP to the next (each a range per slice: 10,000 or more on a fleet's egress IP).</summary>
    internal sealed class Buffers
    {
        public (PortRange Range, int Label)[] Owners = [];
        public (PortRange Range, int Label)[] Users = [];
        public (PortRange Range, int Label)[] Next = [];
        public (PortRange Range, int Label)[] Spare = [];
        public int[] Lows = [];
        public int[] Index = [];

        public static T[] Fit<T>(ref T[] array, int length)
        {
            if (array.Length < length)
            {
                array = new T[length];
            }

            return array;
        }
    }

    /// <summary>
    /// The union of two sorted, disjoint labelled range lists, cut where either label changes: each piece with the label of
    /// the first and of the second list covering it (<see cref="None"/> where none does). One pass over both.
    /// </summary>
    private struct Overlay((PortRange Range, int Label)[] a, int aCount, (PortRange Range, int Label)[] b, int bCount)
    {
        private int _i;
        private int _j;
        private int _at;
        private bool _done;

        // Inlined into the callers' loops (once per piece of the two plans).
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public bool Next(out PortRange range, out int aLabel, out int bLabel)
        {
            range = default;
            aLabel = bLabel = None;
            if (_done)
            {
                return false;
            }

            // Skip what lies wholly before the cursor.
            while (_i < aCount && a[_i].Range.High < _at)
            {
                _i++;
            }

            while (_j < bCount && b[_j].Range.High < _at)
            {
                _j++;
            }

            if (_i >= aCount && _j >= bCount)
            {
                _done = true;
                return false;
            }

            var aLow = _i < aCount ? Math.Max(_at, (int)a[_i].Range.Low) : int.MaxValue;
            var bLow = _j < bCount ? Math.Max(_at, (int)b[_j].Range.Low) : int.MaxValue;
            var start = Math.Min(aLow, bLow);
            var inA = aLow == start;
            var inB = bLow == start;

            // The piece ends where the next label change is: the end of a covering range, or the start of the other.
            var end = int.MaxValue;
            end = inA ? Math.Min(end, a[_i].Range.High) : Math.Min(end, aLow - 1);
            end = inB ? Math.Min(end, b[_j].Range.High) : Math.Min(end, bLow - 1);
            range = new PortRange((ushort)start, (ushort)end);
            aLabel = inA ? a[_i].Label : None;
            bLabel = inB ? b[_j].Label : None;
            _at = end + 1;
            _done = _at > ushort.MaxValue;
            return true;
        }
    }

    /// <summary>The moved ranges grouped by move (from, next hop, to, time, seconds) in first-seen order, each group's
    /// ranges in port order with adjacent ones joined: an open-addressing table over arrays.</summary>
    private sealed class Groups
    {
        private Group[] _groups = new Group[16];
        private int[] _buckets = new int[32];
        private int _count;
        private PortRange[] _ranges = new PortRange[64];
        private int[] _nextRange = new int[64];
        private int _rangeCount;

        public void Add(string from, System.Net.IPAddress hop, string? to, DateTimeOffset movedAt, int seconds, PortRange range)
        {
            var hash = HashCode.Combine(from, hop, to, movedAt, seconds) & int.MaxValue;
            var mask = _buckets.Length - 1;
            var slot = hash & mask;
            int g;
            while (true)
            {
                g = _buckets[slot] - 1;
                if (g < 0)
                {
                    g = NewGroup(slot, hash, from, hop, to, movedAt, seconds);
                    break;
                }

                ref var x = ref _groups[g];
                if (x.Hash == hash && string.Equals(x.From, from, StringComparison.Ordinal) && x.Hop.Equals(hop) &&
                    string.Equals(x.To, to, StringComparison.Ordinal) && x.MovedAt.Equals(movedAt) && x.Seconds == seconds)
                {
                    break;
                }

                slot = (slot + 1) & mask;
            }

            ref var group = ref _groups[g];
            if (group.Last >= 0 && _ranges[group.Last].High + 1 == range.Low)
            {
                _ranges[group.Last] = new PortRange(_ranges[group.Last].Low, range.High);
                return;
            }

            if (_rangeCount == _ranges.Length)
            {
                Array.Resize(ref _ranges, _rangeCount * 2);
                Array.Resize(ref _nextRange, _rangeCount * 2);
            }

            _ranges[_rangeCount] = range;
            _nextRange[_rangeCount] = -1;
            if (group.Last >= 0)
            {
                _nextRange[group.Last] = _rangeCount;
            }
            else
            {
                group.First = _rangeCount;
            }

            group.Last = _rangeCount;
            group.Ranges++;
            _rangeCount++;
        }

        public List<PortMove> Moves()
        {
            var moves = new List<PortMove>(_count);
            for (var g = 0; g < _count; g++)
            {
                ref var group = ref _groups[g];
                var ports = new List<PortRange>(group.Ranges);
                for (var r = group.First; r >= 0; r = _nextRange[r])
                {
                    ports.Add(_ranges[r]);
                }

                moves.Add(new PortMove { Ports = ports, From = group.From, FromNextHop = group.Hop, To = group.To, MovedAt = group.MovedAt, QuarantineSeconds = group.Seconds });
            }

            return moves;
        }

        private int NewGroup(int slot, int hash, string from, System.Net.IPAddress hop, string? to, DateTimeOffset movedAt, int seconds)
        {
            if (_count == _groups.Length)
            {
                Array.Resize(ref _groups, _count * 2);
            }

            _groups[_count] = new Group { Hash = hash, From = from, Hop = hop, To = to, MovedAt = movedAt, Seconds = seconds, First = -1, Last = -1 };
            _buckets[slot] = ++_count;
            if (_count * 2 > _buckets.Length)
            {
                // Grow and re-insert every group.
                _buckets = new int[_buckets.Length * 2];
                var mask = _buckets.Length - 1;
                for (var g = 0; g < _count; g++)
                {
                    var s = _groups[g].Hash & mask;
                    while (_buckets[s] != 0)
                    {
                        s = (s + 1) & mask;
                    }

                    _buckets[s] = g + 1;
                }
            }

            return _count - 1;
        }

        private struct Group
        {
            public int Hash;
            public string From;
            public System.Net.IPAddress Hop;
            public string? To;
            public DateTimeOffset MovedAt;
            public int Seconds;
            public int First;
            public int Last;
            public int Ranges;
        }
    }
}
