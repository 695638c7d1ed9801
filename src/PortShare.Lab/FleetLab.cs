using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using PortShare.Connect;
using PortShare.Fleet;
using PortShare.Routing;

namespace PortShare.Lab;

/// <summary>How a <see cref="FleetLab"/> is made.</summary>
public sealed record FleetLabOptions
{
    /// <summary>The command that runs portshare (e.g. the apphost, or <c>dotnet PortShare.Cli.dll</c>).</summary>
    public required IReadOnlyList<string> Cli { get; init; }

    /// <summary>Host namespaces made (agents are started on them one by one).</summary>
    public int Hosts { get; init; } = 3;

    /// <summary>etcd members (1, 3 or 5).</summary>
    public int EtcdMembers { get; init; } = 3;

    /// <summary>Namespace name prefix (default: a fresh random one).</summary>
    public string? Prefix { get; init; }

    /// <summary>Ports per unit.</summary>
    public int UnitSize { get; init; } = 64;

    /// <summary>Units of the pool.</summary>
    public int Units { get; init; } = 16;

    /// <summary>Units each agent claims.</summary>
    public int MinUnits { get; init; } = 2;

    /// <summary>The pool's quarantine.</summary>
    public int QuarantineSeconds { get; init; } = 6;

    /// <summary>The agents' lease TTL.</summary>
    public int LeaseTtlSeconds { get; init; } = 4;

    /// <summary>The router's backend.</summary>
    public RouterBackend Backend { get; init; } = RouterBackend.Netdev;

    /// <summary>Elastic slices: the most units an agent may grow to (null: not elastic).</summary>
    public int? MaxUnits { get; init; }

    /// <summary>Elastic slices: grow when the fullest destination uses this share of the ports.</summary>
    public double GrowAt { get; init; } = 0.8;

    /// <summary>Elastic slices: seconds between changes of one host's units.</summary>
    public int HoldDownSeconds { get; init; } = 1;

    /// <summary>Elastic slices: a unit idle this long is drained.</summary>
    public int IdleSeconds { get; init; } = 3;

    /// <summary>Elastic slices: a unit is idle at or below this share of its ports in use.</summary>
    public double ShrinkBelow { get; init; } = 0.05;
}

/// <summary>One sample of the fleet lab's consistency checker.</summary>
/// <param name="Problems">What was wrong (empty: everything agreed).</param>
/// <param name="RouterLags">True when the router's routes differed from etcd's (allowed briefly: the follower is catching up).</param>
public sealed record FleetSample(IReadOnlyList<string> Problems, bool RouterLags);

/// <summary>
/// The fleet lab: the lab's router, server and hosts, plus an etcd cluster in a namespace of its own reached through
/// the router, <c>portshare router follow</c> on the router and <c>portshare agent</c> on each host, all as real
/// processes inside their namespaces (so an agent can be SIGKILLed, cut off, restarted). The lab process itself talks
/// to etcd through a socket made in the router's namespace.
/// </summary>
public sealed class FleetLab : IAsyncDisposable
{
    private const string EtcdNet = "10.250.0";
    private readonly FleetLabOptions _options;
    private readonly LabState _state;
    private readonly NetworkNamespace _routerNs;
    private readonly List<Process?> _etcd = [];
    private readonly Dictionary<string, Process> _agents = new(StringComparer.Ordinal);
    private readonly Action<string> _progress;
    private readonly List<StreamWriter> _logs = [];
    private Process? _follower;
    private LabServer? _server;
    private EtcdFleet? _fleet;
    private DateTime _lagSince;

    private FleetLab(FleetLabOptions options, LabState state, Action<string> progress)
    {
        _options = options;
        _state = state;
        _progress = progress;
        _routerNs = NetworkNamespace.Enter(LabTopology.RouterNs(state.Prefix));
    }

    /// <summary>The lab's namespaces and hosts.</summary>
    public LabState State => _state;

    /// <summary>The etcd client URLs.</summary>
    public string EtcdUrls => string.Join(',', Enumerable.Range(1, _options.EtcdMembers).Select(EtcdUrl));

    /// <summary>The pool on etcd, reached from the router's namespace.</summary>
    public EtcdFleet Fleet => _fleet!;

    /// <summary>The directory of the lab's host files, agent state and logs.</summary>
    public string Dir => _state.StateDir;

    /// <summary>The shared egress address.</summary>
    public static IPAddress Egress => LabTopology.Egress4;

    /// <summary>Makes the lab: namespaces, links, the etcd cluster, the pool and the router follower (no agent yet).</summary>
    public static async Task<FleetLab> StartAsync(FleetLabOptions options, Action<string>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.EtcdMembers is not (1 or 3 or 5))
        {
            throw new ArgumentException($"etcd members must be 1, 3 or 5, not {options.EtcdMembers}.", nameof(options));
        }

        if (options.Hosts is < 1 or > LabTopology.MaxHosts)
        {
            throw new ArgumentException($"hosts must be 1-{LabTopology.MaxHosts}, not {options.Hosts}.", nameof(options));
        }

        var prefix = options.Prefix ?? LabTopology.NewPrefix();
        var hosts = Enumerable.Range(1, options.Hosts).Select(LabTopology.HostName).ToList();
        var state = new LabState { Prefix = prefix, Ipv6 = false, Backend = options.Backend, Routers = 1, Hosts = hosts, PlanJson = "{}" };
        var log = progress ?? (_ => { });
        FleetLab? lab = null;
        try
        {
            log($"creating namespaces {LabTopology.RouterNs(prefix)} (router), {LabTopology.ServerNs(prefix)} (server), {EtcdNs(prefix)} (etcd), {prefix}h1..h{options.Hosts}");
            foreach (var ns in state.Namespaces.Append(EtcdNs(prefix)))
            {
                cancellationToken.ThrowIfCancellationRequested();
                LabNetwork.AddNamespace(ns);
            }

            LabNetwork.WireRoutersAndServer(prefix, 1);
            foreach (var h in hosts)
            {
                NetLab.WireHost(state, h);
            }

            WireEtcd(prefix, options.EtcdMembers);
            Directory.CreateDirectory(state.StateDir);
            lab = new FleetLab(options, state, log);
            lab._server = LabServer.Start(LabTopology.ServerNs(prefix), LabTopology.Server4);
            lab.StartEtcd();
            lab._fleet = lab.Client(lab.EtcdUrls);
            await lab.InitPoolAsync(cancellationToken).ConfigureAwait(false);
            lab.StartFollower();
            return lab;
        }
        catch
        {
            if (lab is not null)
            {
                await lab.DisposeAsync().ConfigureAwait(false);
            }
            else
            {
                Remove(state);
            }

            throw;
        }
    }

    /// <summary>An etcd client for <paramref name="urls"/>, connecting from the router's namespace to the first member that answers.</summary>
    public EtcdFleet Client(string urls)
    {
        var members = urls.Split(',').Select(u => new Uri(u)).Select(u => new IPEndPoint(IPAddress.Parse(u.Host), u.Port)).ToList();
        return new(urls, FleetKeys.DefaultPrefix, async (_, ct) =>
        {
            Exception? last = null;
            foreach (var member in members)
            {
                var socket = _routerNs.CreateSocket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                try
                {
                    socket.NoDelay = true;
                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
                    timeout.CancelAfter(TimeSpan.FromSeconds(1));
                    await socket.ConnectAsync(member, timeout.Token).ConfigureAwait(false);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch (Exception ex) when (ex is SocketException or OperationCanceledException && !ct.IsCancellationRequested)
                {
                    socket.Dispose();
                    last = ex;
                }
            }

            throw new HttpRequestException($"no etcd member of {urls} accepts a connection", last);
        });
    }

    /// <summary>Starts <paramref name="host"/>'s agent and waits until its host file serves ports (or the agent exits).</summary>
    public Task StartAgentAsync(string host, CancellationToken cancellationToken = default) => StartAgentAsync(host, [], cancellationToken);

    /// <summary>As <see cref="StartAgentAsync(string, CancellationToken)"/>, with more agent options (e.g. <c>--weight 3</c>).</summary>
    public async Task StartAgentAsync(string host, IReadOnlyList<string> options, CancellationToken cancellationToken = default)
    {
        var n = LabTopology.HostNumber(host);
        var skip = LogLines(host);
        var p = Start(LabTopology.HostNs(_state.Prefix, host), host, [
            "agent", "--etcd", EtcdUrls, "--host", host, "--next-hop", LabTopology.HostSide4(n).ToString(),
            "--state", HostFilePath(host), "--drain-timeout", "5", .. options,
        ]);
        _agents[host] = p;
        var sw = Stopwatch.StartNew();
        // This run's "serving" line, not a stale host file of an earlier run.
        while (true)
        {
            if (HostFile(host) is { Slices.Count: > 0 } && ServingSince(host, skip))
            {
                return;
            }

            if (p.HasExited)
            {
                throw new InvalidOperationException($"the agent of {host} exited with {p.ExitCode}: {Tail(host)}");
            }

            if (sw.Elapsed > TimeSpan.FromSeconds(30))
            {
                throw new TimeoutException($"the agent of {host} served no ports within 30 s: {Tail(host)}");
            }

            await Task.Delay(100, cancellationToken).ConfigureAwait(false);
        }
    }

    private int LogLines(string name)
    {
        var path = Path.Combine(_state.StateDir, name + ".log");
        return File.Exists(path) ? File.ReadLines(path).Count() : 0;
    }

    private bool ServingSince(string name, int skip) =>
        File.ReadLines(Path.Combine(_state.StateDir, name + ".log")).Skip(skip).Any(l => l.Contains("Host file: serving", StringComparison.Ordinal));

    /// <summary>SIGKILLs <paramref name="host"/>'s agent (a crash: no drain, no release).</summary>
    public void KillAgent(string host)
    {
        var p = _agents[host];
        p.Kill();
        p.WaitForExit();
    }

    /// <summary>SIGTERMs <paramref name="host"/>'s agent and waits for it to drain, release and exit; returns its exit code.</summary>
    public async Task<int> StopAgentAsync(string host, CancellationToken cancellationToken = default)
    {
        var p = _agents[host];
        Signal(p, "TERM");
        await p.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        return p.ExitCode;
    }

    /// <summary>True while <paramref name="host"/>'s agent process runs.</summary>
    public bool AgentRuns(string host) => _agents.TryGetValue(host, out var p) && !p.HasExited;

    /// <summary>Cuts <paramref name="host"/> off from etcd (its packets to the etcd network are dropped), or with <paramref name="cut"/> false, reconnects it.</summary>
    public void CutOff(string host, bool cut)
    {
        var tools = new NetTools(LabTopology.HostNs(_state.Prefix, host));
        var script = cut
            ? $"table inet portshare_lab_cut {{\n\tchain out {{\n\t\ttype filter hook output priority 0; policy accept;\n\t\tip daddr {EtcdNet}.0/24 drop\n\t}}\n}}\n"
            : "table inet portshare_lab_cut\ndelete table inet portshare_lab_cut\n";
        var r = tools.Nft(["-f", "-"], script);
        if (r.ExitCode != 0)
        {
            throw tools.Failed("nft", ["-f", "-"], r);
        }
    }

    /// <summary>The etcd member (1-based) that leads now.</summary>
    public async Task<int> LeaderAsync(CancellationToken cancellationToken = default)
    {
        for (var i = 1; i <= _options.EtcdMembers; i++)
        {
            if (_etcd[i - 1] is null)
            {
                continue;
            }

            using var one = Client(EtcdUrl(i));
            try
            {
                if (await one.IsLeaderAsync(cancellationToken).ConfigureAwait(false))
                {
                    return i;
                }
            }
            catch (FleetException)
            {
            }
        }

        throw new InvalidOperationException("no etcd member says it leads");
    }

    /// <summary>SIGKILLs etcd member <paramref name="member"/>.</summary>
    public void KillEtcd(int member)
    {
        var p = _etcd[member - 1] ?? throw new InvalidOperationException($"etcd member {member} is not running");
        p.Kill();
        p.WaitForExit();
        p.Dispose();
        _etcd[member - 1] = null;
    }

    /// <summary><paramref name="host"/>'s host file as the agent wrote it (null when missing or unreadable).</summary>
    public HostSliceFile? HostFile(string host)
    {
        try
        {
            var path = HostFilePath(host);
            return File.Exists(path) ? HostSliceFile.Load(path) : null;
        }
        catch (PortShareException)
        {
            return null;
        }
    }

    /// <summary>The ports <paramref name="host"/>'s host file serves now (0 when it is missing, unreadable or expired).</summary>
    public int ServedPorts(string host) => Serving(HostFile(host)) is { } f ? f.Slices.Sum(s => s.Ports.Count) : 0;

    /// <summary>The ports <paramref name="host"/> serves on the egress address; throws when it serves none.</summary>
    public PortSlice ServedSlice(string host) =>
        HostFile(host)?.Slices.FirstOrDefault(s => s.Egress.Equals(Egress))?.Ports
            ?? throw new InvalidOperationException($"{host} serves no ports");

    /// <summary>Polls <paramref name="condition"/> every 200 ms until it holds (true) or <paramref name="limit"/> passes (false).</summary>
    public static async Task<bool> WaitAsync(Func<Task<bool>> condition, TimeSpan limit, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(condition);
        var end = DateTime.UtcNow + limit;
        while (!await condition().ConfigureAwait(false))
        {
            if (DateTime.UtcNow > end)
            {
                return false;
            }

            await Task.Delay(200, cancellationToken).ConfigureAwait(false);
        }

        return true;
    }

    /// <summary>Asks the lab server to close first (its side keeps the TIME_WAIT), waits for it, then closes.</summary>
    public static async Task CloseAsync(Socket socket, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(socket);
        try
        {
            await socket.SendAsync("q"u8.ToArray(), SocketFlags.None, cancellationToken).ConfigureAwait(false);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(2));
            var buffer = new byte[256];
            while (await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token).ConfigureAwait(false) > 0)
            {
            }
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
        }

        socket.Dispose();
    }

    /// <summary>The host file's path of <paramref name="host"/>.</summary>
    public string HostFilePath(string host) => Path.Combine(_state.StateDir, host + ".json");

    /// <summary>The slices installed on the router.</summary>
    public IReadOnlyList<InstalledSlice> RouterSlices() => NetLab.RouterOf(_state).Show();

    /// <summary>
    /// Connects <paramref name="count"/> times from the ports <paramref name="host"/>'s host file serves to the lab server
    /// through the router, checking that each reply names the host's own endpoint, and counts packets for the egress
    /// address that reached the host on a port etcd does not route to it (misdelivered).
    /// </summary>
    public async Task<LabHostResult> TrafficAsync(string host, int count, CancellationToken cancellationToken = default)
    {
        var slice = ServedSlice(host);
        var view = await Fleet.ReadAsync(cancellationToken).ConfigureAwait(false);
        NetLab.SetMine(_state.Prefix, host, view.Routes().Where(r => r.Host == host).Select(r => r.Range));

        var before = NetLab.ReadMisdelivered(_state, host);
        var result = await NetLab.RunHostAsync(_state.Prefix, host, slice.Ranges, Egress, new IPEndPoint(LabTopology.Server4, LabTopology.ServerPort), count, cancellationToken).ConfigureAwait(false);
        return result with { Misdelivered = NetLab.ReadMisdelivered(_state, host) - before };
    }

    /// <summary>
    /// A connector in <paramref name="host"/>'s namespace that follows its host file as the agent rewrites it (as an
    /// application using <see cref="HostSliceConnector"/> would). Dispose the returned namespace after the sockets.
    /// </summary>
    public (HostSliceConnector Connector, IDisposable Namespace) Follow(string host)
    {
        var ns = NetworkNamespace.Enter(LabTopology.HostNs(_state.Prefix, host));
        try
        {
            return (new HostSliceConnector(Egress, ConnectStrategy.Auto, HostFilePath(host), ns), ns);
        }
        catch
        {
            ns.Dispose();
            throw;
        }
    }

    /// <summary>The lab server's endpoint.</summary>
    public static IPEndPoint ServerEndPoint => new(LabTopology.Server4, LabTopology.ServerPort);

    /// <summary>Opens <paramref name="count"/> connections from <paramref name="host"/>'s served ports to the lab server and keeps them open (the caller disposes them).</summary>
    public async Task<IReadOnlyList<Socket>> HoldAsync(string host, int count, CancellationToken cancellationToken = default)
    {
        var slice = ServedSlice(host);
        using var ns = NetworkNamespace.Enter(LabTopology.HostNs(_state.Prefix, host));
        var connector = new SliceConnector(slice, Egress, ConnectStrategy.Auto, ns);
        var sockets = new List<Socket>();
        for (var i = 0; i < count; i++)
        {
            var socket = await connector.ConnectAsync(new IPEndPoint(LabTopology.Server4, LabTopology.ServerPort), cancellationToken).ConfigureAwait(false);
            sockets.Add(socket);
            await NetLab.ReadLineAsync(socket, cancellationToken).ConfigureAwait(false);
        }

        return sockets;
    }

    /// <summary>Sends a line on each of <paramref name="sockets"/> and returns how many echoed it back within 5 s.</summary>
    public static async Task<int> EchoAsync(IReadOnlyList<Socket> sockets, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sockets);
        var ok = 0;
        foreach (var socket in sockets)
        {
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(TimeSpan.FromSeconds(5));
                await socket.SendAsync("ping\n"u8.ToArray(), SocketFlags.None, timeout.Token).ConfigureAwait(false);
                if (await NetLab.ReadLineAsync(socket, timeout.Token).ConfigureAwait(false) == "ping")
                {
                    ok++;
                }
            }
            catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
            }
        }

        return ok;
    }

    /// <summary>Waits until the router routes what etcd says (at most <paramref name="limit"/>); false when it did not.</summary>
    public Task<bool> WaitRouterAgreesAsync(TimeSpan limit, CancellationToken cancellationToken = default) =>
        WaitAsync(async () => !(await SampleAsync(TimeSpan.FromDays(1), cancellationToken).ConfigureAwait(false)).RouterLags, limit, cancellationToken);

    /// <summary>
    /// One consistency sample across etcd, the router and every host file: no port served by two hosts; no host serving a
    /// port etcd gives another host; every owned unit's hold naming its owner; and the router routing what etcd says
    /// (a difference is a lag, a problem only when it lasts more than <paramref name="lagLimit"/>).
    /// </summary>
    public async Task<FleetSample> SampleAsync(TimeSpan lagLimit, CancellationToken cancellationToken = default)
    {
        var problems = new List<string>();
        // An expired host file (its agent dead or cut off) serves nothing: connectors refuse it.
        var files = _state.Hosts.Select(h => (Host: h, File: Serving(HostFile(h)))).Where(x => x.File is not null).ToList();
        var view = await Fleet.ReadAsync(cancellationToken).ConfigureAwait(false);
        var router = RouterSlices();
        var served = new Dictionary<int, string>();
        foreach (var (host, file) in files)
        {
            foreach (var r in file!.Slices.Where(s => s.Egress.Equals(Egress)).SelectMany(s => s.Ports.Ranges))
            {
                for (var port = r.Low; port <= r.High; port++)
                {
                    if (served.TryGetValue(port, out var other))
                    {
                        problems.Add($"port {port} is served by both {other} and {host}");
                        break;
                    }

                    served[port] = host;
                }
            }
        }

        foreach (var u in view.Units())
        {
            if (u.Owner is { } o && u.Hold?.Host != o.Host)
            {
                problems.Add($"unit {u.Range} is owned by {o.Host} but held for {u.Hold?.Host ?? "nobody"}");
            }

            if (u.Owner is { } owner && served.TryGetValue(u.Range.Low, out var s) && s != owner.Host)
            {
                problems.Add($"unit {u.Range} is {owner.Host}'s in etcd but {s} serves it");
            }
        }

        var want = string.Join(';', view.Routes().Select(r => $"{r.Range} {r.Host}"));
        var have = string.Join(';', router.OrderBy(r => r.Range.Low).Select(r => $"{r.Range} {r.Host}"));
        var lags = want != have;
        if (!lags)
        {
            _lagSince = default;
        }
        else if (_lagSince == default)
        {
            _lagSince = DateTime.UtcNow;
        }
        else if (DateTime.UtcNow - _lagSince > lagLimit)
        {
            problems.Add($"the router has routed '{have}' for more than {lagLimit.TotalSeconds:F0} s while etcd says '{want}'");
        }

        return new FleetSample(problems, lags);
    }

    /// <summary>The last lines of <paramref name="name"/>'s log (an agent's host name, "follower" or "etcdN").</summary>
    public string Tail(string name)
    {
        var path = Path.Combine(_state.StateDir, name + ".log");
        return File.Exists(path) ? string.Join(" | ", File.ReadLines(path).TakeLast(8)) : "(no log)";
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        foreach (var p in _agents.Values.Append(_follower).Concat(_etcd))
        {
            if (p is null)
            {
                continue;
            }

            try
            {
                if (!p.HasExited)
                {
                    p.Kill();
                    await p.WaitForExitAsync().ConfigureAwait(false);
                }
            }
            catch (InvalidOperationException)
            {
            }

            p.Dispose();
        }

        _fleet?.Dispose();
        if (_server is not null)
        {
            await _server.DisposeAsync().ConfigureAwait(false);
        }

        _routerNs.Dispose();
        foreach (var w in _logs)
        {
            await w.DisposeAsync().ConfigureAwait(false);
        }

        Remove(_state);
    }

    /// <summary>The file, unless it has expired (its agent dead or cut off: connectors refuse it).</summary>
    private static HostSliceFile? Serving(HostSliceFile? file) => file is not null && !(file.ValidUntil < DateTimeOffset.UtcNow) ? file : null;

    private static void Remove(LabState state)
    {
        new NetTools().Ip(["netns", "del", EtcdNs(state.Prefix)]);
        NetLab.Down(state);
    }

    private static string EtcdNs(string prefix) => prefix + "e";

    private static string EtcdAddress(int member) => string.Create(CultureInfo.InvariantCulture, $"{EtcdNet}.{10 + member}");

    private static string EtcdUrl(int member) => $"http://{EtcdAddress(member)}:2379";

    /// <summary>The etcd namespace hangs off the router: every host reaches it through its default route.</summary>
    private static void WireEtcd(string prefix, int members)
    {
        var router = new NetTools(LabTopology.RouterNs(prefix));
        router.IpBatch(4, [
            $"link add etcd type veth peer name r netns {EtcdNs(prefix)}",
            $"addr add {EtcdNet}.1/24 dev etcd",
            "link set dev etcd up",
        ]);
        var etcd = new NetTools(EtcdNs(prefix));
        etcd.IpBatch(4, [
            .. Enumerable.Range(1, members).Select(m => $"addr add {EtcdAddress(m)}/24 dev r"),
            "link set dev r up",
            $"route add default via {EtcdNet}.1 dev r",
        ]);
    }

    private void StartEtcd()
    {
        var binary = new[] { "/usr/bin/etcd", "/usr/local/bin/etcd" }.FirstOrDefault(File.Exists)
            ?? throw new PortShareException("The fleet lab needs etcd (Debian's etcd-server): run ./setup.sh as root.");
        var cluster = string.Join(',', Enumerable.Range(1, _options.EtcdMembers).Select(m => $"e{m}=http://{EtcdAddress(m)}:2380"));
        _progress($"starting a {_options.EtcdMembers}-member etcd cluster at {EtcdUrls}");
        for (var m = 1; m <= _options.EtcdMembers; m++)
        {
            var a = EtcdAddress(m);
            _etcd.Add(Start(EtcdNs(_state.Prefix), $"etcd{m}", [
                binary, "--name", $"e{m}", "--data-dir", Path.Combine(_state.StateDir, $"etcd{m}"),
                "--listen-client-urls", $"http://{a}:2379", "--advertise-client-urls", $"http://{a}:2379",
                "--listen-peer-urls", $"http://{a}:2380", "--initial-advertise-peer-urls", $"http://{a}:2380",
                "--initial-cluster", cluster, "--initial-cluster-token", _state.Prefix + "etcd", "--initial-cluster-state", "new",
                "--heartbeat-interval", "100", "--election-timeout", "1000",
            ], cli: false));
        }
    }

    private async Task InitPoolAsync(CancellationToken cancellationToken)
    {
        var last = Egress.ToString();
        var elastic = _options.MaxUnits is { } max
            ? string.Create(CultureInfo.InvariantCulture, $$""", "max_units": {{max}}, "grow_at": {{_options.GrowAt}}, "hold_down_seconds": {{_options.HoldDownSeconds}}, "idle_seconds": {{_options.IdleSeconds}}, "shrink_below": {{_options.ShrinkBelow}}""")
            : string.Empty;
        var spec = PoolSpec.Parse(
            string.Create(CultureInfo.InvariantCulture, $$"""{"unit_size": {{_options.UnitSize}}, "min_units": {{_options.MinUnits}}, "quarantine_seconds": {{_options.QuarantineSeconds}}, "lease_ttl_seconds": {{_options.LeaseTtlSeconds}}{{elastic}}, "egress": [{"address": "{{last}}", "usable_range": "40960-{{40960 + (_options.Units * _options.UnitSize) - 1}}"}]}"""),
            "the fleet lab's spec");
        var sw = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                await Fleet.InitAsync(spec, cancellationToken).ConfigureAwait(false);
                _progress($"pool created: {_options.Units} units of {_options.UnitSize} ports on {Egress}, min_units {_options.MinUnits}, lease TTL {_options.LeaseTtlSeconds} s, quarantine {_options.QuarantineSeconds} s");
                return;
            }
            catch (FleetException) when (sw.Elapsed < TimeSpan.FromSeconds(30))
            {
                await Task.Delay(200, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private void StartFollower()
    {
        _progress($"starting 'portshare router follow' ({NetLab.BackendName(_options.Backend)}) on {LabTopology.RouterNs(_state.Prefix)}");
        _follower = Start(LabTopology.RouterNs(_state.Prefix), "follower", ["router", "follow", "--etcd", EtcdUrls, "--backend", NetLab.BackendName(_options.Backend), "--uplink", "srv"]);
    }

    /// <summary>Starts a process inside <paramref name="netns"/> (ip netns exec replaces itself with it, so the PID is the program's), its output in NAME.log.</summary>
    private Process Start(string netns, string name, IReadOnlyList<string> args, bool cli = true)
    {
        var log = Path.Combine(_state.StateDir, name + ".log");
        var psi = new ProcessStartInfo("ip") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var a in (string[])["netns", "exec", netns, .. cli ? _options.Cli : [], .. args])
        {
            psi.ArgumentList.Add(a);
        }

        var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {name}");
        var writer = new StreamWriter(log, append: true) { AutoFlush = true };
        var gate = new Lock();
        void Write(string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (gate)
            {
                writer.WriteLine(line);
            }
        }

        p.OutputDataReceived += (_, e) => Write(e.Data);
        p.ErrorDataReceived += (_, e) => Write(e.Data);
        _logs.Add(writer);
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return p;
    }

    private static void Signal(Process p, string signal)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-" + signal, p.Id.ToString(CultureInfo.InvariantCulture)]) { UseShellExecute = false })!;
        kill.WaitForExit();
    }
}
