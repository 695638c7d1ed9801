using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using PortShare.Connect;
using PortShare.Lab;
using PortShare.Routing;
using Spectre.Console;

namespace PortShare.Cli.Bench;

/// <summary>One row of <c>portshare bench route</c>: a return-path scenario at a host count, its rate and its ratio to SNAT.</summary>
internal sealed record RouteResult(string Scenario, int Hosts, int Slices, long Connections, double Seconds, double PerSecond, double Ratio, long Conntrack, long Errors, string? Note);

/// <summary>How long <c>router apply</c> took in <c>bench route</c>: from empty, and for a re-plan that adds one host.</summary>
internal sealed record ApplyTiming(string Backend, int Hosts, int Slices, string Step, double Seconds, int NftLines);

/// <summary>Everything <c>bench route --json</c> prints.</summary>
internal sealed record RouteReport(IReadOnlyList<RouteResult> Rates, IReadOnlyList<ApplyTiming> Apply);

/// <summary>
/// <c>portshare bench route</c>: connections per second (connect, one-line reply, close) from three hosts through a router
/// to a server, in a lab built by <see cref="LabNetwork"/> for the run, for (a) SNAT with conntrack (nft masquerade on
/// the router: the thing PortShare replaces), (b) the iprule backend, (c) the nftables (fwmark) backend and (d) the
/// netdev backend, with the router knowing 3 hosts or more (<c>--hosts</c>) on one or more egress IPs (<c>--egress</c>).
/// Extra hosts are dummies whose next hops sit on a link nothing answers on (no traffic goes there); they own the lower
/// ports and the real hosts the last slices, so the iprule walk is the worst case. The scenarios are interleaved in
/// short windows, every ratio is against the SNAT windows of the same run. The router apply time from empty and of a
/// one-host re-plan is measured at the largest host count.
/// </summary>
internal sealed class RouteBenchmark : IAsyncDisposable
{
    /// <summary>The host counts measured by default; the smallest is the real hosts alone.</summary>
    public static readonly int[] DefaultHosts = [3, 100, 1000];

    private const int RealHosts = 3;
    private const int LoopsPerHost = 8;
    private const int RealSliceSize = 4000;
    private const int RealSliceLow = 52000;
    private const int LowestDummyPort = 1024;
    private const int IpRuleMaxSlices = 2000;
    private const string NatTable = "psbench_nat";

    private static readonly IPEndPoint s_server = new(LabTopology.Server4, LabTopology.ServerPort);

    private readonly string _prefix;
    private readonly List<string> _namespaces = [];
    private readonly List<NetworkNamespace> _hostNs = [];
    private readonly List<PooledSockets> _hostSockets = [];
    private readonly List<SliceConnector> _connectors = [];
    private Socket? _listener;
    private CancellationTokenSource? _serverStop;
    private List<Task>? _acceptLoops;

    private RouteBenchmark(string prefix) => _prefix = prefix;

    private string RouterNs => LabTopology.RouterNs(_prefix);

    private NetTools RouterTools => new(RouterNs);

    public static Command Command(CliConsole console)
    {
        var seconds = new Option<double>("--seconds")
        {
            Description = "Seconds per scenario (split into interleaved windows).",
            DefaultValueFactory = _ => 3,
            Validators = { r => { if (r.GetValueOrDefault<double>() is <= 0 or > 600) { r.AddError("--seconds must be above 0 and at most 600."); } } },
        };
        var hosts = new Option<int[]>("--hosts")
        {
            Description = "Host counts the router knows (3 real hosts plus dummies), e.g. --hosts 3 1000 10000. Each is measured with every backend (iprule only up to 2,000 slices).",
            AllowMultipleArgumentsPerToken = true,
            DefaultValueFactory = _ => DefaultHosts,
            Validators =
            {
                r =>
                {
                    var v = r.GetValueOrDefault<int[]>() ?? [];
                    if (v.Length == 0 || v.Any(n => n is < RealHosts or > 30_000))
                    {
                        r.AddError($"--hosts takes counts from {RealHosts} to 30000, not '{string.Join(' ', v)}'.");
                    }
                }
            },
        };
        var egress = new Option<int>("--egress")
        {
            Description = "Egress IPs every host has a slice on (192.0.2.1 and up; probes use 192.0.2.1).",
            DefaultValueFactory = _ => 1,
            Validators = { r => { if (r.GetValueOrDefault<int>() is < 1 or > 64) { r.AddError("--egress must be 1-64."); } } },
        };
        var applyOnly = new Option<bool>("--apply-only") { Description = "Only time router apply (from empty, a one-host re-plan, remove) at the largest --hosts; no connection rates." };
        var json = CliOptions.Json();
        var command = new Command("route", "Connections per second through a router: SNAT with conntrack (baseline) against the iprule, nftables (fwmark) and netdev backends with 3 or more hosts known to the router; router apply time at the largest size (lab namespaces, root).")
        {
            seconds,
            hosts,
            egress,
            applyOnly,
            json,
        };
        command.SetAction((parse, ct) => CommandRunner.RunAsync(console, async () =>
        {
            if (Environment.UserName != "root")
            {
                throw new PortShareException("The route benchmark builds a lab of network namespaces and needs root (sudo).");
            }

            var counts = parse.GetValue(hosts)!.Distinct().Order().ToArray();
            var report = await RunAsync(parse.GetValue(seconds), counts, parse.GetValue(egress), parse.GetValue(applyOnly), line => console.RawError.WriteLine(line), ct);
            Report(console, report, parse.GetValue(json));
            return ExitCodes.Success;
        }));
        return command;
    }

    /// <summary>Builds the lab, measures every scenario interleaved, and removes the lab (also on failure or cancel).</summary>
    public static async Task<RouteReport> RunAsync(double seconds, IReadOnlyList<int> hostCounts, int egressCount, bool applyOnly, Action<string> progress, CancellationToken ct)
    {
        var bench = new RouteBenchmark(LabTopology.NewPrefix());
        await using (bench)
        {
            progress($"building the lab {bench._prefix}* (router, server, {RealHosts} hosts)");
            bench.Build();
            var apply = bench.MeasureApply(hostCounts.Max(), egressCount, progress);
            var rates = applyOnly ? [] : await bench.MeasureAllAsync(seconds, hostCounts, egressCount, progress, ct);
            return new RouteReport(rates, apply);
        }
    }

    private enum Mode
    {
        Snat,
        IpRule,
        Nftables,
        Netdev,
    }

    private sealed record Config(Mode Mode, int Hosts)
    {
        public string Name => Mode switch
        {
            Mode.Snat => "(a) SNAT + conntrack (masquerade)",
            Mode.IpRule => "(b) iprule backend",
            Mode.Nftables => "(c) nftables (fwmark) backend",
            _ => "(d) netdev backend",
        };

        public string Label => Mode == Mode.Snat ? Name : string.Create(CultureInfo.InvariantCulture, $"{Name}, {Hosts} hosts");
    }

    private sealed class Tally
    {
        public long Connections;
        public double Seconds;
        public long Errors;
        public long Conntrack;
        public string? LastError;
    }

    private static RouterBackend BackendOf(Mode mode) => mode switch
    {
        Mode.IpRule => RouterBackend.IpRule,
        Mode.Nftables => RouterBackend.Nftables,
        _ => RouterBackend.Netdev,
    };

    private static RouterOptions OptionsOf(Mode mode) => new()
    {
        Backend = BackendOf(mode),
        IpRuleWarnSlices = int.MaxValue,
        FwmarkWarnHosts = int.MaxValue,
        Uplinks = ["srv"],
    };

    /// <summary>
    /// Router apply of the largest plan with the netdev and nftables backends: from empty, then a re-plan that adds one
    /// host (one slice per egress IP in ports no one owns), which the netdev backend applies as an element update.
    /// </summary>
    private List<ApplyTiming> MeasureApply(int hosts, int egressCount, Action<string> progress)
    {
        var result = new List<ApplyTiming>();
        var plan = Slices(hosts, egressCount);
        var grown = plan.Concat(Enumerable.Range(0, egressCount).Select(e => new RouteSlice(Egress(e), "added", LabNetwork.DummyNextHop(60_000), new PortRange(64000, 64003)))).ToList();
        foreach (var mode in (Mode[])[Mode.Netdev, Mode.Nftables])
        {
            var router = new Router(RouterTools, OptionsOf(mode));
            router.Remove();
            progress(string.Create(CultureInfo.InvariantCulture, $"timing router apply: {BackendOf(mode)}, {hosts} hosts × {egressCount} egress IPs = {plan.Count} slices"));
            var sw = Stopwatch.StartNew();
            var first = router.Apply(plan);
            result.Add(new ApplyTiming(NetLab.BackendName(BackendOf(mode)), hosts, plan.Count, "apply from empty", sw.Elapsed.TotalSeconds, Lines(first.Nft)));
            sw.Restart();
            var added = router.Apply(grown);
            result.Add(new ApplyTiming(NetLab.BackendName(BackendOf(mode)), hosts + 1, grown.Count, "re-plan adding one host", sw.Elapsed.TotalSeconds, Lines(added.Nft)));
            sw.Restart();
            router.Remove();
            result.Add(new ApplyTiming(NetLab.BackendName(BackendOf(mode)), hosts + 1, grown.Count, "remove", sw.Elapsed.TotalSeconds, 0));
        }

        return result;

        static int Lines(string? script) => script is null ? 0 : script.Count(c => c == '\n');
    }

    private async Task<List<RouteResult>> MeasureAllAsync(double seconds, IReadOnlyList<int> hostCounts, int egressCount, Action<string> progress, CancellationToken ct)
    {
        var configs = new List<Config> { new(Mode.Snat, RealHosts) };
        foreach (var n in hostCounts)
        {
            if (n * egressCount <= IpRuleMaxSlices)
            {
                configs.Add(new Config(Mode.IpRule, n));
            }

            configs.Add(new Config(Mode.Nftables, n));
            configs.Add(new Config(Mode.Netdev, n));
        }

        var plans = hostCounts.ToDictionary(n => n, n => Slices(n, egressCount));
        var rounds = Math.Max(2, (int)Math.Ceiling(seconds));
        var window = seconds / rounds;
        var tallies = configs.ToDictionary(c => c, _ => new Tally());

        // Warm-up: JIT, neighbour entries, the server's accept path; every configuration is applied once.
        foreach (var c in configs)
        {
            ct.ThrowIfCancellationRequested();
            progress($"warming up {c.Label}");
            Configure(c, plans);
            _ = await WindowAsync(c.Mode, Math.Min(0.3, window), ct);
        }

        for (var round = 0; round < rounds; round++)
        {
            // Rotate the order so that no scenario always follows the same one.
            for (var k = 0; k < configs.Count; k++)
            {
                var c = configs[(k + round) % configs.Count];
                ct.ThrowIfCancellationRequested();
                Configure(c, plans);
                var (n, t, errors, lastError) = await WindowAsync(c.Mode, window, ct);
                var tally = tallies[c];
                tally.Connections += n;
                tally.Seconds += t;
                tally.Errors += errors;
                tally.LastError = lastError ?? tally.LastError;
                tally.Conntrack = Math.Max(tally.Conntrack, ConntrackCount());
                progress(string.Create(CultureInfo.InvariantCulture, $"round {round + 1}/{rounds}: {c.Label}: {n / t:N0} conn/s"));
            }
        }

        var snatRate = Rate(tallies[configs[0]]);
        var results = new List<RouteResult>();
        foreach (var c in configs)
        {
            var tally = tallies[c];
            var rate = Rate(tally);
            string? note = null;
            if (c.Mode == Mode.Snat)
            {
                note = "baseline";
            }
            else if (c.Hosts != hostCounts[0] && tallies.TryGetValue(c with { Hosts = hostCounts[0] }, out var smallest) && Rate(smallest) > 0)
            {
                note = string.Create(CultureInfo.InvariantCulture, $"{rate / Rate(smallest):F2}× the same backend at {hostCounts[0]} hosts");
            }

            if (tally.Errors > 0)
            {
                note = (note is null ? string.Empty : note + "; ") + string.Create(CultureInfo.InvariantCulture, $"{tally.Errors} failed ({tally.LastError})");
            }

            var slices = c.Mode == Mode.Snat ? 0 : plans[c.Hosts].Count;
            results.Add(new RouteResult(c.Name, c.Hosts, slices, tally.Connections, tally.Seconds, rate, snatRate > 0 ? rate / snatRate : 0, tally.Conntrack, tally.Errors, note));
        }

        return results;

        static double Rate(Tally t) => t.Seconds > 0 ? t.Connections / t.Seconds : 0;
    }

    /// <summary>
    /// Runs <see cref="LoopsPerHost"/> connection loops on every host for <paramref name="seconds"/>: connect, read the
    /// server's line until it closes (the server closes first and keeps the TIME_WAIT), close. Connections still open at
    /// the end are not counted.
    /// </summary>
    private async Task<(long Count, double Seconds, long Errors, string? LastError)> WindowAsync(Mode mode, double seconds, CancellationToken ct)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        long count = 0, errors = 0;
        string? lastError = null;
        var sw = Stopwatch.StartNew();
        stop.CancelAfter(TimeSpan.FromSeconds(seconds));
        var loops = new List<Task>();
        for (var h = 0; h < RealHosts; h++)
        {
            var host = h;
            for (var i = 0; i < LoopsPerHost; i++)
            {
                loops.Add(Task.Run(async () =>
                {
                    var buffer = new byte[128];
                    while (!stop.IsCancellationRequested)
                    {
                        try
                        {
                            using var s = mode == Mode.Snat ? await PlainAsync(host, stop.Token) : await _connectors[host].ConnectAsync(s_server, stop.Token);
                            while (await s.ReceiveAsync(buffer, SocketFlags.None, stop.Token) > 0)
                            {
                            }

                            Interlocked.Increment(ref count);
                        }
                        catch (OperationCanceledException) when (stop.IsCancellationRequested)
                        {
                            return;
                        }
                        catch (Exception ex) when (ex is SocketException or PortShareException or IOException)
                        {
                            Interlocked.Increment(ref errors);
                            lastError = ex.Message;
                        }
                    }
                }));
            }
        }

        await Task.WhenAll(loops);
        ct.ThrowIfCancellationRequested();
        return (Interlocked.Read(ref count), sw.Elapsed.TotalSeconds, errors, lastError);
    }

    private async Task<Socket> PlainAsync(int host, CancellationToken ct)
    {
        // SNAT: the host connects from its own private (link) address and port; the router rewrites the source.
        var s = _hostSockets[host].CreateSocket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await s.ConnectAsync(s_server, ct);
            return s;
        }
        catch
        {
            s.Dispose();
            throw;
        }
    }

    /// <summary>Egress IP <paramref name="e"/> (0-based): 192.0.2.1, 192.0.2.2, …; probes use the first.</summary>
    private static IPAddress Egress(int e) => IPAddress.Parse(string.Create(CultureInfo.InvariantCulture, $"192.0.2.{e + 1}"));

    /// <summary>The real hosts' slices: the last ones of the plan.</summary>
    private static PortRange RealSlice(int host) => new((ushort)(RealSliceLow + (host * RealSliceSize)), (ushort)(RealSliceLow + ((host + 1) * RealSliceSize) - 1));

    /// <summary>
    /// A plan of <paramref name="hosts"/> hosts on <paramref name="egressCount"/> egress IPs: dummy hosts' even-sized
    /// slices (32 ports, fewer when many) in ascending order below the real hosts' slices, then one slice per real host
    /// (installed last, so an iprule walk passes every dummy rule first). Every host has a slice on every egress IP.
    /// </summary>
    internal static List<RouteSlice> Slices(int hosts, int egressCount = 1)
    {
        var dummies = hosts - RealHosts;
        var size = dummies == 0 ? 32 : Math.Clamp((RealSliceLow - LowestDummyPort) / dummies / 2 * 2, 2, 32);
        var slices = new List<RouteSlice>(hosts * egressCount);
        for (var e = 0; e < egressCount; e++)
        {
            var egress = Egress(e);
            for (var j = 0; j < dummies; j++)
            {
                var low = RealSliceLow - (size * (dummies - j));
                slices.Add(new RouteSlice(egress, string.Create(CultureInfo.InvariantCulture, $"dummy{j}"), LabNetwork.DummyNextHop(j), new PortRange((ushort)low, (ushort)(low + size - 1))));
            }

            for (var h = 0; h < RealHosts; h++)
            {
                slices.Add(new RouteSlice(egress, LabTopology.HostName(h + 1), LabTopology.HostSide4(h + 1), RealSlice(h)));
            }
        }

        return slices;
    }

    private void Configure(Config c, Dictionary<int, List<RouteSlice>> plans)
    {
        var tools = RouterTools;
        tools.Nft(["delete", "table", "ip", NatTable]);
        if (c.Mode == Mode.Snat)
        {
            new Router(tools, new RouterOptions()).Remove();
            Check(tools, tools.Nft(["-f", "-"], $"table ip {NatTable} {{\n\tchain post {{\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\t\tip saddr 198.51.100.0/24 oifname \"srv\" snat to {LabTopology.RouterSnat4(1)}\n\t}}\n}}\n"));
        }
        else
        {
            new Router(tools, OptionsOf(c.Mode)).Apply(plans[c.Hosts]);
        }

        // Start every window with an empty conntrack table: the count then says what this scenario tracked.
        tools.Runner.Run("ip", ["netns", "exec", RouterNs, "conntrack", "-F"]);
    }

    private long ConntrackCount()
    {
        using var ns = NetworkNamespace.Enter(RouterNs);
        return ns.Run(() =>
        {
            const string path = "/proc/sys/net/netfilter/nf_conntrack_count";
            return File.Exists(path) ? long.Parse(File.ReadAllText(path).Trim(), CultureInfo.InvariantCulture) : 0L;
        });
    }

    private void Build()
    {
        var hosts = Enumerable.Range(1, RealHosts).Select(LabTopology.HostName).ToList();
        foreach (var ns in (string[])[RouterNs, LabTopology.ServerNs(_prefix), .. hosts.Select(h => LabTopology.HostNs(_prefix, h))])
        {
            LabNetwork.AddNamespace(ns);
            _namespaces.Add(ns);
        }

        LabNetwork.WireRoutersAndServer(_prefix, routers: 1);
        LabNetwork.AddDummyLink(_prefix);
        foreach (var name in hosts)
        {
            LabNetwork.WireHost(_prefix, name, routers: 1);
            var n = LabTopology.HostNumber(name);
            var hostNs = LabTopology.HostNs(_prefix, name);
            var tools = new NetTools(hostNs);
            tools.IpBatch(4, [$"addr add {LabTopology.Egress4}/32 dev lo"]);
            // The real slices (52000-63999) and the SNAT scenario's ephemeral ports both lie in this range.
            new NetnsSysctl(tools).Write("net/ipv4/ip_local_port_range", "10000 65000");
            var ns = NetworkNamespace.Enter(hostNs);
            _hostNs.Add(ns);
            var pool = new PooledSockets(ns);
            _hostSockets.Add(pool);
            _connectors.Add(new SliceConnector(RealSlice(n - 1), LabTopology.Egress4, ConnectStrategy.Kernel, pool));
        }

        StartServer(LabTopology.ServerNs(_prefix));
    }

    private void StartServer(string netns)
    {
        using (var ns = NetworkNamespace.Enter(netns))
        {
            _listener = ns.CreateSocket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        }

        _listener.Bind(s_server);
        _listener.Listen(4096);
        _serverStop = new CancellationTokenSource();
        var stop = _serverStop.Token;
        var listener = _listener;

        // The server answers with the peer it saw and closes first (so the TIME_WAIT is the server's, as for a public server).
        _acceptLoops = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                Socket client;
                try
                {
                    client = await listener.AcceptAsync(stop);
                }
                catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
                {
                    return;
                }

                using (client)
                {
                    try
                    {
                        client.Send(Encoding.ASCII.GetBytes(client.RemoteEndPoint + "\n"));
                    }
                    catch (SocketException)
                    {
                        // The client went away: nothing to answer.
                    }
                }
            }
        })).ToList();
    }

    private static void Check(NetTools tools, ToolResult r, string tool = "nft")
    {
        if (r.ExitCode != 0)
        {
            throw tools.Failed(tool, [], r);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_serverStop is not null)
        {
            await _serverStop.CancelAsync();
            _listener?.Dispose();
            if (_acceptLoops is not null)
            {
                await Task.WhenAll(_acceptLoops);
            }

            _serverStop.Dispose();
        }

        _hostSockets.ForEach(p => p.Dispose());
        _hostNs.ForEach(ns => ns.Dispose());
        var root = new NetTools();
        foreach (var ns in _namespaces)
        {
            root.Ip(["netns", "del", ns]);
        }
    }

    private static void Report(CliConsole console, RouteReport report, bool json)
    {
        if (json)
        {
            console.RawOut.WriteLine(JsonSerializer.Serialize(report, CliJsonContext.Default.RouteReport));
            return;
        }

        var table = new Table().Border(TableBorder.Rounded).Title($"portshare bench route (kernel {HostFacts.KernelRelease().EscapeMarkup()}, {Environment.ProcessorCount} cores)");
        table.AddColumns("scenario", "hosts", "slices", "conn/s", "ratio to (a)", "conntrack", "note");
        foreach (var r in report.Rates)
        {
            table.AddRow(
                r.Scenario.EscapeMarkup(),
                r.Hosts.ToString(CultureInfo.InvariantCulture),
                r.Slices == 0 ? "-" : r.Slices.ToString(CultureInfo.InvariantCulture),
                r.PerSecond.ToString("N0", CultureInfo.InvariantCulture),
                r.Ratio.ToString("F2", CultureInfo.InvariantCulture),
                r.Conntrack.ToString(CultureInfo.InvariantCulture),
                (r.Note ?? string.Empty).EscapeMarkup());
        }

        table.Caption("conntrack: the router's entries at the end of a window (flushed before each); ratios against the (a) windows of the same run");
        console.Out.Write(table);
        var apply = new Table().Border(TableBorder.Rounded).Title("router apply").AddColumns("backend", "hosts", "slices", "step", "seconds", "nft script lines");
        foreach (var a in report.Apply)
        {
            apply.AddRow(a.Backend, a.Hosts.ToString(CultureInfo.InvariantCulture), a.Slices.ToString(CultureInfo.InvariantCulture), a.Step, a.Seconds.ToString("F2", CultureInfo.InvariantCulture), a.NftLines.ToString(CultureInfo.InvariantCulture));
        }

        console.Out.Write(apply);
    }

    /// <summary>
    /// A host namespace's TCP sockets, made 256 at a time on the namespace's thread: without it every connection would
    /// wait for a hop to that thread, a cost of the harness (the same in every scenario) that would dilute the router's.
    /// </summary>
    private sealed class PooledSockets(NetworkNamespace ns) : ISocketEnvironment, IDisposable
    {
        private readonly System.Collections.Concurrent.ConcurrentQueue<Socket> _tcp4 = new();

        public Socket CreateSocket(AddressFamily family, SocketType type, ProtocolType protocol)
        {
            if (family != AddressFamily.InterNetwork || type != SocketType.Stream || protocol != ProtocolType.Tcp)
            {
                return ns.CreateSocket(family, type, protocol);
            }

            Socket? s;
            while (!_tcp4.TryDequeue(out s))
            {
                ns.Run(() =>
                {
                    for (var i = 0; i < 256; i++)
                    {
                        _tcp4.Enqueue(new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
                    }
                });
            }

            return s;
        }

        public T CreateSocket<T>(Func<T> factory)
            where T : Socket => ns.CreateSocket(factory);

        public Socket CreateNetlinkSocket(int protocol) => ns.CreateNetlinkSocket(protocol);

        public PortRange ReadNetnsRange() => ns.ReadNetnsRange();

        public IReadOnlyList<PortRange> ReadReservedPorts() => ns.ReadReservedPorts();

        public void Dispose()
        {
            while (_tcp4.TryDequeue(out var s))
            {
                s.Dispose();
            }
        }
    }
}
