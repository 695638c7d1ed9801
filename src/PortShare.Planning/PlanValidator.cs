using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace PortShare.Planning;

public enum IssueSeverity
{
    /// <summary>The plan must not be used: routing or egress would go wrong.</summary>
    Error,

    /// <summary>The plan works but wastes or misplaces ports.</summary>
    Warning,
}

/// <summary>What kind of problem a <see cref="PlanIssue"/> is; stable names for scripts (<c>--json</c>).</summary>
public enum IssueCode
{
    InvalidSettings,
    InvalidAddress,
    DuplicateEgress,
    InvalidHostName,
    DuplicateHost,
    InvalidNextHop,
    EmptySlice,
    Overlap,
    OutsideUsableRange,
    ReservedPortInSlice,
    ParityMisaligned,
    NotAligned,
    BelowMinimumSize,
    SpareConflict,
    UnaccountedPorts,

    /// <summary>Nothing to route: the plan (or route set) has no slices.</summary>
    NoSlices,

    /// <summary>A host with two next hops of one address family, or a next hop given for two hosts (the router sends
    /// each host's replies to one address per family).</summary>
    NextHopConflict,

    /// <summary>A recorded move (ports in quarantine) that does not fit the plan: ports outside the usable range, in two
    /// moves, or not owned by its new owner; a bad host name, next hop or quarantine length.</summary>
    InvalidMove,
}

/// <summary>One problem found in a plan, naming the egress IP, host and ports involved.</summary>
public sealed record PlanIssue(IssueSeverity Severity, IssueCode Code, string? Egress, string? Host, string Message);

/// <summary>One route of the return path as the router installs it: replies to <see cref="Egress"/> on a port in
/// <see cref="Range"/> go to <see cref="Host"/> at <see cref="NextHop"/>.</summary>
public readonly record struct RouteEntry(IPAddress Egress, string Host, IPAddress NextHop, PortRange Range);

/// <summary>
/// The one validator of plans and of the routes made from them. It checks a plan (also a hand-edited one) against the
/// invariants PortShare relies on — slices disjoint per egress IP, inside the usable range, clear of reserved ports,
/// parity-aligned (F2), at least the minimum size; hosts unique; next hops of the egress IP's family — and the rules the
/// router adds — plain (not mapped or scoped) addresses, next hops that are neither loopback nor unspecified, one next
/// hop per host and family, no next hop shared by two hosts — and reports every violation, not only the first.
/// Addresses are typed when the file is read (<see cref="PlanJsonConverter"/>), so an address that does not parse
/// never gets this far. Linear in the number of slices (a fleet's plan has 160,000).
/// </summary>
public static class PlanValidator
{
    /// <summary>True when <paramref name="name"/> is an acceptable host name: 1-63 letters, digits, '.', '_' or '-',
    /// starting with a letter or digit (names end up in file names and command arguments).</summary>
    public static bool IsValidHostName(string? name)
    {
        // By hand rather than a regex: it runs once per slice.
        if (name is null || name.Length is 0 or > 63 || !char.IsAsciiLetterOrDigit(name[0]))
        {
            return false;
        }

        foreach (var c in name)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('.' or '_' or '-'))
            {
                return false;
            }
        }

        return true;
    }

    public static IReadOnlyList<PlanIssue> Validate(Plan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var issues = new Issues();
        if (plan.Generation is < 1 or long.MaxValue)
        {
            issues.Error(IssueCode.InvalidSettings, null, null, $"generation is {plan.Generation}; generations run from 1 to {long.MaxValue - 1}.");
        }

        foreach (var problem in SpecValidator.CheckRules(plan.Alignment, plan.MinSliceSize, plan.Map))
        {
            issues.Error(IssueCode.InvalidSettings, null, null, problem);
        }

        // Hosts by id (HostIds), in the order the checks below first meet them (each egress IP's slices, then its moves):
        // an egress IP's slices mostly list the hosts of the one before in the same order, so a fleet's 160,000 slices are
        // matched to their hosts by comparing names with that guess, and each name is checked once.
        var ids = new HostIds(plan.Egress.Count > 0 ? plan.Egress[0].Slices.Count : 0);
        var sliceIds = new int[plan.Egress.Count][];
        var moveIds = new int[plan.Egress.Count][];
        int[]? guess = null;
        for (var i = 0; i < plan.Egress.Count; i++)
        {
            sliceIds[i] = guess = ids.Of(plan.Egress[i].Slices, guess, add: true);
            var moves = plan.Egress[i].Moves;
            moveIds[i] = new int[moves.Count];
            for (var k = 0; k < moves.Count; k++)
            {
                moveIds[i][k] = ids.Add(moves[k].From);
            }
        }

        var validName = new bool[ids.Count];
        for (var id = 0; id < ids.Count; id++)
        {
            validName[id] = IsValidHostName(ids[id]);
        }

        // The egress IPs are checked side by side (Fanout), each into its own list; next hops, which span egress IPs, after
        // them in plan order. The lists are joined in plan order.
        var names = plan.Egress.Select(e => AddressText.Format(e.Address)).ToArray();
        var each = new Issues[plan.Egress.Count];
        Fanout.Runs(plan.Egress.Count, Fanout.SliceCount(plan.Egress), (from, to) =>
        {
            var seen = new int[ids.Count];
            for (var i = from; i < to; i++)
            {
                ValidateEgress(plan, plan.Egress[i], names[i], sliceIds[i], validName, seen, stamp: i + 1, each[i] = new Issues());
            }
        });

        var seenEgress = new HashSet<IPAddress>();
        var hops = new NextHops(ids);
        var slices = 0;
        for (var i = 0; i < plan.Egress.Count; i++)
        {
            var (egress, e) = (plan.Egress[i], names[i]);
            CheckAddress(egress.Address, e, issues);
            if (!seenEgress.Add(egress.Address))
            {
                issues.Error(IssueCode.DuplicateEgress, e, null, $"egress {e}: listed twice; merge the two entries.");
            }

            var egressSlices = ListSpan.Of(egress.Slices);
            slices += egressSlices.Length;
            issues.List.AddRange(each[i].List);
            for (var k = 0; k < egressSlices.Length; k++)
            {
                var slice = egressSlices[k];
                CheckNextHop(egress.Address, e, slice.Host, sliceIds[i][k], slice.NextHop, hops, issues);
            }

            for (var k = 0; k < egress.Moves.Count; k++)
            {
                var m = egress.Moves[k];
                CheckNextHop(egress.Address, e, m.From, moveIds[i][k], m.FromNextHop, hops, issues);
            }
        }

        if (slices == 0)
        {
            issues.Error(IssueCode.NoSlices, null, null, "The plan has no slices: nothing to route.");
        }

        hops.Report(issues);
        return issues.List;
    }

    /// <summary>
    /// The router's check of the routes it is asked to install (made from a validated plan, or by hand): every problem,
    /// each naming the slice and how to fix it; empty when they are usable.
    /// </summary>
    public static IReadOnlyList<PlanIssue> ValidateRoutes(IReadOnlyCollection<RouteEntry> routes)
    {
        ArgumentNullException.ThrowIfNull(routes);
        var issues = new Issues();
        if (routes.Count == 0)
        {
            issues.Error(IssueCode.NoSlices, null, null, "The plan has no slices: nothing to route.");
        }

        var hops = new NextHops();
        var byEgress = new Dictionary<IPAddress, List<(PortRange Range, string Host)>>();
        foreach (var r in routes)
        {
            var e = r.Egress.ToString();
            if (!byEgress.TryGetValue(r.Egress, out var list))
            {
                byEgress[r.Egress] = list = [];
                CheckAddress(r.Egress, e, issues);
            }

            if (!IsValidHostName(r.Host))
            {
                issues.Error(IssueCode.InvalidHostName, e, r.Host, InvalidName(e, r.Host));
            }

            CheckNextHop(r.Egress, e, r.Host, hops.Id(r.Host), r.NextHop, hops, issues);
            list.Add((r.Range, r.Host));
        }

        foreach (var (egress, list) in byEgress)
        {
            Sweep(list, egress.ToString(), issues);
        }

        hops.Report(issues);
        return issues.List;
    }

    // ids[k]: the host id of slice k; seen[id] == stamp: the host has a slice on this egress IP already.
    private static void ValidateEgress(Plan plan, EgressPlan egress, string e, int[] ids, bool[] validName, int[] seen, int stamp, Issues issues)
    {
        var usable = egress.UsableRange;
        var reserved = PortSet.Normalize(egress.Reserved);
        var slices = ListSpan.Of(egress.Slices);
        var all = new List<(PortRange Range, string Host)>(slices.Length);

        for (var n = 0; n < slices.Length; n++)
        {
            var slice = slices[n];
            var h = slice.Host;
            var id = ids[n];
            if (!validName[id])
            {
                issues.Error(IssueCode.InvalidHostName, e, h, InvalidName(e, h));
            }

            if (seen[id] == stamp)
            {
                issues.Error(IssueCode.DuplicateHost, e, h, $"egress {e}: host '{h}' has more than one slice; give it one slice with several ranges.");
            }

            seen[id] = stamp;

            // A span, without an enumerator or a list per slice: this runs for each of a fleet's 160,000 slices.
            var ranges = ListSpan.Of(slice.Ranges);
            if (ranges.Length == 0)
            {
                issues.Error(IssueCode.EmptySlice, e, h, $"egress {e}, host '{h}': the slice has no ranges; remove the host from this egress IP or give it ports.");
                continue;
            }

            for (var k = 0; k < ranges.Length; k++)
            {
                var r = ranges[k];
                all.Add((r, h));
                if (!usable.Contains(r))
                {
                    issues.Error(IssueCode.OutsideUsableRange, e, h, $"egress {e}, host '{h}': ports {r} lie outside the usable range {usable}; the kernel would silently use other ports (F1).");
                }

                if (reserved.Count > 0 && PortSet.Intersect([r], reserved) is { Count: > 0 } hit)
                {
                    issues.Error(IssueCode.ReservedPortInSlice, e, h, $"egress {e}, host '{h}': range {r} contains reserved port(s) {PortSet.Format(hit)}; split the range around them.");
                }
            }

            // Parity matters where the kernel sees a range: each segment's span (reserved ports inside it are skipped).
            // The usual slice is one range and its own segment.
            if (ranges.Length == 1)
            {
                CheckSegment(plan, ranges[0], e, h, usable, reserved, issues);
            }
            else
            {
                foreach (var span in PortSet.Segments(PortSet.Normalize(slice.Ranges), reserved))
                {
                    CheckSegment(plan, span, e, h, usable, reserved, issues);
                }
            }

            var size = ranges.Length == 1 ? ranges[0].Count : slice.PortCount;
            if (size < plan.MinSliceSize)
            {
                issues.Error(IssueCode.BelowMinimumSize, e, h, $"egress {e}, host '{h}': {size} ports ({PortSet.Format(slice.Ranges)}) is below the minimum slice size {plan.MinSliceSize}.");
            }
        }

        // Sorted by the sweep: merged in one pass.
        Sweep(all, e, issues);
        var owned = new List<PortRange>();
        foreach (var (r, _) in all)
        {
            if (owned.Count > 0 && r.Low <= owned[^1].High + 1)
            {
                owned[^1] = new PortRange(owned[^1].Low, Math.Max(owned[^1].High, r.High));
            }
            else
            {
                owned.Add(r);
            }
        }

        var spare = PortSet.Normalize(egress.Spare);
        foreach (var s in egress.Spare)
        {
            if (!usable.Contains(s))
            {
                issues.Error(IssueCode.SpareConflict, e, null, $"egress {e}: spare ports {s} lie outside the usable range {usable}.");
            }
        }

        var spareOwned = PortSet.Intersect(spare, owned);
        if (spareOwned.Count > 0)
        {
            issues.Error(IssueCode.SpareConflict, e, null, $"egress {e}: spare ports {PortSet.Format(spareOwned)} are also in a slice; remove them from the spare pool.");
        }

        var spareReserved = PortSet.Intersect(spare, reserved);
        if (spareReserved.Count > 0)
        {
            issues.Error(IssueCode.SpareConflict, e, null, $"egress {e}: spare ports {PortSet.Format(spareReserved)} are reserved; remove them from the spare pool.");
        }

        var lost = PortSet.Subtract(PortSet.Subtract(PortSet.Subtract([usable], reserved), owned), spare);
        if (lost.Count > 0)
        {
            issues.Warning(IssueCode.UnaccountedPorts, e, null, $"egress {e}: {PortSet.Count(lost)} usable port(s) ({Abbreviate(lost)}) are in no slice and not in the spare pool.");
        }

        if (egress.Moves.Count > 0)
        {
            ValidateMoves(egress, e, owned, issues);
        }
    }

    private static void CheckSegment(Plan plan, PortRange span, string e, string h, PortRange usable, List<PortRange> reserved, Issues issues)
    {
        if (!span.IsParityAligned)
        {
            issues.Error(IssueCode.ParityMisaligned, e, h, $"egress {e}, host '{h}': range {span} must start on an even port and end on an odd one, or the kernel's TCP bind(0) loses ports (C4, F2).");
        }
        else if (plan.Map is null && !IsAligned(span, plan.Alignment, usable, reserved))
        {
            issues.Warning(IssueCode.NotAligned, e, h, $"egress {e}, host '{h}': range {span} is not on multiples of the alignment {plan.Alignment}.");
        }
    }

    // A move's ports: inside the usable range, in no other move, and owned by its new owner (or by nobody: spare). Its old
    // owner may have left the plan (it still gets the replies during the quarantine, at the next hop the move records),
    // but its next hop obeys the router's rules like any host's.
    private static void ValidateMoves(EgressPlan egress, string e, List<PortRange> owned, Issues issues)
    {
        var all = new List<(PortRange Range, string Host)>();

        // One new host may receive a range from each of 10,000 others: normalize its slice once.
        var targets = new Dictionary<string, List<PortRange>>(StringComparer.Ordinal);
        foreach (var m in egress.Moves)
        {
            var what = $"egress {e}: the move of ports {Abbreviate(m.Ports)} from '{m.From}' to {(m.To is null ? "the spare pool" : $"'{m.To}'")}";
            foreach (var name in (ReadOnlySpan<string?>)[m.From, m.To])
            {
                if (name is not null && !IsValidHostName(name))
                {
                    issues.Error(IssueCode.InvalidMove, e, name, $"{what}: {InvalidName(e, name)}");
                }
            }

            if (string.Equals(m.From, m.To, StringComparison.Ordinal))
            {
                issues.Error(IssueCode.InvalidMove, e, m.From, $"{what}: a move needs two different hosts; remove it.");
            }

            if (m.QuarantineSeconds is < 1 or > PortMove.MaxQuarantineSeconds)
            {
                issues.Error(IssueCode.InvalidMove, e, m.From, $"{what}: quarantine_seconds {m.QuarantineSeconds} must be 1 to {PortMove.MaxQuarantineSeconds} (a move handed over at once is not recorded).");
            }

            if (m.Ports.Count == 0)
            {
                issues.Error(IssueCode.InvalidMove, e, m.From, $"{what}: it has no ports; remove it.");
                continue;
            }

            var ports = PortSet.Normalize(m.Ports);
            foreach (var r in m.Ports)
            {
                all.Add((r, m.From));
                if (!egress.UsableRange.Contains(r))
                {
                    issues.Error(IssueCode.InvalidMove, e, m.From, $"{what}: ports {r} lie outside the usable range {egress.UsableRange}.");
                }
            }

            if (m.To is null)
            {
                var taken = PortSet.Subtract(ports, PortSet.Subtract(ports, owned));
                if (taken.Count > 0)
                {
                    issues.Error(IssueCode.InvalidMove, e, m.From, $"{what}: ports {Abbreviate(taken)} are in a slice; name their owner as \"to\".");
                }
            }
            else if (egress.FindSlice(m.To) is not { } target)
            {
                issues.Error(IssueCode.InvalidMove, e, m.To, $"{what}: host '{m.To}' has no slice on this egress IP; the new owner must own the ports it receives.");
            }
            else if (PortSet.Subtract(ports, targets.TryGetValue(m.To, out var norm) ? norm : targets[m.To] = PortSet.Normalize(target.Ranges)) is { Count: > 0 } missing)
            {
                issues.Error(IssueCode.InvalidMove, e, m.To, $"{what}: ports {Abbreviate(missing)} are not in '{m.To}''s slice; the new owner must own the ports it receives.");
            }
        }

        // Moves are disjoint: a port is in quarantine for one old owner.
        for (var i = 1; i < all.Count; i++)
        {
            if (all[i - 1].Range.Low > all[i].Range.Low)
            {
                all.Sort((a, b) => a.Range.Low.CompareTo(b.Range.Low));
                break;
            }
        }

        for (var i = 1; i < all.Count; i++)
        {
            if (all[i].Range.Low <= all[i - 1].Range.High)
            {
                issues.Error(IssueCode.InvalidMove, e, all[i].Host, $"egress {e}: ports {all[i - 1].Range.Intersect(all[i].Range)} are in two moves (from '{all[i - 1].Host}' and from '{all[i].Host}'); a port is in quarantine for one old owner.");
            }
        }
    }

    private static string InvalidName(string egress, string host) =>
        $"egress {egress}: host name '{host}' is invalid (use letters, digits, '.', '_', '-', starting with a letter or digit; at most 63 characters).";

    // The router's rule for an egress address: a plain IPv4 or IPv6 address (a mapped or scoped one matches no packet).
    private static void CheckAddress(IPAddress address, string e, Issues issues)
    {
        if (address.IsIPv4MappedToIPv6 || (address.AddressFamily == AddressFamily.InterNetworkV6 && address.ScopeId != 0))
        {
            issues.Error(IssueCode.InvalidAddress, e, null, $"egress {e}: use a plain IPv4 or IPv6 address (no IPv4-mapped or scoped address).");
        }
        else if (address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any))
        {
            issues.Error(IssueCode.InvalidAddress, e, null, $"egress {e}: the unspecified address cannot be shared.");
        }
    }

    private static void CheckNextHop(IPAddress egress, string e, string h, int id, IPAddress hop, NextHops hops, Issues issues)
    {
        if (hop.AddressFamily != egress.AddressFamily)
        {
            issues.Error(IssueCode.InvalidNextHop, e, h, $"egress {e}, host '{h}': next hop {hop} is {Family(hop)} but the egress IP is {Family(egress)}; a next hop must be of the same family.");
            return;
        }

        if (!hops.Add(id, hop))
        {
            return; // Seen before with this host: already checked.
        }

        if (hop.IsIPv4MappedToIPv6 || (hop.AddressFamily == AddressFamily.InterNetworkV6 && hop.ScopeId != 0))
        {
            issues.Error(IssueCode.InvalidNextHop, e, h, $"egress {e}, host '{h}': next hop {hop}: use a plain IPv4 or IPv6 address (no IPv4-mapped or scoped address).");
        }
        else if (IPAddress.IsLoopback(hop) || hop.Equals(IPAddress.Any) || hop.Equals(IPAddress.IPv6Any))
        {
            issues.Error(IssueCode.InvalidNextHop, e, h, $"egress {e}, host '{h}': next hop {hop} cannot be a loopback or unspecified address.");
        }
    }

    // Sweep by low port, remembering the range reaching furthest: every overlapping range is reported once. A planned
    // plan is already in port order, so the sort is skipped then.
    private static void Sweep(List<(PortRange Range, string Host)> all, string e, Issues issues)
    {
        var items = CollectionsMarshal.AsSpan(all);
        for (var i = 1; i < items.Length; i++)
        {
            if (Compare(items[i - 1], items[i]) > 0)
            {
                // A re-planned fleet's split slices put an egress IP's 10,000 ranges out of order: by (low, high), linear.
                // Only the keys move while sorting (low, high, then the index, so equal ranges keep their order), the
                // items once at the end: an item holds a reference, and moving one costs a write barrier.
                var keys = new ulong[items.Length];
                for (var k = 0; k < items.Length; k++)
                {
                    keys[k] = ((ulong)items[k].Range.Low << 48) | ((ulong)items[k].Range.High << 32) | (uint)k;
                }

                RadixSort.Sort(keys, keys.Length);
                var unsorted = items.ToArray();
                for (var k = 0; k < items.Length; k++)
                {
                    items[k] = unsorted[(int)(keys[k] & uint.MaxValue)];
                }

                break;
            }
        }

        (PortRange Range, string Host)? reach = null;
        foreach (var item in all)
        {
            if (reach is { } prev && item.Range.Low <= prev.Range.High)
            {
                var both = prev.Range.Intersect(item.Range)!.Value;
                var who = prev.Host == item.Host ? $"host '{item.Host}' lists ports {both} twice ({prev.Range} and {item.Range})" : $"hosts '{prev.Host}' ({prev.Range}) and '{item.Host}' ({item.Range}) overlap on ports {both}";
                issues.Error(IssueCode.Overlap, e, item.Host, $"egress {e}: {who}.");
            }

            if (reach is null || item.Range.High > reach.Value.Range.High)
            {
                reach = item;
            }
        }

        static int Compare((PortRange Range, string Host) a, (PortRange Range, string Host) b) =>
            a.Range.Low != b.Range.Low ? a.Range.Low.CompareTo(b.Range.Low) : a.Range.High.CompareTo(b.Range.High);
    }

    /// <summary>Each host's next hops by family, and the hosts of each next hop; conflicts are reported at the end.</summary>
    /// <summary>Each host's next hop per address family, by host id; the hosts in the order they were first met.</summary>
    private sealed class NextHops(HostIds ids)
    {
        private readonly List<(string Host, IPAddress First, IPAddress Second)> _conflicts = [];
        private (IPAddress? V4, IPAddress? V6)[] _byHost = new (IPAddress?, IPAddress?)[ids.Count];

        public NextHops()
            : this(new HostIds())
        {
        }

        /// <summary>The id of <paramref name="host"/> (a new one when it is new).</summary>
        public int Id(string host) => ids.Add(host);

        /// <summary>Records the pair; false when the host already had exactly this next hop.</summary>
        public bool Add(int id, IPAddress hop)
        {
            if (id >= _byHost.Length)
            {
                Array.Resize(ref _byHost, Math.Max(id + 1, _byHost.Length * 2));
            }

            ref var slot = ref _byHost[id];
            ref var family = ref hop.AddressFamily == AddressFamily.InterNetworkV6 ? ref slot.V6 : ref slot.V4;
            if (family is null)
            {
                family = hop;
                return true;
            }

            if (ReferenceEquals(family, hop) || family.Equals(hop))
            {
                return false;
            }

            _conflicts.Add((ids[id], family, hop));
            return true;
        }

        public void Report(Issues issues)
        {
            foreach (var (host, first, second) in _conflicts)
            {
                issues.Error(IssueCode.NextHopConflict, null, host, $"host '{host}' has several {Family(first)} next hops ({first}, {second}); give each host one next hop per address family.");
            }

            var hostsOf = new Dictionary<IPAddress, List<string>>();
            for (var id = 0; id < ids.Count && id < _byHost.Length; id++)
            {
                var (v4, v6) = _byHost[id];
                foreach (var hop in (ReadOnlySpan<IPAddress?>)[v4, v6])
                {
                    if (hop is not null)
                    {
                        ref var list = ref CollectionsMarshal.GetValueRefOrAddDefault(hostsOf, hop, out _);
                        (list ??= []).Add(ids[id]);
                    }
                }
            }

            foreach (var (hop, hosts) in hostsOf)
            {
                if (hosts.Count > 1)
                {
                    issues.Error(IssueCode.NextHopConflict, null, hosts[1], $"next hop {hop} is given for several hosts ('{string.Join("', '", hosts)}'); each host needs its own next hop.");
                }
            }
        }
    }

    private sealed class Issues
    {
        public List<PlanIssue> List { get; } = [];

        public void Error(IssueCode code, string? egress, string? host, string message) => List.Add(new PlanIssue(IssueSeverity.Error, code, egress, host, message));

        public void Warning(IssueCode code, string? egress, string? host, string message) => List.Add(new PlanIssue(IssueSeverity.Warning, code, egress, host, message));
    }

    // A boundary off the alignment grid is fine where the usable range or a reserved port forced it.
    private static bool IsAligned(PortRange r, int alignment, PortRange usable, List<PortRange> reserved)
    {
        if (alignment < 2)
        {
            return true;
        }

        var lowOk = r.Low % alignment == 0 || r.Low - usable.Low < 2 || IsReserved(reserved, r.Low - 1) || IsReserved(reserved, r.Low - 2) ||
                    AlignUp(usable.Low, alignment) > r.Low;
        var highOk = (r.High + 1) % alignment == 0 || usable.High - r.High < 2 || IsReserved(reserved, r.High + 1) || IsReserved(reserved, r.High + 2);
        return lowOk && highOk;
    }

    private static bool IsReserved(List<PortRange> reserved, int port)
    {
        foreach (var x in reserved)
        {
            if (x.Contains(port))
            {
                return true;
            }
        }

        return false;
    }

    internal static int AlignUp(int value, int alignment) => (value + alignment - 1) / alignment * alignment;

    internal static string Family(IPAddress a) => a.AddressFamily == AddressFamily.InterNetworkV6 ? "IPv6" : "IPv4";

    private static string Abbreviate(IReadOnlyList<PortRange> ranges) =>
        ranges.Count <= 4 ? PortSet.Format(ranges) : string.Create(CultureInfo.InvariantCulture, $"{PortSet.Format(ranges.Take(4))},… {ranges.Count} ranges");
}
