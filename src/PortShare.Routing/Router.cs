using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace PortShare.Routing;

/// <summary>The table and mark a host's replies are steered with.</summary>
/// <param name="Host">The host's name.</param>
/// <param name="Index">Its index in PortShare's ranges (1-based).</param>
/// <param name="Table">Its routing table.</param>
/// <param name="Mark">Its packet mark (nftables backend).</param>
/// <param name="NextHops">Its next hops (one per address family).</param>
public sealed record HostAssignment(string Host, int Index, int Table, uint Mark, IReadOnlyList<IPAddress> NextHops);

/// <summary>What PortShare has installed on a router: its rules, routes and nftables table.</summary>
/// <param name="Rules">Rules in the owned priority range.</param>
/// <param name="Routes">Routes in the owned table range.</param>
/// <param name="Nft">The nftables table, or null when absent (or nft is not installed).</param>
public sealed record RouterState(IReadOnlyList<IpRule> Rules, IReadOnlyList<IpRoute> Routes, InstalledNft? Nft)
{
    /// <summary>The netdev backend's table, or null when absent.</summary>
    public NetdevState? Netdev { get; init; }

    /// <summary>The netdev table's counters, or null when absent.</summary>
    public RouterCounters? Counters { get; init; }

    /// <summary>Rules and routes in PortShare's ranges that PortShare did not make (someone else's): never touched.</summary>
    public IReadOnlyList<string> Foreign { get; init; } = [];

    /// <summary>True when nothing of PortShare's is installed.</summary>
    public bool IsEmpty => Rules.Count == 0 && Routes.Count == 0 && Nft is null && Netdev is null;

    /// <summary>
    /// A digest of what is installed (read back from the kernel, not what was asked for): equal on two routers exactly
    /// when they steer every port the same way (the netdev counters and the plan generation are left out).
    /// </summary>
    public string Digest()
    {
        var sb = new System.Text.StringBuilder();
        foreach (var r in Rules.Select(r => r.ToString()).Order(StringComparer.Ordinal))
        {
            sb.Append(r).Append('\n');
        }

        foreach (var r in Routes.Select(r => r.ToString()).Order(StringComparer.Ordinal))
        {
            sb.Append(r).Append('\n');
        }

        foreach (var n in (Nft?.Slices ?? []).Select(n => n.ToString()).Order(StringComparer.Ordinal))
        {
            sb.Append(n).Append('\n');
        }

        sb.Append(Netdev?.Digest() ?? "-");
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(sb.ToString())))[..16];
    }
}

/// <summary>What <c>router show</c> reports: the backend in place, the plan generation and digest, the slices and counters.</summary>
/// <param name="Backend">"netdev", "nftables", "iprule", or "none".</param>
/// <param name="Generation">The plan generation the router serves (netdev backend), or null when unknown.</param>
/// <param name="Digest">The digest of the installed state (<see cref="RouterState.Digest"/>).</param>
/// <param name="Slices">The installed slices.</param>
/// <param name="Counters">Per-host and unowned-port counters (netdev backend), or null.</param>
/// <param name="Foreign">Rules and routes in PortShare's ranges that are someone else's.</param>
public sealed record RouterStatus(string Backend, long? Generation, string Digest, IReadOnlyList<InstalledSlice> Slices, RouterCounters? Counters, IReadOnlyList<string> Foreign);

/// <summary>
/// The difference between what is installed and what a plan needs, in the order it is applied: first what is added
/// (routes, then rules), then the nftables table in one transaction, then what is deleted (rules, then routes). Adding
/// before switching and deleting after means a reply never meets a half-built path.
/// </summary>
public sealed class RouterChange
{
    internal RouterChange(IReadOnlyList<HostAssignment> hosts, Dictionary<int, List<string>> add, string? nft, Dictionary<int, List<string>> delete, IReadOnlyList<string> warnings)
    {
        Hosts = hosts;
        Add = add;
        Nft = nft;
        Delete = delete;
        Warnings = warnings;
    }

    /// <summary>The hosts with their tables and marks.</summary>
    public IReadOnlyList<HostAssignment> Hosts { get; }

    /// <summary>Per family (4, 6): <c>ip -batch</c> lines run first.</summary>
    public IReadOnlyDictionary<int, List<string>> Add { get; }

    /// <summary>The <c>nft -f -</c> script, or null when the table is already as wanted.</summary>
    public string? Nft { get; }

    /// <summary>Per family (4, 6): <c>ip -batch</c> lines run last.</summary>
    public IReadOnlyDictionary<int, List<string>> Delete { get; }

    /// <summary>Things the operator should know (e.g. a large iprule plan).</summary>
    public IReadOnlyList<string> Warnings { get; }

    internal RouterChange WithWarnings(IReadOnlyList<string> more) =>
        more.Count == 0 ? this : new RouterChange(Hosts, (Dictionary<int, List<string>>)Add, Nft, (Dictionary<int, List<string>>)Delete, [.. Warnings, .. more]) { NetdevWanted = NetdevWanted };

    /// <summary>The netdev state this change installs (netdev backend), saved after a successful apply.</summary>
    internal NetdevState? NetdevWanted { get; set; }

    /// <summary>With the netdev backend: the digest of the state this change installs (what <c>router show</c> reports after it), else null.</summary>
    public string? NetdevDigest => NetdevWanted?.Digest();

    /// <summary>True when nothing needs to change.</summary>
    public bool IsEmpty => Nft is null && Add.Values.All(l => l.Count == 0) && Delete.Values.All(l => l.Count == 0);

    /// <summary>The number of ip lines plus one for an nft transaction.</summary>
    public int Count => Add.Values.Sum(l => l.Count) + Delete.Values.Sum(l => l.Count) + (Nft is null ? 0 : 1);

    /// <summary>The commands as a person would type them (for <c>--dry-run</c>).</summary>
    public IEnumerable<string> Describe()
    {
        foreach (var (family, lines) in Add.OrderBy(k => k.Key))
        {
            foreach (var l in lines)
            {
                yield return $"ip -{family} {l}";
            }
        }

        if (Nft is not null)
        {
            yield return "nft -f - <<'EOF'";
            foreach (var l in Nft.TrimEnd('\n').Split('\n'))
            {
                yield return l;
            }

            yield return "EOF";
        }

        foreach (var (family, lines) in Delete.OrderBy(k => k.Key))
        {
            foreach (var l in lines)
            {
                yield return $"ip -{family} {l}";
            }
        }
    }
}

/// <summary>One slice as installed on a router.</summary>
/// <param name="Egress">The egress address.</param>
/// <param name="Range">The ports.</param>
/// <param name="Table">The table its replies are looked up in.</param>
/// <param name="NextHop">The next hop of that table for the egress address, or null when missing.</param>
/// <param name="Host">The host (netdev backend, from its chain), or null when the backend does not name it.</param>
public sealed record InstalledSlice(IPAddress Egress, PortRange Range, int Table, string? NextHop, string? Host = null);

/// <summary>
/// Installs, updates and removes the return path on a router: computes the difference from what is installed, applies it
/// in one batch per step, and rolls back to the previous state when a step fails.
/// </summary>
public sealed class Router
{
    private readonly NetTools _tools;
    private readonly RouterOptions _options;

    /// <summary>Creates a router driver for the namespace of <paramref name="tools"/>.</summary>
    public Router(NetTools tools, RouterOptions options)
    {
        ArgumentNullException.ThrowIfNull(tools);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _tools = tools;
        _options = options;
    }

    /// <summary>The options in use.</summary>
    public RouterOptions Options => _options;

    /// <summary>How long apply and remove wait for another one on the same namespace (test hook; 30 s).</summary>
    internal TimeSpan LockWait { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Test hook: extra <c>ip -4 -batch</c> lines appended to the last step, to make a batch fail half-way.</summary>
    internal IReadOnlyList<string> InjectIntoLastStep { get; set; } = [];

    /// <summary>Reads what PortShare has installed (the netdev table in full, with its counters).</summary>
    public RouterState ReadState() => ReadState(full: true);

    /// <summary>
    /// Reads what PortShare has installed. Without <paramref name="full"/>, the netdev table is taken from the copy the
    /// last apply saved when the table's stamp says it is still what is installed (no counters then).
    /// </summary>
    private RouterState ReadState(bool full)
    {
        var foreign = new List<string>();
        var rules = IpStateReader.ReadRules(_tools, 4, _options, foreign).Concat(IpStateReader.ReadRules(_tools, 6, _options, foreign)).ToList();
        var routes = IpStateReader.ReadRoutes(_tools, 4, _options, foreign).Concat(IpStateReader.ReadRoutes(_tools, 6, _options, foreign)).ToList();
        var hasNft = _tools.HasNft();
        var nft = hasNft ? NftScript.ReadInstalled(_tools, _options) : null;
        if (hasNft && !full)
        {
            var stamp = NetdevScript.ReadStamp(_tools, _options);
            if (stamp is null)
            {
                return new RouterState(rules, routes, nft) { Foreign = foreign };
            }

            if (ReadSaved(stamp) is { } saved)
            {
                return new RouterState(rules, routes, nft) { Netdev = saved, Foreign = foreign };
            }
        }

        var netdev = hasNft ? NetdevScript.ReadInstalled(_tools, _options) : null;
        return new RouterState(rules, routes, nft) { Netdev = netdev?.State, Counters = netdev?.Counters, Foreign = foreign };
    }

    private string SavedPath => Path.Combine("/run/portshare/router", $"netns-{Identity}-{_options.NftTable}.state");

    private string? _identity;

    /// <summary>The namespace's inode number: the same however the namespace was named.</summary>
    private string Identity => _identity ??= new string(_tools.NamespaceIdentity().Where(char.IsAsciiDigit).ToArray());

    /// <summary>The saved copy of the netdev state when its first line names <paramref name="stamp"/>, else null.</summary>
    private NetdevState? ReadSaved(string stamp)
    {
        try
        {
            var text = File.ReadAllText(SavedPath);
            var nl = text.IndexOf('\n', StringComparison.Ordinal);
            return nl > 0 && stamp.Length > 0 && text.AsSpan(0, nl).SequenceEqual("stamp " + stamp) ? NetdevScript.Deserialize(text[(nl + 1)..]) : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    private void Save(NetdevState? state)
    {
        if (state is null)
        {
            File.Delete(SavedPath);
            return;
        }

        Directory.CreateDirectory(Path.GetDirectoryName(SavedPath)!);
        var temp = SavedPath + ".tmp";
        File.WriteAllText(temp, $"stamp {NetdevScript.Stamp(state)}\n{NetdevScript.Serialize(state)}");
        File.Move(temp, SavedPath, overwrite: true);
    }

    /// <summary>What applying <paramref name="slices"/> would change, without changing anything.</summary>
    public RouterChange Plan(IReadOnlyList<RouteSlice> slices) => Plan(slices, ReadState());

    /// <summary>Applies <paramref name="slices"/>; with <paramref name="dryRun"/> only computes the change.</summary>
    /// <param name="slices">The slices.</param>
    /// <param name="dryRun">Only compute the change.</param>
    /// <param name="generation">The plan's generation, recorded on the router (netdev backend) for <c>router show</c>.</param>
    /// <exception cref="InvalidPlanException">The slices or options are unusable; nothing was changed.</exception>
    /// <exception cref="RoutingException">A tool is missing, PortShare's ranges hold someone else's rules, or a step failed (everything was rolled back).</exception>
    public RouterChange Apply(IReadOnlyList<RouteSlice> slices, bool dryRun = false, long generation = 0)
    {
        RequireTools();
        using var held = dryRun ? null : Lock();
        var before = ReadState(full: false);
        if (before.Foreign.Count > 0)
        {
            throw new RoutingException(ForeignMessage(before.Foreign));
        }

        var change = Plan(slices, before, generation);
        change = change.WithWarnings(SysctlWarnings(slices));
        if (!dryRun && !change.IsEmpty)
        {
            Execute(change, before);
            Save(change.NetdevWanted);
        }

        return change;
    }

    /// <summary>Router settings the return path depends on but PortShare does not own: said, not changed.</summary>
    private List<string> SysctlWarnings(IReadOnlyList<RouteSlice> slices)
    {
        var warnings = new List<string>();
        string? Read(string key)
        {
            var r = _tools.Netns is null
                ? _tools.Runner.Run("sysctl", ["-n", key])
                : _tools.Runner.Run("ip", ["netns", "exec", _tools.Netns, "sysctl", "-n", key]);
            return r.ExitCode == 0 ? r.StdOut.Trim() : null;
        }

        try
        {
            var families = slices.Select(s => FamilyOf(s.Egress)).Distinct().ToList();
            if (families.Contains(4) && Read("net.ipv4.ip_forward") == "0")
            {
                warnings.Add("net.ipv4.ip_forward is 0: this router does not forward IPv4, so no reply will reach a host.");
            }

            if (families.Contains(6) && Read("net.ipv6.conf.all.forwarding") == "0")
            {
                warnings.Add("net.ipv6.conf.all.forwarding is 0: this router does not forward IPv6, so no reply will reach a host.");
            }

            if (_options.Backend != RouterBackend.IpRule && families.Any(f => Read(f == 6 ? "net.ipv6.fwmark_reflect" : "net.ipv4.fwmark_reflect") == "0"))
            {
                warnings.Add("fwmark_reflect is 0: ICMP errors this router itself sends (e.g. fragmentation-needed when its uplink MTU is smaller) cannot find the host. Set net.ipv4.fwmark_reflect=1 and net.ipv6.fwmark_reflect=1.");
            }
        }
        catch (RoutingException)
        {
            // No sysctl tool: the warnings are advice only.
        }

        return warnings;
    }

    /// <summary>Removes every rule, route and table PortShare made (and nothing else).</summary>
    public RouterChange Remove(bool dryRun = false)
    {
        using var held = dryRun ? null : Lock();
        var before = ReadState(full: false);
        var warnings = before.Foreign.Count == 0 ? [] : new List<string> { ForeignMessage(before.Foreign) + " They were left alone." };
        var change = Diff([], [], [], before.Nft is null && before.Netdev is null ? null : NetdevScript.Delete(_options), before, warnings);
        if (!dryRun && !change.IsEmpty)
        {
            Execute(change, before);
            Save(null);
        }

        return change;
    }

    /// <summary>The installed slices, from the nftables map (nftables backend) or the slice rules (iprule backend).</summary>
    public IReadOnlyList<InstalledSlice> Show() => Describe(ReadState());

    /// <summary>The backend in place, the plan generation, the digest of the installed state, slices and counters.</summary>
    public RouterStatus Status()
    {
        var state = ReadState();
        var backend = state.Netdev is not null ? "netdev"
            : state.Nft is { Slices.Count: > 0 } ? "nftables"
            : state.Rules.Any(r => r.Ports is not null) ? "iprule"
            : "none";
        return new RouterStatus(backend, state.Netdev?.Generation, state.Digest(), Describe(state), state.Counters, state.Foreign);
    }

    private string ForeignMessage(IReadOnlyList<string> foreign) =>
        $"PortShare's priority range {_options.PriorityBase}-{_options.PriorityBase + _options.PriorityCount - 1} or table range {_options.TableBase + 1}-{_options.TableBase + _options.TableCount - 1} holds {foreign.Count} rule(s) or route(s) PortShare did not make (they lack its protocol {_options.Protocol}), e.g. {foreign[0]}. Choose free ranges with --priority-base / --table-base (and --table-count), or remove them.";

    /// <summary>The installed slices of <paramref name="state"/>.</summary>
    public IReadOnlyList<InstalledSlice> Describe(RouterState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        var result = new List<InstalledSlice>();
        string? Hop(IPAddress egress, int table) =>
            state.Routes.FirstOrDefault(r => r.Table == table && r.Destination == egress.ToString())?.Gateway;
        if (state.Netdev is { } netdev)
        {
            var hops = netdev.Targets.ToDictionary(t => t.Chain, StringComparer.Ordinal);
            foreach (var s in netdev.Slices)
            {
                var target = hops.GetValueOrDefault(s.Chain);
                result.Add(new InstalledSlice(s.Egress, s.Range, 0, target is null ? null : $"{target.NextHop} dev {target.Device}", target?.Host ?? s.Chain));
            }
        }

        if (state.Nft is { } nft)
        {
            foreach (var s in nft.Slices)
            {
                var table = _options.TableBase + (int)(s.Mark - _options.MarkBase);
                result.Add(new InstalledSlice(s.Egress, s.Range, table, Hop(s.Egress, table)));
            }
        }

        foreach (var r in state.Rules.Where(r => r.Ports is not null && r.Protocol == "tcp" && r.To is not null && r.Table is not null))
        {
            var egress = IPAddress.Parse(r.To!);
            result.Add(new InstalledSlice(egress, r.Ports!.Value, r.Table!.Value, Hop(egress, r.Table.Value)));
        }

        return result.OrderBy(s => s.Egress.AddressFamily).ThenBy(s => s.Egress.ToString(), StringComparer.Ordinal).ThenBy(s => s.Range.Low).ToList();
    }

    /// <summary>
    /// Serializes applies to one namespace: two at once would each diff against a state the other is changing.
    /// An exclusive open is an flock on Linux, released when the process ends, so a crash leaves no stale lock.
    /// </summary>
    private FileStream Lock()
    {
        var dir = "/run/portshare/lock";
        Directory.CreateDirectory(dir);
        // Named after the namespace's inode, not the name it was given: "--netns R" and "ip netns exec R …" are one router.
        var path = Path.Combine(dir, $"router-netns-{Identity}");
        var until = Environment.TickCount64 + (long)LockWait.TotalMilliseconds;
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (Environment.TickCount64 < until)
            {
                Thread.Sleep(50);
            }
            catch (IOException ex)
            {
                throw new RoutingException($"Another 'router apply' or 'router remove' on this network namespace has held {path} for {LockWait.TotalSeconds:0} s; try again when it has finished.", ex);
            }
        }
    }

    private void RequireTools()
    {
        if (_options.Backend != RouterBackend.IpRule && !_tools.HasNft())
        {
            throw new RoutingException($"The {(_options.Backend == RouterBackend.Netdev ? "netdev" : "nftables")} backend needs the 'nft' tool, which is not installed. Run ./setup.sh as root (apt-get install nftables), or use --backend iprule for small plans.");
        }
    }

    internal RouterChange Plan(IReadOnlyList<RouteSlice> slices, RouterState installed, long generation = 0)
    {
        RouteValidation.ThrowIfInvalid(slices);
        var warnings = new List<string>();
        var rules = new List<IpRule>();
        var routes = new List<IpRoute>();
        foreach (var egress in slices.Select(s => s.Egress).Distinct())
        {
            rules.Add(new IpRule(FamilyOf(egress), _options.BlackholePriority, egress.ToString(), null, null, null, null));
        }

        if (_options.Backend == RouterBackend.Netdev)
        {
            var (netdevHosts, script, wanted) = PlanNetdev(slices, installed, generation);
            var netdevChange = Diff(netdevHosts, rules, routes, script, installed, warnings);
            netdevChange.NetdevWanted = wanted;
            return netdevChange;
        }

        var hosts = AssignHosts(slices);
        var byHost = hosts.ToDictionary(h => h.Host, StringComparer.Ordinal);
        // Grouped once: a per-host scan of every slice was hosts × slices (95 s at 10,000 hosts × 16 egress IPs).
        var slicesOf = slices.ToLookup(s => s.Host, StringComparer.Ordinal);
        foreach (var h in hosts)
        {
            foreach (var pair in slicesOf[h.Host].Select(s => (s.Egress, s.NextHop)).Distinct())
            {
                routes.Add(new IpRoute(FamilyOf(pair.Egress), h.Table, pair.Egress.ToString(), pair.NextHop.ToString()));
            }
        }

        string? nft;
        if (_options.Backend == RouterBackend.Nftables)
        {
            foreach (var h in hosts)
            {
                foreach (var family in slicesOf[h.Host].Select(s => FamilyOf(s.Egress)).Distinct())
                {
                    rules.Add(new IpRule(family, _options.RulePriority, null, null, null, h.Mark, h.Table));
                }
            }

            if (hosts.Count > _options.FwmarkWarnHosts)
            {
                warnings.Add($"The plan has {hosts.Count} hosts: with the nftables (fwmark) backend every reply walks up to {hosts.Count} fwmark rules, measured at 0.62x the connection rate with 1,000 extra hosts and 0.18x with 5,000. Consider --backend netdev, whose cost stays flat.");
            }

            var marked = slices.Select(s => new MarkedSlice(s.Egress, s.Range, byHost[s.Host].Mark)).ToList();
            nft = installed.Netdev is null && installed.Nft is { } current && current.Hash == NftScript.Hash(marked, _options)
                ? null
                : (installed.Netdev is null ? string.Empty : NetdevTableDelete()) + NftScript.Build(marked, _options);
        }
        else
        {
            var errors = slices.Where(s => s.Range.High == 65535)
                .Select(s => $"Slice {s.Range} of host {s.Host} on {s.Egress} ends at port 65535, which the iprule backend cannot express (an ip rule dport range cannot end at 65535). Use --backend nftables, or end the plan's port range at 65534.")
                .ToList();
            if (errors.Count > 0)
            {
                throw new InvalidPlanException(errors);
            }

            if (slices.Count > _options.IpRuleWarnSlices)
            {
                warnings.Add($"The plan has {slices.Count} slices: with the iprule backend every reply is matched against up to {2 * slices.Count} rules (~24 ns each), measured at 0.31x the connection rate for 1,000 slices. Consider --backend nftables, whose map lookup cost stays flat.");
            }

            foreach (var s in slices)
            {
                foreach (var proto in (string[])["tcp", "udp"])
                {
                    rules.Add(new IpRule(FamilyOf(s.Egress), _options.RulePriority, s.Egress.ToString(), proto, s.Range, null, byHost[s.Host].Table));
                }
            }

            nft = installed.Nft is null && installed.Netdev is null ? null : NetdevScript.Delete(_options);
        }

        return Diff(hosts, rules, routes, nft, installed, warnings);
    }

    private string NetdevTableDelete() => $"table netdev {_options.NftTable}\ndelete table netdev {_options.NftTable}\n";

    /// <summary>The netdev backend: a chain per host and family on the device of its next hop; the change only touches what differs.</summary>
    private (List<HostAssignment> Hosts, string? Script, NetdevState Wanted) PlanNetdev(IReadOnlyList<RouteSlice> slices, RouterState installed, long generation)
    {
        var links = RouterLinks.Read(_tools);
        var uplinks = links.Uplinks(_options.Uplinks);
        var errors = new List<string>();
        var targets = new List<NetdevTarget>();
        foreach (var (host, hop) in slices.Select(s => (s.Host, s.NextHop)).Distinct().OrderBy(h => h.Host, StringComparer.Ordinal))
        {
            if (links.DeviceOf(hop) is { } device)
            {
                targets.Add(new NetdevTarget(host, FamilyOf(hop), hop, device));
            }
            else
            {
                errors.Add($"Host {host}: next hop {hop} is on no link of this router (no connected route holds it); each host's next_hop must be on a directly connected network.");
            }
        }

        if (errors.Count > 0)
        {
            throw new InvalidPlanException(errors);
        }

        var wanted = new NetdevState(uplinks, targets, slices.Select(s => new NetdevSlice(s.Egress, s.Range, new NetdevTarget(s.Host, FamilyOf(s.NextHop), s.NextHop, string.Empty).Chain)).ToList(), generation);
        var hosts = targets.GroupBy(t => t.Host, StringComparer.Ordinal)
            .Select((g, i) => new HostAssignment(g.Key, i + 1, 0, 0, g.Select(t => t.NextHop).ToList()))
            .ToList();
        string? script;
        if (installed.Netdev is { } now && installed.Nft is not { Slices.Count: > 0 })
        {
            var update = NetdevScript.Update(now, wanted, _options);
            script = update is null ? NetdevScript.Build(wanted, _options) : update.Length == 0 ? null : update;
        }
        else
        {
            script = NetdevScript.Build(wanted, _options);
        }

        return (hosts, script, wanted);
    }

    private RouterChange Diff(IReadOnlyList<HostAssignment> hosts, IReadOnlyList<IpRule> rules, IReadOnlyList<IpRoute> routes, string? nft, RouterState installed, IReadOnlyList<string> warnings)
    {
        var add = new Dictionary<int, List<string>> { [4] = [], [6] = [] };
        var delete = new Dictionary<int, List<string>> { [4] = [], [6] = [] };
        var installedRoutes = installed.Routes.ToDictionary(r => (r.Family, r.Table, r.Destination));
        foreach (var r in routes.Distinct())
        {
            if (!installedRoutes.TryGetValue((r.Family, r.Table, r.Destination), out var cur) || cur != r)
            {
                add[r.Family].Add(r.ReplaceLine(_options.Protocol));
            }
        }

        var installedRules = installed.Rules.ToHashSet();
        foreach (var r in rules.Distinct().Where(r => !installedRules.Contains(r)))
        {
            add[r.Family].Add(r.BatchLine(add: true, _options.Protocol));
        }

        var wantedRules = rules.ToHashSet();
        foreach (var r in installed.Rules)
        {
            if (!wantedRules.Contains(r))
            {
                delete[r.Family].Add(r.BatchLine(add: false, _options.Protocol));
            }
        }

        var wantedRoutes = routes.Select(r => (r.Family, r.Table, r.Destination)).ToHashSet();
        foreach (var r in installed.Routes.Where(r => !wantedRoutes.Contains((r.Family, r.Table, r.Destination))))
        {
            delete[r.Family].Add(r.DeleteLine());
        }

        return new RouterChange(hosts, add, nft, delete, warnings);
    }

    /// <summary>
    /// Host numbering is a function of the plan alone (applied clean or after re-plans, the same plan gives the same
    /// tables and marks): each host hashes its name to a slot of the owned range and, on a collision, takes the next
    /// free one, hosts taken in name order. With the default 65,535 slots, a re-plan moves a host's slot only when its
    /// probe passed a new host's slot: rare, and then its table is re-pointed before its marks are.
    /// </summary>
    private List<HostAssignment> AssignHosts(IReadOnlyList<RouteSlice> slices)
    {
        var hostHops = slices.GroupBy(s => s.Host, StringComparer.Ordinal)
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => (Host: g.Key, Hops: g.Select(s => s.NextHop).Distinct().ToList()))
            .ToList();
        var slots = _options.TableCount - 1;
        if (hostHops.Count > slots)
        {
            throw new InvalidPlanException([$"The plan has {hostHops.Count} hosts but PortShare owns only {slots} tables and marks ({_options.TableBase + 1}-{_options.TableBase + slots}); raise --table-count to at least {hostHops.Count + 1} (at most 65536), or use --backend netdev, which needs none."]);
        }

        var used = new HashSet<int>();
        var result = new List<HostAssignment>(hostHops.Count);
        foreach (var (host, hops) in hostHops)
        {
            var slot = 1 + (int)(Fnv1a(host) % (uint)slots);
            while (!used.Add(slot))
            {
                slot = (slot % slots) + 1;
            }

            result.Add(new HostAssignment(host, slot, _options.TableBase + slot, _options.MarkBase + (uint)slot, hops));
        }

        return result.OrderBy(h => h.Index).ToList();
    }

    private static uint Fnv1a(string text)
    {
        var hash = 2166136261u;
        foreach (var c in text)
        {
            hash = (hash ^ c) * 16777619u;
        }

        return hash;
    }

    private void Execute(RouterChange change, RouterState before)
    {
        var nftApplied = false;
        try
        {
            foreach (var (family, lines) in change.Add)
            {
                _tools.IpBatch(family, lines);
            }

            if (change.Nft is not null)
            {
                RunNft(change.Nft);
                nftApplied = true;
            }

            foreach (var (family, lines) in change.Delete)
            {
                _tools.IpBatch(family, family == 4 ? [.. lines, .. InjectIntoLastStep] : lines);
            }
        }
        catch (RoutingException ex)
        {
            var restored = Restore(before, nftApplied);
            var hint = ex.Message.Contains("invalid gateway", StringComparison.Ordinal)
                ? $"{Environment.NewLine}A next hop of the plan is not on a link of this router: each host's next_hop must be an address on a directly connected network."
                : string.Empty;
            throw new RoutingException(
                restored is null
                    ? $"{ex.Message}{hint}{Environment.NewLine}Nothing was left half-applied: the previous state was restored."
                    : $"{ex.Message}{Environment.NewLine}Restoring the previous state also failed: {restored}",
                ex);
        }
    }

    private void RunNft(string script)
    {
        var r = _tools.Nft(["-f", "-"], script);
        if (r.ExitCode != 0)
        {
            throw new RoutingException($"nft -f failed{(_tools.Netns is null ? string.Empty : " in network namespace " + _tools.Netns)} (nothing of this transaction was applied): {r.StdErr.Trim()}");
        }
    }

    /// <summary>Puts back the rules, routes and table of <paramref name="before"/>; returns null on success, else the error.</summary>
    private string? Restore(RouterState before, bool nftChanged)
    {
        try
        {
            var now = ReadState(full: false);
            var back = Diff([], before.Rules, before.Routes, null, now, []);
            foreach (var (family, lines) in back.Add)
            {
                _tools.IpBatch(family, lines, force: true);
            }

            foreach (var (family, lines) in back.Delete)
            {
                _tools.IpBatch(family, lines, force: true);
            }

            if (nftChanged)
            {
                RunNft(before.Netdev is { } netdev ? NetdevScript.Build(netdev, _options)
                    : before.Nft is { } old ? NetdevTableDelete() + NftScript.Build(old.Slices, _options with { Reassemble = old.Reassemble })
                    : NetdevScript.Delete(_options));
            }

            return null;
        }
        catch (RoutingException ex)
        {
            return ex.Message;
        }
    }

    private static int FamilyOf(IPAddress a) => a.AddressFamily == AddressFamily.InterNetworkV6 ? 6 : 4;

    /// <summary>A short human summary of the host assignments.</summary>
    public static string Summary(HostAssignment h)
    {
        ArgumentNullException.ThrowIfNull(h);
        return string.Create(CultureInfo.InvariantCulture, $"{h.Host}: table {h.Table}, mark 0x{h.Mark:x8}, via {string.Join(", ", h.NextHops)}");
    }
}
