using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using PortShare.Connect;
using PortShare.Routing;
using PortShare.Lab;
using Spectre.Console;

namespace PortShare.Cli.Bench;

/// <summary>One row of <c>portshare bench route</c>: a return-path scenario at a slice count, its rate and its ratio to SNAT.</summary>
internal sealed record RouteResult(string Scenario, int Slices, long Connections, double Seconds, double PerSecond, double Ratio, long Conntrack, long Errors, string? Note);

/// <summary>
/// <c>portshare bench route</c>: connections per second (connect, one-line reply, close) from three hosts through a router
/// to a server, all in namespaces made for the run, for (a) SNAT with conntrack (nft masquerade on the router: the thing
/// PortShare replaces), (b) the iprule backend and (c) the nftables backend at 3 (one per host), 100 and 1,000 slices.
/// Extra slices belong to dummy hosts whose next hops sit on a link that nothing answers on (no traffic goes there); they own the
/// lower ports and the real hosts the last slices, so the iprule walk is the worst case. The scenarios are interleaved
/// in short windows, every ratio is against the SNAT windows of the same run.
/// </summary>
internal sealed class RouteBenchmark : IAsyncDisposable
{
    /// <summary>The slice counts measured; the smallest is one slice per real host.</summary>
    public static readonly int[] SliceCounts = [3, 100, 1000];

    private const int Hosts = 3;
    private const int LoopsPerHost = 8;
    private const int RealSliceSize = 4000;
    private const int RealSliceLow = 52000;
    private const int DummySliceSize = 32;
    private const int DummyHosts = 40;
    private const string NatTable = "psbench_nat";

    private static readonly IPAddress s_egress = LabTopology.Egress4;
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
        var json = CliOptions.Json();
        var command = new Command("route", "Connections per second through a router: SNAT with conntrack (baseline) against the iprule and nftables backends at 3, 100 and 1,000 slices (lab namespaces, root).")
        {
            seconds,
            json,
        };
        command.SetAction((parse, ct) => CommandRunner.RunAsync(console, async () =>
        {
            if (Environment.UserName != "root")
            {
                throw new PortShareException("The route benchmark builds a lab of network namespaces and needs root (sudo).");
            }

            var results = await RunAsync(parse.GetValue(seconds), line => console.RawError.WriteLine(line), ct);
            Report(console, results, parse.GetValue(json));
            return ExitCodes.Success;
        }));
        return command;
    }

    /// <summary>Builds the lab, measures every scenario interleaved, and removes the lab (also on failure or cancel).</summary>
    public static async Task<List<RouteResult>> RunAsync(double seconds, Action<string> progress, CancellationToken ct)
    {
        var bench = new RouteBenchmark(LabTopology.NewPrefix());
        await using (bench)
        {
            progress($"building the lab {bench._prefix}* (router, server, {Hosts} hosts)");
            bench.Build();
            return await bench.MeasureAllAsync(seconds, progress, ct);
        }
    }

    private enum Mode
    {
        Snat,
        IpRule,
        Nftables,
    }

    private sealed record Config(Mode Mode, int Slices)
    {
        public string Name => Mode switch
        {
            Mode.Snat => "(a) SNAT + conntrack (masquerade)",
            Mode.IpRule => "(b) iprule backend",
            _ => "(c) nftables backend",
        };

        public string Label => Mode == Mode.Snat ? Name : string.Create(CultureInfo.InvariantCulture, $"{Name}, {Slices} slices");
    }

    private sealed class Tally
    {
        public long Connections;
        public double Seconds;
        public long Errors;
        public long Conntrack;
        public string? LastError;
    }

    private async Task<List<RouteResult>> MeasureAllAsync(double seconds, Action<string> progress, CancellationToken ct)
    {
        var configs = new List<Config> { new(Mode.Snat, 0) };
        foreach (var n in SliceCounts)
        {
            configs.Add(new Config(Mode.IpRule, n));
            configs.Add(new Config(Mode.Nftables, n));
        }

        var rounds = Math.Max(2, (int)Math.Ceiling(seconds));
        var window = seconds / rounds;
        var tallies = configs.ToDictionary(c => c, _ => new Tally());

        // Warm-up: JIT, neighbour entries, the server's accept path; every configuration is applied once.
        foreach (var c in configs)
        {
            ct.ThrowIfCancellationRequested();
            progress($"warming up {c.Label}");
            Configure(c);
            _ = await WindowAsync(c.Mode, Math.Min(0.3, window), ct);
        }

        for (var round = 0; round < rounds; round++)
        {
            // Rotate the order so that no scenario always follows the same one.
            for (var k = 0; k < configs.Count; k++)
            {
                var c = configs[(k + round) % configs.Count];
                ct.ThrowIfCancellationRequested();
                Configure(c);
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

        var snat = tallies[configs[0]];
        var snatRate = Rate(snat);
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
            else if (c.Slices != SliceCounts[0])
            {
                var first = Rate(tallies[new Config(c.Mode, SliceCounts[0])]);
                note = first > 0 ? string.Create(CultureInfo.InvariantCulture, $"{rate / first:F2}× the same backend at {SliceCounts[0]} slices") : null;
            }

            if (tally.Errors > 0)
            {
                note = (note is null ? string.Empty : note + "; ") + string.Create(CultureInfo.InvariantCulture, $"{tally.Errors} failed ({tally.LastError})");
            }

            results.Add(new RouteResult(c.Name, c.Slices, tally.Connections, tally.Seconds, rate, snatRate > 0 ? rate / snatRate : 0, tally.Conntrack, tally.Errors, note));
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
        for (var h = 0; h < Hosts; h++)
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

    /// <summary>The real hosts' slices: the last ones of the plan.</summary>
    private static PortRange RealSlice(int host) => new((ushort)(RealSliceLow + (host * RealSliceSize)), (ushort)(RealSliceLow + ((host + 1) * RealSliceSize) - 1));

    /// <summary>
    /// <paramref name="count"/> slices: dummy hosts' 32-port slices in ascending order below the real hosts' slices, then
    /// one slice per real host (installed last, so an iprule walk passes every dummy rule first).
    /// </summary>
    internal static List<RouteSlice> Slices(int count)
    {
        var slices = new List<RouteSlice>(count);
        var dummies = count - Hosts;
        for (var j = 0; j < dummies; j++)
        {
            var low = RealSliceLow - (DummySliceSize * (dummies - j));
            var d = j % DummyHosts;
            slices.Add(new RouteSlice(s_egress, string.Create(CultureInfo.InvariantCulture, $"dummy{d}"), DummyNextHop(d), new PortRange((ushort)low, (ushort)(low + DummySliceSize - 1))));
        }

        for (var h = 0; h < Hosts; h++)
        {
            slices.Add(new RouteSlice(s_egress, LabTopology.HostName(h + 1), LabTopology.HostSide4(h + 1), RealSlice(h)));
        }

        return slices;
    }

    private static IPAddress DummyNextHop(int d) => IPAddress.Parse(string.Create(CultureInfo.InvariantCulture, $"10.200.0.{d + 2}"));

    private void Configure(Config c)
    {
        var tools = RouterTools;
        tools.Nft(["delete", "table", "ip", NatTable]);
        if (c.Mode == Mode.Snat)
        {
            new Router(tools, new RouterOptions()).Remove();
            Check(tools, tools.Nft(["-f", "-"], $"table ip {NatTable} {{\n\tchain post {{\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\t\tip saddr 198.51.100.0/24 oifname \"srv\" masquerade\n\t}}\n}}\n"));
        }
        else
        {
            new Router(tools, new RouterOptions { Backend = c.Mode == Mode.IpRule ? RouterBackend.IpRule : RouterBackend.Nftables, IpRuleWarnSlices = int.MaxValue }).Apply(Slices(c.Slices));
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
        var root = new NetTools();
        var router = LabTopology.RouterNs(_prefix);
        var server = LabTopology.ServerNs(_prefix);
        foreach (var ns in (string[])[router, server, .. Enumerable.Range(1, Hosts).Select(h => LabTopology.HostNs(_prefix, LabTopology.HostName(h)))])
        {
            root.IpCheck("netns", "add", ns);
            _namespaces.Add(ns);
        }

        var r = new NetTools(router);
        r.IpBatch(4, [
            "link set lo up",
            $"link add srv type veth peer name uplink netns {server}",
            $"addr add {LabTopology.RouterServerSide4}/24 dev srv",
            "link set dev srv up",
            "link add dummies type veth peer name dummies-end",
            "addr add 10.200.0.1/24 dev dummies",
            "link set dev dummies up",
            "link set dev dummies-end up",
        ]);
        new NetTools(server).IpBatch(4, [
            "link set lo up",
            $"addr add {LabTopology.Server4}/24 dev uplink",
            "link set dev uplink up",
            $"route add default via {LabTopology.RouterServerSide4}",
        ]);
        Sysctl(router, "net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0");
        for (var n = 1; n <= Hosts; n++)
        {
            var name = LabTopology.HostName(n);
            var hostNs = LabTopology.HostNs(_prefix, name);
            r.IpBatch(4, [
                $"link add {name} type veth peer name uplink netns {hostNs}",
                $"addr add {LabTopology.RouterSide4(n)}/30 dev {name}",
                $"link set dev {name} up",
            ]);
            new NetTools(hostNs).IpBatch(4, [
                "link set lo up",
                $"addr add {s_egress}/32 dev lo",
                $"addr add {LabTopology.HostSide4(n)}/30 dev uplink",
                "link set dev uplink up",
                $"route add default via {LabTopology.RouterSide4(n)}",
            ]);

            // The real slices (52000-63999) and the SNAT scenario's ephemeral ports both lie in this range.
            Sysctl(hostNs, "net.ipv4.ip_local_port_range=10000 65000");
            var ns = NetworkNamespace.Enter(hostNs);
            _hostNs.Add(ns);
            var pool = new PooledSockets(ns);
            _hostSockets.Add(pool);
            _connectors.Add(new SliceConnector(RealSlice(n - 1), s_egress, ConnectStrategy.Kernel, pool));
        }

        StartServer(server);
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

    private static void Sysctl(string netns, params string[] settings)
    {
        var tools = new NetTools(netns);
        foreach (var s in settings)
        {
            var r = tools.Runner.Run("ip", ["netns", "exec", netns, "sysctl", "-q", "-w", s]);
            Check(tools, r, "sysctl");
        }
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

    private static void Report(CliConsole console, List<RouteResult> results, bool json)
    {
        if (json)
        {
            console.RawOut.WriteLine(JsonSerializer.Serialize(results, CliJsonContext.Default.ListRouteResult));
            return;
        }

        var table = new Table().Border(TableBorder.Rounded).Title($"portshare bench route (kernel {HostFacts.KernelRelease().EscapeMarkup()}, {Environment.ProcessorCount} cores)");
        table.AddColumns("scenario", "slices", "conn/s", "ratio to (a)", "conntrack", "note");
        foreach (var r in results)
        {
            table.AddRow(
                r.Scenario.EscapeMarkup(),
                r.Slices == 0 ? "-" : r.Slices.ToString(CultureInfo.InvariantCulture),
                r.PerSecond.ToString("N0", CultureInfo.InvariantCulture),
                r.Ratio.ToString("F2", CultureInfo.InvariantCulture),
                r.Conntrack.ToString(CultureInfo.InvariantCulture),
                (r.Note ?? string.Empty).EscapeMarkup());
        }

        table.Caption("conntrack: the router's entries at the end of a window (flushed before each); ratios against the (a) windows of the same run");
        console.Out.Write(table);
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
