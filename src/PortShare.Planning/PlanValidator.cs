using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

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
}

/// <summary>One problem found in a plan, naming the egress IP, host and ports involved.</summary>
public sealed record PlanIssue(IssueSeverity Severity, IssueCode Code, string? Egress, string? Host, string Message);

/// <summary>
/// Checks a plan (also a hand-edited one) against the invariants PortShare relies on, and reports every violation,
/// not only the first: slices disjoint per egress IP, inside the usable range, clear of reserved ports, parity-aligned
/// (F2), at least the minimum size; hosts unique; addresses valid.
/// </summary>
public static partial class PlanValidator
{
    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$", RegexOptions.CultureInvariant)]
    internal static partial Regex HostNameRegex();

    public static IReadOnlyList<PlanIssue> Validate(Plan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var issues = new List<PlanIssue>();
        void Add(IssueSeverity s, IssueCode c, string? egress, string? host, string message) => issues.Add(new PlanIssue(s, c, egress, host, message));

        if (plan.Generation < 1)
        {
            Add(IssueSeverity.Error, IssueCode.InvalidSettings, null, null, $"generation is {plan.Generation}; generations start at 1.");
        }

        foreach (var problem in SpecValidator.CheckRules(plan.Alignment, plan.MinSliceSize, plan.Map))
        {
            Add(IssueSeverity.Error, IssueCode.InvalidSettings, null, null, problem);
        }

        var seenEgress = new Dictionary<IPAddress, string>();
        foreach (var egress in plan.Egress)
        {
            var e = egress.Address;
            if (!SpecValidator.TryParseAddress(e, out var address))
            {
                Add(IssueSeverity.Error, IssueCode.InvalidAddress, e, null, $"egress '{e}': not a valid IPv4 or IPv6 address.");
            }
            else if (!seenEgress.TryAdd(address, e))
            {
                Add(IssueSeverity.Error, IssueCode.DuplicateEgress, e, null, $"egress {e}: listed twice (also as '{seenEgress[address]}'); merge the two entries.");
            }

            ValidateEgress(plan, egress, address, Add);
        }

        return issues;
    }

    private static void ValidateEgress(Plan plan, EgressPlan egress, IPAddress? address, Action<IssueSeverity, IssueCode, string?, string?, string> add)
    {
        var e = egress.Address;
        var usable = egress.UsableRange;
        var reserved = PortSet.Normalize(egress.Reserved);
        var hosts = new HashSet<string>(StringComparer.Ordinal);
        var all = new List<(PortRange Range, string Host)>();

        foreach (var slice in egress.Slices)
        {
            var h = slice.Host;
            if (!HostNameRegex().IsMatch(h))
            {
                add(IssueSeverity.Error, IssueCode.InvalidHostName, e, h, $"egress {e}: host name '{h}' is invalid (use letters, digits, '.', '_', '-'; at most 63 characters).");
            }

            if (!hosts.Add(h))
            {
                add(IssueSeverity.Error, IssueCode.DuplicateHost, e, h, $"egress {e}: host '{h}' has more than one slice; give it one slice with several ranges.");
            }

            if (!SpecValidator.TryParseAddress(slice.NextHop, out var nextHop))
            {
                add(IssueSeverity.Error, IssueCode.InvalidNextHop, e, h, $"egress {e}, host '{h}': next hop '{slice.NextHop}' is not a valid IP address.");
            }
            else if (address is not null && nextHop.AddressFamily != address.AddressFamily)
            {
                add(IssueSeverity.Error, IssueCode.InvalidNextHop, e, h, $"egress {e}, host '{h}': next hop {slice.NextHop} is {Family(nextHop)} but the egress IP is {Family(address)}.");
            }

            if (slice.Ranges.Count == 0)
            {
                add(IssueSeverity.Error, IssueCode.EmptySlice, e, h, $"egress {e}, host '{h}': the slice has no ranges; remove the host from this egress IP or give it ports.");
                continue;
            }

            foreach (var r in slice.Ranges)
            {
                all.Add((r, h));
                if (!usable.Contains(r))
                {
                    add(IssueSeverity.Error, IssueCode.OutsideUsableRange, e, h, $"egress {e}, host '{h}': ports {r} lie outside the usable range {usable}; the kernel would silently use other ports (F1).");
                }

                var hit = PortSet.Intersect([r], reserved);
                if (hit.Count > 0)
                {
                    add(IssueSeverity.Error, IssueCode.ReservedPortInSlice, e, h, $"egress {e}, host '{h}': range {r} contains reserved port(s) {PortSet.Format(hit)}; split the range around them.");
                }

            }

            // Parity matters where the kernel sees a range: each segment's span (reserved ports inside it are skipped).
            foreach (var span in PortSet.Segments(PortSet.Normalize(slice.Ranges), reserved))
            {
                if (!span.IsParityAligned)
                {
                    add(IssueSeverity.Error, IssueCode.ParityMisaligned, e, h, $"egress {e}, host '{h}': range {span} must start on an even port and end on an odd one, or the kernel's TCP bind(0) loses ports (C4, F2).");
                }
                else if (plan.Map is null && !IsAligned(span, plan.Alignment, usable, reserved))
                {
                    add(IssueSeverity.Warning, IssueCode.NotAligned, e, h, $"egress {e}, host '{h}': range {span} is not on multiples of the alignment {plan.Alignment}.");
                }
            }

            var size = slice.PortCount;
            if (size < plan.MinSliceSize)
            {
                add(IssueSeverity.Error, IssueCode.BelowMinimumSize, e, h, $"egress {e}, host '{h}': {size} ports ({PortSet.Format(slice.Ranges)}) is below the minimum slice size {plan.MinSliceSize}.");
            }
        }

        // Sweep by low port, remembering the range reaching furthest: every overlapping range is reported once.
        all.Sort((a, b) => a.Range.Low != b.Range.Low ? a.Range.Low.CompareTo(b.Range.Low) : a.Range.High.CompareTo(b.Range.High));
        (PortRange Range, string Host)? reach = null;
        foreach (var item in all)
        {
            if (reach is { } prev && item.Range.Low <= prev.Range.High)
            {
                var both = prev.Range.Intersect(item.Range)!.Value;
                var who = prev.Host == item.Host ? $"host '{item.Host}' lists ports {both} twice ({prev.Range} and {item.Range})" : $"hosts '{prev.Host}' ({prev.Range}) and '{item.Host}' ({item.Range}) overlap on ports {both}";
                add(IssueSeverity.Error, IssueCode.Overlap, e, item.Host, $"egress {e}: {who}.");
            }

            if (reach is null || item.Range.High > reach.Value.Range.High)
            {
                reach = item;
            }
        }

        var owned = PortSet.Normalize(all.Select(a => a.Range));
        var spare = PortSet.Normalize(egress.Spare);
        foreach (var s in egress.Spare)
        {
            if (!usable.Contains(s))
            {
                add(IssueSeverity.Error, IssueCode.SpareConflict, e, null, $"egress {e}: spare ports {s} lie outside the usable range {usable}.");
            }
        }

        var spareOwned = PortSet.Intersect(spare, owned);
        if (spareOwned.Count > 0)
        {
            add(IssueSeverity.Error, IssueCode.SpareConflict, e, null, $"egress {e}: spare ports {PortSet.Format(spareOwned)} are also in a slice; remove them from the spare pool.");
        }

        var spareReserved = PortSet.Intersect(spare, reserved);
        if (spareReserved.Count > 0)
        {
            add(IssueSeverity.Error, IssueCode.SpareConflict, e, null, $"egress {e}: spare ports {PortSet.Format(spareReserved)} are reserved; remove them from the spare pool.");
        }

        var lost = PortSet.Subtract(PortSet.Subtract(PortSet.Subtract([usable], reserved), owned), spare);
        if (lost.Count > 0)
        {
            add(IssueSeverity.Warning, IssueCode.UnaccountedPorts, e, null, $"egress {e}: {PortSet.Count(lost)} usable port(s) ({Abbreviate(lost)}) are in no slice and not in the spare pool.");
        }
    }

    // A boundary off the alignment grid is fine where the usable range or a reserved port forced it.
    private static bool IsAligned(PortRange r, int alignment, PortRange usable, List<PortRange> reserved)
    {
        if (alignment < 2)
        {
            return true;
        }

        bool Reserved(int p) => reserved.Any(x => x.Contains(p));
        var lowOk = r.Low % alignment == 0 || r.Low - usable.Low < 2 || Reserved(r.Low - 1) || Reserved(r.Low - 2) ||
                    AlignUp(usable.Low, alignment) > r.Low;
        var highOk = (r.High + 1) % alignment == 0 || usable.High - r.High < 2 || Reserved(r.High + 1) || Reserved(r.High + 2);
        return lowOk && highOk;
    }

    internal static int AlignUp(int value, int alignment) => (value + alignment - 1) / alignment * alignment;

    internal static string Family(IPAddress a) => a.AddressFamily == AddressFamily.InterNetworkV6 ? "IPv6" : "IPv4";

    private static string Abbreviate(List<PortRange> ranges) =>
        ranges.Count <= 4 ? PortSet.Format(ranges) : string.Create(CultureInfo.InvariantCulture, $"{PortSet.Format(ranges.Take(4))},… {ranges.Count} ranges");
}
