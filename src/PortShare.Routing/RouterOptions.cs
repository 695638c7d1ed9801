namespace PortShare.Routing;

/// <summary>How replies are steered to their host.</summary>
public enum RouterBackend
{
    /// <summary>An nftables interval map from destination port to a host mark, plus one fwmark rule per host (flat cost, atomic).</summary>
    Nftables,

    /// <summary>One <c>ip rule … dport LO-HI</c> per slice and protocol (iproute2 only; cost grows with the slice count; ICMP errors are not steered).</summary>
    IpRule,

    /// <summary>
    /// A netdev ingress table on the uplinks: address dispatch, a port map per egress address, a chain per host that
    /// forwards with <c>fwd … to NEXTHOP device DEV</c>. No table, rule or mark per host: flat cost with any host count.
    /// </summary>
    Netdev,
}

/// <summary>
/// What PortShare owns on a router: a rule priority range, a routing table range, a mark range and one nftables table.
/// Host <c>i</c> (1-based) gets table <c>TableBase + i</c> and mark <c>MarkBase + i</c>.
/// </summary>
public sealed record RouterOptions
{
    /// <summary>The backend; nftables by default.</summary>
    public RouterBackend Backend { get; init; } = RouterBackend.Nftables;

    /// <summary>The first rule priority PortShare owns.</summary>
    public int PriorityBase { get; init; } = 5300;

    /// <summary>How many priorities PortShare owns from <see cref="PriorityBase"/> (slice and mark rules use the first, the blackhole the last).</summary>
    public int PriorityCount { get; init; } = 100;

    /// <summary>The first routing table PortShare owns (table <c>TableBase</c> itself is not used).</summary>
    public int TableBase { get; init; } = 5300;

    /// <summary>
    /// How many tables (and marks) PortShare owns: at most <c>TableCount - 1</c> hosts. A host's index is a function of
    /// its name and the plan's host names (a hash slot, probed in name order), so the default covers the whole 16-bit
    /// mark space and collisions stay rare; a smaller range makes collisions, and so moved indices, likelier.
    /// </summary>
    public int TableCount { get; init; } = 65536;

    /// <summary>With the nftables (fwmark) backend, warn above this many hosts: one fwmark rule per host is walked per packet.</summary>
    public int FwmarkWarnHosts { get; init; } = 300;

    /// <summary>
    /// The rule and route protocol number PortShare tags what it makes with (<c>ip rule … protocol N</c>): only rules
    /// and routes carrying it are PortShare's, whatever else sits in its ranges.
    /// </summary>
    public int Protocol { get; init; } = 83;

    /// <summary>Netdev backend: the devices replies arrive on (empty: the devices of the default routes).</summary>
    public IReadOnlyList<string> Uplinks { get; init; } = [];

    /// <summary>The first packet mark; host marks are <c>MarkBase + index</c>.</summary>
    public uint MarkBase { get; init; } = 0x50530000;

    /// <summary>The nftables table name (family inet).</summary>
    public string NftTable { get; init; } = "portshare";

    /// <summary>Reassemble fragments at the router (nf_defrag) so that large UDP datagrams reach their host; loads conntrack's hooks (untracked for the egress addresses).</summary>
    public bool Reassemble { get; init; }

    /// <summary>With the iprule backend, warn above this many slices (each costs ~24 ns per packet per rule).</summary>
    public int IpRuleWarnSlices { get; init; } = 300;

    /// <summary>The priority of the mark and slice rules.</summary>
    public int RulePriority => PriorityBase;

    /// <summary>The priority of the per-egress blackhole rule (ports no slice owns).</summary>
    public int BlackholePriority => PriorityBase + PriorityCount - 1;

    /// <summary>Throws when the ranges make no sense.</summary>
    public void Validate()
    {
        var errors = new List<string>();
        if (PriorityBase < 1 || PriorityCount < 2 || (long)PriorityBase + PriorityCount > 32766)
        {
            errors.Add($"Priority range {PriorityBase}+{PriorityCount} must lie in 1-32765 (below the main table's 32766) and hold at least 2 priorities.");
        }

        if (TableBase < 256 || TableCount < 2 || (long)TableBase + TableCount > 252_000_000)
        {
            errors.Add($"Table range {TableBase}+{TableCount} must start at 256 or above (0-255 are the kernel's) and hold at least 2 tables.");
        }

        if (TableCount > 65536)
        {
            errors.Add($"Table count {TableCount} is above 65536: a host's mark is MarkBase + its index, in the mark's low 16 bits.");
        }

        if (Backend == RouterBackend.Netdev && Reassemble)
        {
            errors.Add("--reassemble does not work with the netdev backend: its ingress hook runs before the kernel reassembles fragments. Use --backend nftables for plans that need large UDP datagrams.");
        }

        if (Backend == RouterBackend.IpRule && Reassemble)
        {
            errors.Add("--reassemble applies to the nftables backend (it enables nf_defrag there); the iprule backend does not reassemble. Use --backend nftables, or drop --reassemble.");
        }

        if (Uplinks.Any(u => !NetTools.IsValidNetnsName(u) || u.Length > 15))
        {
            errors.Add($"--uplink '{Uplinks.First(u => !NetTools.IsValidNetnsName(u) || u.Length > 15)}' is not a valid device name.");
        }

        if ((MarkBase & 0xFFFF) != 0)
        {
            errors.Add($"Mark base 0x{MarkBase:x8} must have its low 16 bits clear.");
        }

        if (!NetTools.IsValidNetnsName(NftTable))
        {
            errors.Add($"nftables table name '{NftTable}' is invalid.");
        }

        if (errors.Count > 0)
        {
            throw new RoutingException($"The router options cannot be used: {PortShareException.Summarize(errors)}");
        }
    }
}
