using System.Net;
using System.Net.Sockets;
using PortShare.Routing;

namespace PortShare.Cli.Doctor;

/// <summary>A neighbour entry (<c>ip -j neigh</c>): an address, its device and its NUD states.</summary>
internal sealed record NeighbourEntry(IPAddress Address, string Device, IReadOnlyList<string> States);

/// <summary>What is installed compared with the plan: empty <see cref="Changes"/> when they match.</summary>
/// <param name="Backend">The backend compared against (the installed one).</param>
/// <param name="Changes">The commands <c>router apply</c> would run.</param>
/// <param name="Digest">The installed nftables table's digest, when there is one.</param>
internal sealed record PlanComparison(RouterBackend Backend, IReadOnlyList<string> Changes, string? Digest);

/// <summary>What router doctor reads of one network namespace (a fake in unit tests).</summary>
internal interface IRouterDoctorFacts
{
    /// <summary>The ownership ranges in use (priorities, tables).</summary>
    RouterOptions Options { get; }

    /// <summary>What PortShare has installed.</summary>
    RouterState State { get; }

    /// <summary>Compares what is installed with <paramref name="routes"/>, with the installed backend.</summary>
    PlanComparison Compare(IReadOnlyList<RouteSlice> routes);

    /// <summary>The neighbour table.</summary>
    IReadOnlyList<NeighbourEntry> Neighbours { get; }

    /// <summary>Conntrack entries with <paramref name="address"/> as source or destination; null when that cannot be told.</summary>
    long? ConntrackEntries(IPAddress address);

    /// <summary>A <c>/proc/sys</c> key, or null.</summary>
    string? Sysctl(string key);

    /// <summary>The <c>nft list ruleset</c> listing, or null.</summary>
    string? NftRuleset { get; }
}

/// <summary>The router checks: forwarding, installed state against the plan, next hops, conntrack, NAT, drops.</summary>
internal static class RouterChecks
{
    /// <summary>Runs every router check; <paramref name="apply"/> is the command that installs the plan (for the fixes).</summary>
    public static DoctorResult Run(IRouterDoctorFacts facts, IReadOnlyList<RouteSlice> routes, string apply, long generation, string subject)
    {
        ArgumentNullException.ThrowIfNull(facts);
        ArgumentNullException.ThrowIfNull(routes);
        var checks = new List<DoctorCheck>();
        var egresses = routes.Select(r => r.Egress).Distinct().OrderBy(e => e.AddressFamily).ThenBy(e => e.ToString(), StringComparer.Ordinal).ToList();
        checks.AddRange(Forwarding(facts, egresses));
        var comparison = facts.Compare(routes);
        checks.Add(Installed(comparison, apply, generation));
        checks.AddRange(NextHops(facts, routes));
        var rules = facts.NftRuleset is { } listing ? NftRuleset.Parse(listing) : null;
        foreach (var e in egresses)
        {
            checks.Add(Conntrack(facts, e));
            checks.Add(HostChecks.Nat(rules, e, rules is not null && NftRuleset.Notrack(rules, e, incoming: true) is not null));
            checks.Add(UnownedDropped(facts, rules, comparison.Backend, e, apply));
        }

        if (comparison.Backend == RouterBackend.Nftables)
        {
            checks.AddRange(FwmarkReflect(facts, egresses));
        }
        else if (comparison.Backend == RouterBackend.IpRule)
        {
            checks.Add(DoctorCheck.Warn("echo_replies", "the iprule backend steers only TCP and UDP: ICMP errors and echo replies to the shared address are dropped, so 'portshare ping' gets no replies and path-MTU discovery breaks", $"{apply} --backend nftables"));
        }

        return new DoctorResult("router", subject, checks);
    }

    internal static IEnumerable<DoctorCheck> Forwarding(IRouterDoctorFacts facts, IReadOnlyList<IPAddress> egresses)
    {
        foreach (var (family, key, name) in new[] { (AddressFamily.InterNetwork, "net/ipv4/ip_forward", "net.ipv4.ip_forward"), (AddressFamily.InterNetworkV6, "net/ipv6/conf/all/forwarding", "net.ipv6.conf.all.forwarding") })
        {
            if (!egresses.Any(e => e.AddressFamily == family))
            {
                continue;
            }

            var value = facts.Sysctl(key);
            yield return value == "1"
                ? DoctorCheck.Pass("forwarding", $"{name}=1")
                : DoctorCheck.Fail("forwarding", $"{name}={value ?? "unknown"}: this router does not forward {(family == AddressFamily.InterNetworkV6 ? "IPv6" : "IPv4")}, so no reply reaches a host", $"sysctl -w {name}=1");
        }
    }

    internal static DoctorCheck Installed(PlanComparison comparison, string apply, long generation)
    {
        const string id = "installed_matches_plan";
        var backend = comparison.Backend switch { RouterBackend.IpRule => "iprule", RouterBackend.Netdev => "netdev", _ => "nftables" };
        var digest = comparison.Digest is null ? string.Empty : $", table digest {comparison.Digest}";
        if (comparison.Changes.Count == 0)
        {
            return DoctorCheck.Pass(id, $"installed {backend} state matches plan generation {generation}{digest}");
        }

        var shown = string.Join("; ", comparison.Changes.Take(3)) + (comparison.Changes.Count > 3 ? $"; … ({comparison.Changes.Count} in all)" : string.Empty);
        return DoctorCheck.Fail(id, $"installed {backend} state differs from plan generation {generation}{digest}: router apply would run {shown}", $"{apply} --backend {backend}");
    }

    internal static IEnumerable<DoctorCheck> NextHops(IRouterDoctorFacts facts, IReadOnlyList<RouteSlice> routes)
    {
        const string id = "next_hop";
        var neighbours = facts.Neighbours;
        foreach (var hop in routes.GroupBy(r => r.NextHop).OrderBy(g => g.Key.AddressFamily).ThenBy(g => g.Key.ToString(), StringComparer.Ordinal))
        {
            var host = hop.First().Host;
            var entry = neighbours.FirstOrDefault(n => n.Address.Equals(hop.Key));
            if (entry is null)
            {
                yield return DoctorCheck.Warn(id, $"next hop {hop.Key} (host {host}) has no neighbour entry yet (nothing was sent to it): cannot tell whether it resolves", $"ping -c 1 {hop.Key} from the router, then run doctor again");
                continue;
            }

            var states = string.Join(",", entry.States);
            if (entry.States.Any(s => s is "FAILED" or "INCOMPLETE"))
            {
                yield return DoctorCheck.Fail(id, $"next hop {hop.Key} (host {host}) on {entry.Device} does not resolve ({states}): replies for its slice are dropped", $"check host {host}'s link and address {hop.Key} (ip -n ROUTER neigh show {hop.Key})");
            }
            else
            {
                yield return DoctorCheck.Pass(id, $"next hop {hop.Key} (host {host}) resolves on {entry.Device} ({states})");
            }
        }
    }

    internal static DoctorCheck Conntrack(IRouterDoctorFacts facts, IPAddress egress)
    {
        const string id = "conntrack_entries";
        var n = facts.ConntrackEntries(egress);
        return n switch
        {
            null => DoctorCheck.Warn(id, $"cannot count conntrack entries for {egress} (the conntrack tool is missing)", "apt-get install conntrack (./setup.sh)"),
            0 => DoctorCheck.Pass(id, $"conntrack holds no entry for {egress}"),
            _ => DoctorCheck.Fail(id, $"conntrack holds {n} entries for {egress}: the router tracks shared-address flows (memory per flow, and NAT or clash resolution can rewrite their ports)", $"exempt it before conntrack (portshare router apply installs 'notrack'), then conntrack -D -d {egress}"),
        };
    }

    internal static DoctorCheck UnownedDropped(IRouterDoctorFacts facts, IReadOnlyList<NftRule>? rules, RouterBackend backend, IPAddress egress, string apply)
    {
        const string id = "unowned_ports_dropped";
        var blackhole = facts.State.Rules.Any(r => r.Priority == facts.Options.BlackholePriority && r.To == egress.ToString() && r.Table is null);
        var nftDrop = backend != RouterBackend.Nftables || rules?.Any(r => r.Table == facts.Options.NftTable && NftRuleset.IsDropTo(r, egress)) == true;
        if (blackhole && nftDrop)
        {
            return DoctorCheck.Pass(id, $"packets to {egress} on ports no slice owns are dropped (blackhole rule at priority {facts.Options.BlackholePriority}{(backend == RouterBackend.Nftables ? ", nftables drop" : string.Empty)})");
        }

        var missing = !blackhole ? $"the blackhole rule 'to {egress}' at priority {facts.Options.BlackholePriority}" : $"the nftables drop for {egress} in table inet {facts.Options.NftTable}";
        return DoctorCheck.Fail(id, $"{missing} is missing: packets to ports no slice owns follow the main table, and may reach an arbitrary host", apply);
    }

    internal static IEnumerable<DoctorCheck> FwmarkReflect(IRouterDoctorFacts facts, IReadOnlyList<IPAddress> egresses)
    {
        foreach (var (family, name) in new[] { (AddressFamily.InterNetwork, "ipv4"), (AddressFamily.InterNetworkV6, "ipv6") })
        {
            if (!egresses.Any(e => e.AddressFamily == family))
            {
                continue;
            }

            var value = facts.Sysctl($"net/{name}/fwmark_reflect");
            yield return value == "1"
                ? DoctorCheck.Pass("fwmark_reflect", $"net.{name}.fwmark_reflect=1: the router's own ICMP errors follow the host's mark")
                : DoctorCheck.Warn("fwmark_reflect", $"net.{name}.fwmark_reflect={value ?? "unknown"}: ICMP errors this router itself sends (e.g. fragmentation-needed from a smaller uplink MTU) cannot find the host", $"sysctl -w net.{name}.fwmark_reflect=1");
        }
    }
}
