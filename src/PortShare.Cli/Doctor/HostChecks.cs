using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace PortShare.Cli.Doctor;

/// <summary>What doctor found of the host file: its slices, or why it could not be read (both null: no file).</summary>
/// <param name="Path">The path looked at.</param>
/// <param name="Slices">Its slices when it parsed.</param>
/// <param name="Error">Why it did not parse (or could not be read).</param>
internal sealed record HostFileStatus(string Path, HostSlices? Slices, string? Error)
{
    public bool Missing => Slices is null && Error is null;
}

/// <summary>
/// The host checks: everything on one host that decides whether its connections leave from its own ports and their replies
/// come back. Pure: the facts come in through <see cref="IHostDoctorFacts"/>.
/// </summary>
internal static class HostChecks
{
    /// <summary>Where doctor asks the kernel which source an unaware program gets (documentation addresses; nothing is sent).</summary>
    public static readonly IPAddress Probe4 = IPAddress.Parse("203.0.113.254");

    /// <summary>The IPv6 probe destination.</summary>
    public static readonly IPAddress Probe6 = IPAddress.Parse("2001:db8:ffff::1");

    /// <summary>
    /// Runs every host check of <paramref name="slices"/>; <paramref name="planPath"/> (when given) is what the slices came
    /// from, and <paramref name="apply"/> the command that sets the host up (for the fixes).
    /// </summary>
    public static DoctorResult Run(IHostDoctorFacts facts, HostSlices slices, HostFileStatus file, string? planPath, string apply)
    {
        ArgumentNullException.ThrowIfNull(facts);
        ArgumentNullException.ThrowIfNull(slices);
        ArgumentNullException.ThrowIfNull(file);
        var checks = new List<DoctorCheck>();
        checks.AddRange(Kernel(facts, slices));
        checks.Add(HostFile(slices, file, planPath, apply));
        var rules = facts.NftRuleset is { } listing ? NftRuleset.Parse(listing) : null;
        foreach (var (egress, ranges) in slices.Ranges.OrderBy(kv => kv.Key.AddressFamily).ThenBy(kv => kv.Key.ToString(), StringComparer.Ordinal))
        {
            checks.Add(PortRangeCovers(facts, egress, ranges));
            checks.Add(UnownedReserved(facts, egress, ranges));
            checks.Add(AddressOnHost(facts, egress, apply));
            checks.Add(DefaultSource(facts, egress, ranges));
            var notrack = Conntrack(rules, egress, apply);
            checks.Add(notrack);
            checks.Add(Nat(rules, egress, notrack.Status == CheckStatus.Pass));
        }

        if (slices.Ranges.Keys.Any(e => e.AddressFamily == AddressFamily.InterNetwork))
        {
            checks.AddRange(Arp(facts, slices.Ranges.Keys.Where(e => e.AddressFamily == AddressFamily.InterNetwork).ToList()));
            checks.Add(ReversePath(facts));
        }

        checks.Add(PingGroup(facts));
        return new DoctorResult("host", slices.Host, checks);
    }

    internal static IEnumerable<DoctorCheck> Kernel(IHostDoctorFacts facts, HostSlices slices)
    {
        var release = facts.KernelRelease;
        yield return facts.SupportsLocalPortRange
            ? DoctorCheck.Pass("ip_local_port_range_option", $"kernel {release} has IP_LOCAL_PORT_RANGE: connections use the kernel path")
            : DoctorCheck.Warn("ip_local_port_range_option", $"kernel {release} has no IP_LOCAL_PORT_RANGE (Linux < 6.3): connections use the slower bind-before-connect fallback", "upgrade to Linux 6.8 or later for the kernel path");
        if (ParseVersion(release) is { } v && v >= new Version(6, 3) && v < new Version(6, 8))
        {
            var odd = slices.Ranges.SelectMany(kv => kv.Value).Where(r => r.Count % 2 == 1 || !r.IsParityAligned).ToList();
            var detail = $"kernel {release} (6.3-6.7): TCP connect() searches even ports first inside a range (fixed in 6.8), so small ranges connect slowly and an odd-sized one loses a port"
                + (odd.Count == 0 ? string.Empty : $"; odd-sized or misaligned ranges here: {HostSlices.Format(odd)}");
            yield return DoctorCheck.Warn("kernel_even_port_search", detail, "upgrade to Linux 6.8 or later; meanwhile keep ranges even-sized with an even low port");
        }
    }

    internal static DoctorCheck HostFile(HostSlices slices, HostFileStatus file, string? planPath, string apply)
    {
        const string id = "host_file";
        if (file.Error is { } error)
        {
            return DoctorCheck.Fail(id, $"{file.Path} does not parse: {error}", apply + " (rewrites it)");
        }

        if (file.Slices is not { } parsed)
        {
            return planPath is null
                ? DoctorCheck.Fail(id, $"no host file at {file.Path}: applications and 'portshare connect' have no slice", apply)
                : DoctorCheck.Warn(id, $"no host file at {file.Path}: applications and 'portshare connect' without --slice have no slice", apply);
        }

        if (planPath is null)
        {
            return DoctorCheck.Pass(id, $"{file.Path} parses: host {parsed.Host}, {Describe(parsed)}");
        }

        if (!string.Equals(parsed.Host, slices.Host, StringComparison.Ordinal))
        {
            return DoctorCheck.Fail(id, $"{file.Path} is for host {parsed.Host}, not {slices.Host}", apply);
        }

        return parsed.SameAs(slices)
            ? DoctorCheck.Pass(id, $"{file.Path} matches the plan: {Describe(slices)}")
            : DoctorCheck.Fail(id, $"{file.Path} says {Describe(parsed)} but plan {planPath} says {Describe(slices)}: applications use stale ports", apply + " (rewrites it)");
    }

    internal static DoctorCheck PortRangeCovers(IHostDoctorFacts facts, IPAddress egress, IReadOnlyList<PortRange> ranges)
    {
        var netns = facts.NetnsRange;
        var outside = ranges.Where(r => !netns.Contains(r)).ToList();
        if (outside.Count == 0)
        {
            return DoctorCheck.Pass("netns_port_range", $"ip_local_port_range {netns} covers {egress} ports {HostSlices.Format(ranges)}");
        }

        var lo = Math.Min(netns.Low, ranges.Min(r => r.Low));
        var hi = Math.Max(netns.High, ranges.Max(r => r.High));
        return DoctorCheck.Fail(
            "netns_port_range",
            $"ip_local_port_range {netns} does not cover {egress} ports {HostSlices.Format(outside)}: the kernel would widen the slice to other hosts' ports, so PortShare refuses to connect from it",
            string.Create(CultureInfo.InvariantCulture, $"sysctl -w net.ipv4.ip_local_port_range=\"{lo} {hi}\" (or re-run host apply with --sysctl)"));
    }

    internal static DoctorCheck UnownedReserved(IHostDoctorFacts facts, IPAddress egress, IReadOnlyList<PortRange> ranges)
    {
        const string id = "unowned_ports_reserved";
        var span = new PortRange(ranges.Min(r => r.Low), ranges.Max(r => r.High));
        var gaps = PortMask.Except([span], ranges);
        if (gaps.Count == 0)
        {
            return DoctorCheck.Pass(id, $"{egress}: the host owns every port of its span {span}");
        }

        var unreserved = PortMask.Except(gaps, facts.ReservedPorts);
        if (unreserved.Count == 0)
        {
            return DoctorCheck.Pass(id, $"{egress}: ports {HostSlices.Format(gaps)} inside the span {span} that the host does not own are reserved");
        }

        var fix = $"sysctl -w net.ipv4.ip_local_reserved_ports=\"{string.Join(',', facts.ReservedPorts.Concat(unreserved).OrderBy(r => r.Low))}\"";
        var netns = facts.NetnsRange;
        if (span.Contains(netns) && unreserved.Any(netns.Overlaps))
        {
            // Narrowed to the span (--sysctl): a program that does not use PortShare's connector picks these ports too.
            return DoctorCheck.Fail(id, $"{egress}: ip_local_port_range {netns} is narrowed to the span {span}, but ports {HostSlices.Format(unreserved)} in it belong to no range of this host and are not reserved: unaware programs egress from them", fix);
        }

        return DoctorCheck.Warn(id, $"{egress}: ports {HostSlices.Format(unreserved)} inside the span {span} are not this host's and not reserved; PortShare's connector uses one range at a time and never picks them, but a program using the whole span would", fix);
    }

    internal static DoctorCheck AddressOnHost(IHostDoctorFacts facts, IPAddress egress, string apply)
    {
        const string id = "egress_address";
        var on = facts.Addresses.Where(a => a.Address.Equals(egress)).ToList();
        if (on.Count == 0)
        {
            return DoctorCheck.Fail(id, $"{egress} is not on any interface: binding to it fails (EADDRNOTAVAIL)", $"{apply} (puts it on lo), or: ip addr add {egress}/{(egress.AddressFamily == AddressFamily.InterNetworkV6 ? 128 : 32)} dev lo");
        }

        return on.Any(a => a.Device == "lo")
            ? DoctorCheck.Pass(id, $"{egress} is on lo")
            : DoctorCheck.Warn(id, $"{egress} is on {string.Join(", ", on.Select(a => a.Device).Distinct())}, not lo: on a link it may become the source of unaware programs and answer ARP/ND for every host", $"ip addr del {egress}/{on[0].PrefixLength} dev {on[0].Device} && ip addr add {egress}/{(egress.AddressFamily == AddressFamily.InterNetworkV6 ? 128 : 32)} dev lo");
    }

    internal static DoctorCheck DefaultSource(IHostDoctorFacts facts, IPAddress egress, IReadOnlyList<PortRange> ranges)
    {
        const string id = "default_source";
        var probe = egress.AddressFamily == AddressFamily.InterNetworkV6 ? Probe6 : Probe4;
        var source = facts.SourceToward(probe);
        if (source is null)
        {
            return DoctorCheck.Warn(id, $"no route toward {probe}: cannot tell which source unaware programs get", $"ip route get {probe}");
        }

        if (!source.Equals(egress))
        {
            return DoctorCheck.Pass(id, $"unaware programs get source {source} toward {probe}, not the shared {egress}");
        }

        var netns = facts.NetnsRange;
        if (ranges.Any(r => r.Contains(netns)))
        {
            return DoctorCheck.Pass(id, $"unaware programs get the shared {egress} as source toward {probe}, but ip_local_port_range {netns} is narrowed to the host's slice (--sysctl), so they stay in it");
        }

        return DoctorCheck.Fail(id, $"unaware programs get the shared {egress} as source toward {probe} (ip route get) and pick any port of {netns}: their replies go to other hosts", $"make another address the primary source (ip route change default ... src OTHER), keep {egress} on lo only, or narrow the range with host apply --sysctl");
    }

    internal static DoctorCheck Conntrack(IReadOnlyList<NftRule>? rules, IPAddress egress, string apply)
    {
        const string id = "conntrack_exempt";
        if (rules is null)
        {
            return DoctorCheck.Warn(id, $"cannot list the nftables ruleset (nft missing or not root): cannot tell whether {egress} is exempt from conntrack", "run doctor as root with nftables installed (./setup.sh)");
        }

        var incoming = NftRuleset.Notrack(rules, egress, incoming: true);
        var outgoing = NftRuleset.Notrack(rules, egress, incoming: false);
        if (incoming is not null && outgoing is not null)
        {
            return DoctorCheck.Pass(id, $"{egress} is untracked both ways ({incoming.Where}, {outgoing.Where})");
        }

        var missing = string.Join(" and ", new[] { incoming is null ? $"packets to {egress} (prerouting)" : null, outgoing is null ? $"packets from {egress} (output)" : null }.OfType<string>());
        return DoctorCheck.Fail(id, $"no notrack rule before conntrack for {missing}: conntrack tracks the shared address, and its clash resolution can rewrite a source port out of the slice (and NAT can apply)", $"{apply} (installs table inet portshare_host)");
    }

    internal static DoctorCheck Nat(IReadOnlyList<NftRule>? rules, IPAddress egress, bool untracked)
    {
        const string id = "no_nat";
        if (rules is null)
        {
            return DoctorCheck.Warn(id, $"cannot list the nftables ruleset: cannot tell whether a NAT rule touches {egress}", "run doctor as root with nftables installed (./setup.sh)");
        }

        var touching = NftRuleset.NatTouching(rules, egress);
        var named = touching.Where(t => t.Explicit).ToList();
        if (named.Count > 0)
        {
            var r = named[0].Rule;
            return DoctorCheck.Fail(id, $"NAT rule on {egress} in {r.Where}: '{r.Text}'; NAT and port slices do not mix (NAT rewrites ports without regard to slices)", $"delete it: nft -a list chain {r.Family} {r.Table} {r.Chain}, then nft delete rule {r.Family} {r.Table} {r.Chain} handle N");
        }

        var all = touching.Where(t => !t.Explicit).ToList();
        if (all.Count == 0)
        {
            return DoctorCheck.Pass(id, $"no NAT rule touches {egress}");
        }

        var any = all[0].Rule;
        var scope = $"NAT rule '{any.Text}' in {any.Where} names no {(egress.AddressFamily == AddressFamily.InterNetworkV6 ? "IPv6" : "IPv4")} address, so it applies to {egress} too";
        return untracked
            ? DoctorCheck.Warn(id, scope + "; the notrack rule keeps the shared address out of it today", $"scope it to the addresses that need NAT (e.g. add 'ip saddr != {egress}')")
            : DoctorCheck.Fail(id, scope + ", and the address is tracked, so its ports get rewritten", $"scope it to the addresses that need NAT (e.g. add 'ip saddr != {egress}'), and exempt {egress} from conntrack");
    }

    internal static IEnumerable<DoctorCheck> Arp(IHostDoctorFacts facts, IReadOnlyList<IPAddress> egress)
    {
        // Relevant when the shared address is on the router's L2: a connected prefix of a link (not lo) holds it, so ARP
        // requests for it reach every host, and every host would answer them.
        var links = facts.Addresses.Where(a => a.Device != "lo" && a.Address.AddressFamily == AddressFamily.InterNetwork).ToList();
        var onLink = egress.Where(e => links.Any(l => !l.Address.Equals(e) && NftRuleset.Covers((l.Address, l.PrefixLength), e))).ToList();
        var devices = links.Select(l => l.Device).Distinct().ToList();
        var where = onLink.Count > 0
            ? $"{string.Join(", ", onLink)} is on the router's L2 (a connected prefix holds it)"
            : $"{string.Join(", ", egress)} is not on a connected prefix, so ARP for it should not reach this host; host apply sets it anyway";
        foreach (var (key, want, why) in new[]
        {
            ("arp_ignore", 1, "answer ARP only for addresses on the interface asked, so hosts do not all claim the shared address"),
            ("arp_announce", 2, "never use the shared address as the sender of ARP requests, so the router does not learn it on one host's link"),
        })
        {
            var effective = Effective(facts, key, devices);
            var ok = key == "arp_ignore" ? effective >= want : effective == want;
            var id = key;
            if (ok)
            {
                yield return DoctorCheck.Pass(id, $"{key}={effective} (host apply sets {want}: {why})");
                continue;
            }

            var detail = $"{key}={effective?.ToString(CultureInfo.InvariantCulture) ?? "unknown"}, host apply sets {want} to {why}; {where}";
            var fix = $"sysctl -w net.ipv4.conf.all.{key}={want}";
            yield return onLink.Count > 0 ? DoctorCheck.Fail(id, detail, fix) : DoctorCheck.Warn(id, detail, fix);
        }
    }

    internal static DoctorCheck ReversePath(IHostDoctorFacts facts)
    {
        const string id = "rp_filter";
        var source = facts.SourceToward(Probe4);
        var uplink = source is null ? null : facts.Addresses.FirstOrDefault(a => a.Address.Equals(source))?.Device;
        var devices = uplink is null ? facts.Addresses.Where(a => a.Device != "lo").Select(a => a.Device).Distinct().ToList() : [uplink];
        var effective = Effective(facts, "rp_filter", devices);
        var where = uplink is null ? "the links" : uplink;
        return effective switch
        {
            0 => DoctorCheck.Pass(id, $"rp_filter=0 on {where}: replies are not dropped by reverse-path filtering"),
            2 => DoctorCheck.Pass(id, $"rp_filter=2 (loose) on {where}: replies pass as long as their source is routable"),
            null => DoctorCheck.Warn(id, "cannot read rp_filter", "sysctl net.ipv4.conf.all.rp_filter"),
            _ => DoctorCheck.Fail(id, $"rp_filter={effective} (strict) on {where}: a reply that arrives on another interface than the route back to its source (several routers or uplinks, ECMP) is dropped", $"sysctl -w net.ipv4.conf.all.rp_filter=2{(uplink is null ? string.Empty : $" net.ipv4.conf.{uplink}.rp_filter=2")} (loose), or 0"),
        };
    }

    internal static DoctorCheck PingGroup(IHostDoctorFacts facts)
    {
        const string id = "ping_group_range";
        var text = facts.Sysctl("net/ipv4/ping_group_range");
        var parts = text?.Split((char[])[' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
        if (parts is not [var a, var b] || !long.TryParse(a, CultureInfo.InvariantCulture, out var lo) || !long.TryParse(b, CultureInfo.InvariantCulture, out var hi))
        {
            return DoctorCheck.Warn(id, "cannot read net.ipv4.ping_group_range", "sysctl net.ipv4.ping_group_range");
        }

        return facts.Groups.Any(g => g >= lo && g <= hi)
            ? DoctorCheck.Pass(id, $"ping_group_range {lo}-{hi} admits this process: 'portshare ping' can open a ping socket")
            : DoctorCheck.Warn(id, $"ping_group_range {lo} {hi} admits none of this process's groups ({string.Join(',', facts.Groups)}): 'portshare ping' and SlicePinger cannot open a ping socket (root is not exempt)", "sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"");
    }

    /// <summary>The effective value of a per-interface IPv4 sysctl: the kernel uses the larger of <c>all</c> and the interface's.</summary>
    private static int? Effective(IHostDoctorFacts facts, string key, IReadOnlyList<string> devices)
    {
        int? Read(string dev) => int.TryParse(facts.Sysctl($"net/ipv4/conf/{dev}/{key}"), NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : null;
        var all = Read("all");
        var values = devices.Select(Read).OfType<int>().ToList();
        if (all is null && values.Count == 0)
        {
            return null;
        }

        var perDevice = values.Count == 0 ? 0 : values.Max();
        return Math.Max(all ?? 0, perDevice);
    }

    private static string Describe(HostSlices slices) =>
        string.Join("; ", slices.Ranges.OrderBy(kv => kv.Key.ToString(), StringComparer.Ordinal).Select(kv => $"{kv.Key} ports {HostSlices.Format(kv.Value)}"));

    internal static Version? ParseVersion(string release)
    {
        var parts = release.Split('.', '-');
        return parts.Length >= 2
            && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var major)
            && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var minor)
            ? new Version(major, minor)
            : null;
    }
}
