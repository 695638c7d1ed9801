using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using PortShare.Connect;
using PortShare.Planning;

using PortShare.Routing;

namespace PortShare.Lab;

/// <summary>How to build a lab.</summary>
public sealed record LabOptions
{
    /// <summary>How many hosts share the egress address.</summary>
    public int Hosts { get; init; } = 3;

    /// <summary>Share the IPv6 egress address instead of the IPv4 one.</summary>
    public bool Ipv6 { get; init; }

    /// <summary>The router backend.</summary>
    public RouterBackend Backend { get; init; } = RouterBackend.Nftables;

    /// <summary>The namespace prefix; a fresh random one when null.</summary>
    public string? Prefix { get; init; }

    /// <summary>Let the router reassemble fragments (nftables backend, <see cref="RouterOptions.Reassemble"/>).</summary>
    public bool Reassemble { get; init; }

    /// <summary>How many routers get the plan (1 or 2).</summary>
    public int Routers { get; init; } = 1;
}

/// <summary>
/// The network-namespace lab: a router, N hosts sharing one egress address, and a server, wired with veth
/// point-to-point links; plans from the planner, routes from <see cref="Router"/>, each host from <see cref="HostSetup"/>.
/// Every step is a library call, so tests drive it directly; the CLI only adds output.
/// </summary>
public static class NetLab
{
    private const string CounterTable = "portshare_lab";

    /// <summary>
    /// Creates the lab. On failure or cancellation (checked between every step) everything created so far is removed:
    /// the namespaces are named by the lab's prefix, so the cleanup finds them whichever step was reached.
    /// </summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired; nothing is left behind.</exception>
    public static LabState Up(LabOptions options, Action<string>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Hosts is < 1 or > LabTopology.MaxHosts)
        {
            throw new ArgumentException($"--hosts must be between 1 and {LabTopology.MaxHosts}, not {options.Hosts}.", nameof(options));
        }

        if (options.Routers is < 1 or > 2)
        {
            throw new ArgumentException($"--routers must be 1 or 2, not {options.Routers}.", nameof(options));
        }

        var prefix = options.Prefix ?? LabTopology.NewPrefix();
        var hosts = Enumerable.Range(1, options.Hosts).Select(LabTopology.HostName).ToList();
        var spec = Spec(hosts, options.Ipv6);
        var plan = Planner.Create(spec);
        var state = new LabState { Prefix = prefix, Ipv6 = options.Ipv6, Backend = options.Backend, Reassemble = options.Reassemble, Routers = options.Routers, Hosts = hosts, PlanJson = PlanJson.Serialize(plan) };
        try
        {
            progress?.Invoke($"creating namespaces {string.Join(", ", state.RouterNamespaces)} (router{(options.Routers > 1 ? "s" : string.Empty)}), {prefix}s (server), {prefix}h1..h{options.Hosts}");
            foreach (var ns in state.Namespaces)
            {
                cancellationToken.ThrowIfCancellationRequested();
                LabNetwork.AddNamespace(ns);
            }

            progress?.Invoke("wiring veth links and addresses (documentation prefixes only)");
            cancellationToken.ThrowIfCancellationRequested();
            LabNetwork.WireRoutersAndServer(prefix, options.Routers);
            foreach (var h in hosts)
            {
                cancellationToken.ThrowIfCancellationRequested();
                WireHost(state, h);
            }

            progress?.Invoke($"applying the plan: router{(options.Routers > 1 ? "s" : string.Empty)} ({BackendName(options.Backend)}) and hosts");
            cancellationToken.ThrowIfCancellationRequested();
            var now = DateTimeOffset.UtcNow; // a fresh plan has no moves: the time does not matter
            ApplyRouter(state, plan, now);
            foreach (var h in hosts)
            {
                cancellationToken.ThrowIfCancellationRequested();
                ApplyHost(state, plan, h, now);
            }

            return state;
        }
        catch
        {
            Down(state);
            throw;
        }
    }

    /// <summary>The lab's plan.</summary>
    public static Plan PlanOf(LabState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        return PlanJson.DeserializePlan(state.PlanJson, "lab state");
    }

    /// <summary>The egress address of the lab.</summary>
    public static IPAddress Egress(LabState state) => state?.Ipv6 == true ? LabTopology.Egress6 : LabTopology.Egress4;

    /// <summary>The server address of the lab.</summary>
    public static IPAddress Server(LabState state) => state?.Ipv6 == true ? LabTopology.Server6 : LabTopology.Server4;

    /// <summary>The router driver of the lab's router <paramref name="k"/> (1-based).</summary>
    public static Router RouterOf(LabState state, int k = 1)
    {
        ArgumentNullException.ThrowIfNull(state);
        return new Router(new NetTools(LabTopology.RouterNs(state.Prefix, k)), new RouterOptions { Backend = state.Backend, Reassemble = state.Reassemble, Uplinks = ["srv"] });
    }

    /// <summary>The backend's name as the CLI spells it.</summary>
    public static string BackendName(RouterBackend backend) => backend switch
    {
        RouterBackend.IpRule => "iprule",
        RouterBackend.Netdev => "netdev",
        _ => "nftables",
    };

    /// <summary>
    /// Makes <paramref name="connections"/> connections from every host through the router with <see cref="SliceConnector"/>
    /// (in the host's namespace) and checks each: source port in the host's slice, reply naming the host's own endpoint,
    /// no packet for another host's port reaching any host; then the router's conntrack count and NAT rules. Each host
    /// connects from the ports its host file gives it now (<see cref="Plan.HostFile(string, DateTimeOffset)"/>): a host
    /// whose every port is still in quarantine tries none and is reported as waiting.
    /// </summary>
    public static async Task<LabTestReport> TestAsync(LabState state, int connections = 100, Action<string>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(state);
        var plan = PlanOf(state).At(DateTimeOffset.UtcNow);
        var egress = Egress(state);
        var server = new IPEndPoint(Server(state), LabTopology.ServerPort);
        var before = state.Hosts.ToDictionary(h => h, h => ReadMisdelivered(state, h));
        await using var srv = LabServer.Start(LabTopology.ServerNs(state.Prefix), server.Address);
        progress?.Invoke($"{connections} connections from each of {state.Hosts.Count} hosts to {server}");
        var sw = Stopwatch.StartNew();
        var tasks = state.Hosts.Select(h => Task.Run(() => RunHostAsync(state, plan, h, egress, server, connections, cancellationToken), cancellationToken)).ToList();
        var partial = await Task.WhenAll(tasks).ConfigureAwait(false);
        sw.Stop();

        var foreign = 0;
        foreach (var seen in srv.Seen)
        {
            var owner = plan.RouteOf(egress, (ushort)seen.Port)?.Host;
            if (owner is null || !seen.Address.Equals(egress))
            {
                foreign++;
            }
        }

        var results = partial.Select(p => p with { Misdelivered = ReadMisdelivered(state, p.Host) - before[p.Host] }).ToList();
        return new LabTestReport(results, RouterConntrack(state), RouterNat(state), foreign, sw.Elapsed);
    }

    private static async Task<LabHostResult> RunHostAsync(LabState state, EffectivePlan plan, string host, IPAddress egress, IPEndPoint server, int count, CancellationToken cancellationToken)
    {
        var file = plan.HostFile(host);
        if (file.Slices.FirstOrDefault(s => s.Egress.Equals(egress)) is not { } mine)
        {
            var until = file.Quarantine.Where(q => q.To == host && q.Egress.Equals(egress)).Select(q => (DateTimeOffset?)q.Until).Min();
            return new LabHostResult(host, [], 0, 0, 0, 0, 0, until is null ? [$"host {host} has no ports on {egress}"] : [], until);
        }

        return await RunHostAsync(state.Prefix, host, mine.Ports.Ranges, egress, server, count, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Makes <paramref name="count"/> connections from <paramref name="host"/>'s <paramref name="ranges"/> to the lab server and checks each reply.</summary>
    internal static async Task<LabHostResult> RunHostAsync(string prefix, string host, IReadOnlyList<PortRange> ranges, IPAddress egress, IPEndPoint server, int count, CancellationToken cancellationToken)
    {
        using var ns = NetworkNamespace.Enter(LabTopology.HostNs(prefix, host));
        var connectors = ranges.Select(r => new SliceConnector(r, egress, ConnectStrategy.Auto, ns)).ToList();
        var ok = 0;
        var outside = 0;
        var ports = new HashSet<int>();
        var errors = new List<string>();
        await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = cancellationToken }, async (i, ct) =>
        {
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
                timeout.CancelAfter(TimeSpan.FromSeconds(5));
                using var socket = await connectors[Pick(ranges, i, count)].ConnectAsync(server, timeout.Token).ConfigureAwait(false);
                var local = (IPEndPoint)socket.LocalEndPoint!;
                var line = await ReadLineAsync(socket, timeout.Token).ConfigureAwait(false);
                await socket.SendAsync("q"u8.ToArray(), SocketFlags.None, timeout.Token).ConfigureAwait(false);
                lock (ports)
                {
                    ports.Add(local.Port);
                    if (!ranges.Any(r => r.Contains(local.Port)))
                    {
                        outside++;
                    }
                    else if (line == local.ToString())
                    {
                        ok++;
                    }
                    else if (errors.Count < 5)
                    {
                        errors.Add($"reply '{line}' does not name this host's endpoint {local}");
                    }
                }
            }
            catch (Exception ex) when (ex is SocketException or OperationCanceledException or PortShareException or IOException)
            {
                lock (ports)
                {
                    if (errors.Count < 5)
                    {
                        errors.Add(ex.Message);
                    }
                }
            }
        }).ConfigureAwait(false);
        return new LabHostResult(host, ranges, count, ok, ports.Count, outside, 0, errors);
    }

    /// <summary>The range connection <paramref name="i"/> of <paramref name="count"/> uses: spread by range size, so a
    /// two-port sliver left by a re-plan gets its share, not half of the connections.</summary>
    internal static int Pick(IReadOnlyList<PortRange> ranges, int i, int count)
    {
        var total = ranges.Sum(r => (long)r.Count);
        var at = (long)i * total / Math.Max(count, 1);
        for (var k = 0; k < ranges.Count; k++)
        {
            if (at < ranges[k].Count)
            {
                return k;
            }

            at -= ranges[k].Count;
        }

        return ranges.Count - 1;
    }

    /// <summary>Reads one <c>\n</c>-terminated line (the server's first answer).</summary>
    public static async Task<string> ReadLineAsync(Socket socket, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(socket);
        var sb = new StringBuilder();
        var buffer = new byte[128];
        while (true)
        {
            var n = await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                throw new IOException($"the connection closed before a full line (got '{sb}').");
            }

            sb.Append(Encoding.ASCII.GetString(buffer, 0, n));
            var text = sb.ToString();
            var nl = text.IndexOf('\n', StringComparison.Ordinal);
            if (nl >= 0)
            {
                return text[..nl];
            }
        }
    }

    /// <summary>
    /// Re-plans the lab live (<c>lab replan</c>): adds a host (<paramref name="addHost"/>) or removes one, with the planner's
    /// port-keeping re-plan. Hosts whose usable ports shrink are narrowed before the router switches, hosts that grow or
    /// are new after it, so no host uses a port the router does not yet send back to it. With
    /// <paramref name="quarantineSeconds"/> above 0 the moved ports stay routed to their old owner for that long (and out
    /// of the new owner's host file), so connections held on them live on; <see cref="Apply"/> run after the quarantine
    /// hands them over. A removed host that still holds ports keeps its namespace until then (<see cref="LabState.Departing"/>).
    /// <paramref name="beforeSwitch"/> sees the new plan before anything changes (to drain connections on ports that move).
    /// </summary>
    public static (LabState State, MovementReport Movement) Replan(LabState state, bool addHost, string? removeHost = null, Action<Plan>? beforeSwitch = null, Action<string>? progress = null, int quarantineSeconds = 0, TimeProvider? clock = null)
    {
        ArgumentNullException.ThrowIfNull(state);
        var now = (clock ?? TimeProvider.System).GetUtcNow();
        var old = PlanOf(state);
        var hosts = state.Hosts.ToList();
        string? added = null;
        if (addHost)
        {
            // Departing hosts still have their namespaces (and names): a new host never takes one.
            var next = hosts.Concat(state.Departing).Select(LabTopology.HostNumber).DefaultIfEmpty(0).Max() + 1;
            if (next > LabTopology.MaxHosts)
            {
                throw new PortShareException($"The lab holds at most {LabTopology.MaxHosts} hosts.");
            }

            added = LabTopology.HostName(next);
            hosts.Add(added);
        }

        if (removeHost is not null)
        {
            if (!hosts.Remove(removeHost))
            {
                throw new PortShareException($"Host '{removeHost}' is not in the lab; its hosts are {string.Join(", ", state.Hosts)}.");
            }

            if (hosts.Count == 0)
            {
                throw new PortShareException("Cannot remove the lab's last host; use 'lab down'.");
            }
        }

        var (plan, movement) = Planner.Replan(old, Spec(hosts, state.Ipv6), ReplanStrategy.KeepPorts, now, quarantineSeconds);
        beforeSwitch?.Invoke(plan);
        var egress = Egress(state);
        var was = old.At(now);
        var will = plan.At(now);
        var departing = state.Departing.ToList();
        var keep = removeHost is not null && will.Routes.Any(r => r.Host == removeHost);
        if (keep)
        {
            departing.Add(removeHost!);
        }

        var next_ = state with { Hosts = hosts, Departing = departing, PlanJson = PlanJson.Serialize(plan) };
        if (added is not null)
        {
            progress?.Invoke($"adding host {added}");
            LabNetwork.AddNamespace(LabTopology.HostNs(state.Prefix, added));
            WireHost(state, added);
        }

        var growing = new List<string>();
        foreach (var h in hosts.Where(h => h != added))
        {
            var before = Usable(was, h, egress);
            var after = Usable(will, h, egress);
            if (after.All(r => before.Any(b => b.Contains(r))))
            {
                progress?.Invoke($"narrowing {h} before the switch");
                ApplyHost(next_, plan, h, now);
            }
            else
            {
                growing.Add(h);
            }
        }

        progress?.Invoke("switching the router to the new plan");
        ApplyRouter(next_, plan, now);
        foreach (var h in growing.Concat(added is null ? [] : [added]))
        {
            progress?.Invoke($"widening {h} after the switch");
            ApplyHost(next_, plan, h, now);
        }

        if (removeHost is not null && !keep)
        {
            progress?.Invoke($"removing host {removeHost}");
            new NetTools().Ip(["netns", "del", LabTopology.HostNs(state.Prefix, removeHost)]);
        }
        else if (removeHost is not null)
        {
            progress?.Invoke($"keeping host {removeHost}'s namespace: the router sends it the replies of its open connections until its quarantine ends");
        }

        return (next_, movement);
    }

    /// <summary>
    /// Applies the lab's plan again as it holds now (<c>lab apply</c>): the router first, then every host, so a host gets
    /// ports whose quarantine has passed only once the router sends their replies to it. Departing hosts whose quarantine
    /// is over lose their namespace. Idempotent.
    /// </summary>
    public static LabState Apply(LabState state, Action<string>? progress = null, TimeProvider? clock = null)
    {
        ArgumentNullException.ThrowIfNull(state);
        var now = (clock ?? TimeProvider.System).GetUtcNow();
        var plan = PlanOf(state);
        var at = plan.At(now);
        progress?.Invoke($"applying plan generation {plan.Generation} to the router{(state.Routers > 1 ? "s" : string.Empty)}");
        ApplyRouter(state, plan, now);
        foreach (var h in state.Hosts)
        {
            progress?.Invoke($"applying host {h}");
            ApplyHost(state, plan, h, now);
        }

        var departing = new List<string>();
        foreach (var h in state.Departing)
        {
            if (at.Routes.Any(r => r.Host == h))
            {
                departing.Add(h);
            }
            else
            {
                progress?.Invoke($"removing departed host {h} (its quarantine is over)");
                new NetTools().Ip(["netns", "del", LabTopology.HostNs(state.Prefix, h)]);
            }
        }

        return state with { Departing = departing };
    }

    private static IReadOnlyList<PortRange> Usable(EffectivePlan plan, string host, IPAddress egress) =>
        plan.HostFile(host).Slices.FirstOrDefault(s => s.Egress.Equals(egress))?.Ports.Ranges ?? [];

    /// <summary>Removes the lab's namespaces and files; never fails on what is already gone.</summary>
    public static void Down(LabState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        var tools = new NetTools();
        foreach (var ns in state.Namespaces)
        {
            tools.Ip(["netns", "del", ns]);
        }

        if (Directory.Exists(state.StateDir))
        {
            Directory.Delete(state.StateDir, recursive: true);
        }
    }

    /// <summary>Removes every namespace whose name starts with <paramref name="prefix"/> (default: every lab's, after a crash); returns their names.</summary>
    public static IReadOnlyList<string> DownAll(string prefix = LabTopology.NamePrefix)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        if (!prefix.StartsWith(LabTopology.NamePrefix, StringComparison.Ordinal))
        {
            throw new ArgumentException($"Only lab namespaces ({LabTopology.NamePrefix}*) are removed this way, not '{prefix}*'.", nameof(prefix));
        }

        var tools = new NetTools();
        var list = tools.IpCheck("netns", "list");
        var removed = new List<string>();
        foreach (var line in list.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var name = line.Split(' ')[0];
            if (name.StartsWith(prefix, StringComparison.Ordinal) && NetTools.IsValidNetnsName(name))
            {
                tools.Ip(["netns", "del", name]);
                removed.Add(name);
            }
        }

        if (Directory.Exists("/run/portshare"))
        {
            foreach (var dir in Directory.GetDirectories("/run/portshare", prefix.TrimEnd('-') + "*"))
            {
                Directory.Delete(dir, recursive: true);
            }
        }

        return removed;
    }

    /// <summary>True when every namespace of the lab exists.</summary>
    public static bool Exists(LabState state) => state?.Namespaces.All(ns => File.Exists(Path.Combine("/run/netns", ns))) == true;

    /// <summary>The host's slice file as host apply wrote it.</summary>
    public static HostReport ShowHost(LabState state, string host)
    {
        ArgumentNullException.ThrowIfNull(state);
        return HostSetupOf(state, host).Show();
    }

    /// <summary>Packets to the egress address on a port this host does not own that reached it (the lab's counter).</summary>
    public static long ReadMisdelivered(LabState state, string host) => ReadCounter(state, host, "misdelivered");

    /// <summary>ICMP destination-unreachable (IPv4) or packet-too-big (IPv6) messages for the egress address that reached this host.</summary>
    public static long ReadIcmpErrors(LabState state, string host) => ReadCounter(state, host, "icmp_errors");

    private static long ReadCounter(LabState state, string host, string counter)
    {
        ArgumentNullException.ThrowIfNull(state);
        var tools = new NetTools(LabTopology.HostNs(state.Prefix, host));
        var r = tools.Nft(["-j", "list", "counter", "inet", CounterTable, counter]);
        if (r.ExitCode != 0)
        {
            throw tools.Failed("nft", ["-j", "list", "counter", "inet", CounterTable, counter], r);
        }

        using var doc = JsonDocument.Parse(r.StdOut);
        foreach (var item in doc.RootElement.GetProperty("nftables").EnumerateArray())
        {
            if (item.TryGetProperty("counter", out var c))
            {
                return c.GetProperty("packets").GetInt64();
            }
        }

        return 0;
    }

    /// <summary>Conntrack entries in the router's namespace (0 when conntrack was never loaded there).</summary>
    public static long RouterConntrack(LabState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        using var ns = NetworkNamespace.Enter(LabTopology.RouterNs(state.Prefix));
        return ns.Run(() =>
        {
            const string path = "/proc/sys/net/netfilter/nf_conntrack_count";
            return File.Exists(path) ? long.Parse(File.ReadAllText(path).Trim(), CultureInfo.InvariantCulture) : 0L;
        });
    }

    /// <summary>NAT statements in the router's nftables ruleset (there must be none).</summary>
    public static IReadOnlyList<string> RouterNat(LabState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        var r = new NetTools(LabTopology.RouterNs(state.Prefix)).Nft(["list", "ruleset"]);
        return r.StdOut.Split('\n')
            .Where(l => l.Contains("type nat", StringComparison.Ordinal) || l.Contains("masquerade", StringComparison.Ordinal)
                || l.Contains("snat ", StringComparison.Ordinal) || l.Contains("dnat ", StringComparison.Ordinal))
            .Select(l => l.Trim())
            .ToList();
    }

    private static PlanSpec Spec(IReadOnlyList<string> hosts, bool ipv6) => new()
    {
        Version = PlanSpec.CurrentVersion,
        Egress = [new SpecEgress { Address = (ipv6 ? LabTopology.Egress6 : LabTopology.Egress4).ToString() }],
        Hosts = hosts.Select(h => new SpecHost
        {
            Name = h,
            NextHops = [(ipv6 ? LabTopology.HostSide6(LabTopology.HostNumber(h)) : LabTopology.HostSide4(LabTopology.HostNumber(h))).ToString()],
        }).ToList(),
    };

    internal static void WireHost(LabState state, string host)
    {
        LabNetwork.WireHost(state.Prefix, host, state.Routers);
        var tools = new NetTools(LabTopology.HostNs(state.Prefix, host));
        // A counter of packets for the egress address on ports this host does not own: the "no other host saw it" check.
        var counter = $"table inet {CounterTable} {{\n\tcounter misdelivered {{ }}\n\tcounter icmp_errors {{ }}\n\tset mine {{ type inet_service; flags interval; }}\n\tchain in {{\n\t\ttype filter hook prerouting priority -350; policy accept;\n\t\tip daddr {LabTopology.Egress4} meta l4proto {{ tcp, udp }} th dport != @mine counter name \"misdelivered\"\n\t\tip6 daddr {LabTopology.Egress6} meta l4proto {{ tcp, udp }} th dport != @mine counter name \"misdelivered\"\n\t\tip daddr {LabTopology.Egress4} icmp type destination-unreachable counter name \"icmp_errors\"\n\t\tip6 daddr {LabTopology.Egress6} icmpv6 type packet-too-big counter name \"icmp_errors\"\n\t}}\n}}\n";
        var r = tools.Nft(["-f", "-"], counter);
        if (r.ExitCode != 0)
        {
            throw tools.Failed("nft", ["-f", "-"], r);
        }
    }

    private static void ApplyRouter(LabState state, Plan plan, DateTimeOffset now)
    {
        var routes = PlanRoutes.From(plan, now);
        for (var k = 1; k <= state.Routers; k++)
        {
            RouterOf(state, k).Apply(routes, generation: plan.Generation);
        }
    }

    private static HostSetup HostSetupOf(LabState state, string host)
    {
        var tools = new NetTools(LabTopology.HostNs(state.Prefix, host));
        return new(tools, new NetnsSysctl(tools), new HostOptions
        {
            StatePath = Path.Combine(state.StateDir, host + ".json"),
            // Unaware programs in the lab stay inside the host's ports too: the span, with the gaps reserved.
            NarrowPortRange = true,
        });
    }

    private static void ApplyHost(LabState state, Plan plan, string host, DateTimeOffset now)
    {
        var egress = Egress(state);
        var at = plan.At(now);
        var setup = HostSetupOf(state, host);
        setup.Apply(at.HostFile(host));

        // The misdelivery counter's "mine": every port the router sends to this host now, the ports it still holds in
        // quarantine (replies to its open connections) included.
        SetMine(state.Prefix, host, at.Routes.Where(r => r.Host == host && r.Egress.Equals(egress)).SelectMany(r => r.Ranges));
    }

    /// <summary>Sets the ports the misdelivery counter of <paramref name="host"/> counts as its own.</summary>
    internal static void SetMine(string prefix, string host, IEnumerable<PortRange> ranges)
    {
        var elements = string.Join(", ", ranges.Select(r => r.Low == r.High
            ? r.Low.ToString(CultureInfo.InvariantCulture)
            : string.Create(CultureInfo.InvariantCulture, $"{r.Low}-{r.High}")));
        var tools = new NetTools(LabTopology.HostNs(prefix, host));
        var script = elements.Length == 0
            ? $"flush set inet {CounterTable} mine\n"
            : $"flush set inet {CounterTable} mine\nadd element inet {CounterTable} mine {{ {elements} }}\n";
        var r = tools.Nft(["-f", "-"], script);
        if (r.ExitCode != 0)
        {
            throw tools.Failed("nft", ["-f", "-"], r);
        }
    }
}
