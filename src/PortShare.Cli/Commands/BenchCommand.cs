using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using PortShare.Cli.Bench;
using PortShare.Connect;
using Spectre.Console;

namespace PortShare.Cli.Commands;

/// <summary><c>portshare bench connect|capacity</c>: macro benchmarks, each figure a ratio to a baseline measured in the same run.</summary>
internal static class BenchCommand
{
    private static readonly Option<double> s_seconds = new("--seconds")
    {
        Description = "Seconds per scenario.",
        DefaultValueFactory = _ => 3,
        Validators = { r => { if (r.GetValueOrDefault<double>() is <= 0 or > 600) { r.AddError("--seconds must be above 0 and at most 600."); } } },
    };

    private static readonly Option<bool> s_json = CliOptions.Json();

    private static readonly Option<bool> s_here = new("--here")
    {
        Description = "Run in the current network namespace instead of a fresh one (no root needed; slice 40000-40511 must lie inside ip_local_port_range).",
    };

    public static Command Create(CliConsole console)
    {
        var bench = new Command("bench", "Benchmarks: connect rate and slice capacity against a loopback listener, and the return path through a lab router, as ratios to a baseline of the same run.");
        bench.Subcommands.Add(Sub(console, "connect", "Connections per second: plain connect (baseline), kernel path, fallback and a naive bind loop at 0/50/90 % slice fill.", ConnectAsync));
        bench.Subcommands.Add(Sub(console, "udp", "UDP flows per second: plain UDP connect (baseline), unique-port mode, and shared-port mode (connectx) at 0/50/90 % slice fill.", (c, s, ct) => Task.FromResult(UdpBenchmark.Run(what => Progress(c, what), s, ct))));
        bench.Subcommands.Add(Sub(console, "capacity", "Connections achieved ÷ theoretical for a slice: one destination (N) and several destinations sharing ports (N × D).", CapacityAsync));
        bench.Subcommands.Add(RouteBenchmark.Command(console));
        bench.Subcommands.Add(ElasticBenchmark.Command(console));
        return bench;
    }

    private static Command Sub(CliConsole console, string name, string description, Func<CliConsole, double, CancellationToken, Task<List<BenchResult>>> run)
    {
        var command = new Command(name, description) { s_seconds, s_json, s_here };
        command.SetAction((parse, ct) => CommandRunner.RunAsync(console, async () =>
        {
            var json = parse.GetValue(s_json);
            var seconds = parse.GetValue(s_seconds);
            if (!parse.GetValue(s_here))
            {
                if (Environment.UserName != "root")
                {
                    throw new PortShareException("The benchmark runs in a fresh network namespace and needs root (sudo), or pass --here to run in this namespace.");
                }

                using var ns = ScratchNamespace.Create("psb", new PortRange(40000, 49999));
                var args = new List<string> { "bench", name, "--here", "--seconds", seconds.ToString(CultureInfo.InvariantCulture) };
                if (json)
                {
                    args.Add("--json");
                }

                return ns.RunSelf(args);
            }

            var results = await run(console, seconds, ct);
            Report(console, name, results, json);
            return ExitCodes.Success;
        }));
        return command;
    }

    private static async Task<List<BenchResult>> ConnectAsync(CliConsole console, double seconds, CancellationToken ct)
    {
        using var bench = new ConnectBenchmark();
        var results = new List<BenchResult>();
        var kernel = ConnectBenchmark.Connector(ConnectStrategy.Kernel);
        var fallback = ConnectBenchmark.Connector(ConnectStrategy.Fallback);

        // The machine is noisy: each scenario alternates short windows with the plain-connect baseline, and its ratio
        // is taken against the baseline windows interleaved with it.
        async Task<BenchResult> Measure(string scenario, string mode, double fill, ConnectBenchmark.Connect connect)
        {
            Progress(console, $"{scenario} ({mode}, fill {fill:P0}) against the baseline");
            var held = await bench.FillAsync(fill, ct);
            var stallsBefore = ConnectBenchmark.Stalls();
            try
            {
                var rounds = Math.Max(4, (int)(seconds * 4));
                var window = seconds / rounds;
                var holdCount = ConnectBenchmark.Slice.Count - held.Count - 12;
                long n = 0, baseN = 0;
                double t = 0, baseT = 0;
                for (var i = 0; i < rounds; i++)
                {
                    var (bn, bt) = mode == "held" ? await bench.HeldAsync(bench.PlainAsync, holdCount, window, ct) : await bench.LoopAsync(bench.PlainAsync, window, ct);
                    var (sn, st) = mode == "held" ? await bench.HeldAsync(connect, holdCount, window, ct) : await bench.LoopAsync(connect, window, ct);
                    baseN += bn;
                    baseT += bt;
                    n += sn;
                    t += st;
                }

                var rate = n / t;
                var baseRate = baseN / baseT;
                var stalls = ConnectBenchmark.Stalls();
                var syn = stalls.SynRetrans - stallsBefore.SynRetrans;
                results.Add(new BenchResult("plain connect (baseline)", mode, fill, baseN, baseT, baseRate, 1, $"interleaved with the row below"));
                return new BenchResult(scenario, mode, fill, n, t, rate, rate / baseRate, syn > 0 ? string.Create(CultureInfo.InvariantCulture, $"{syn} SYN retransmitted (1 s stall each; {stalls.ListenOverflows - stallsBefore.ListenOverflows} accept-queue overflows)") : null);
            }
            finally
            {
                held.ForEach(ConnectBenchmark.Reset);
            }
        }

        // Warm up the JIT and the listener before the first measurement.
        await bench.LoopAsync(bench.PlainAsync, Math.Min(0.5, seconds), ct);
        results.Add(await Measure("kernel path (IP_LOCAL_PORT_RANGE)", "loop", 0, ct2 => kernel.ConnectAsync(bench.Remote, ct2)));
        foreach (var fill in new[] { 0, 0.5, 0.9 })
        {
            results.Add(await Measure("fallback (bind-before-connect)", "loop", fill, ct2 => fallback.ConnectAsync(bench.Remote, ct2)));
        }

        foreach (var fill in new[] { 0, 0.5, 0.9 })
        {
            results.Add(await Measure("naive linear bind loop", "loop", fill, bench.NaiveAsync));
        }

        results.Add(await Measure("kernel path (IP_LOCAL_PORT_RANGE)", "held", 0, ct2 => kernel.ConnectAsync(bench.Remote, ct2)));
        results.Add(await Measure("fallback (bind-before-connect)", "held", 0, ct2 => fallback.ConnectAsync(bench.Remote, ct2)));

        var naive90 = results.First(r => r.Scenario.StartsWith("naive", StringComparison.Ordinal) && r.Fill == 0.9).PerSecond;
        for (var i = 0; i < results.Count; i++)
        {
            var r = results[i];
            if (r.Scenario.StartsWith("fallback", StringComparison.Ordinal) && r.Fill == 0.9 && naive90 > 0)
            {
                var versus = string.Create(CultureInfo.InvariantCulture, $"{r.PerSecond / naive90:F1}× the naive loop");
                results[i] = r with { Note = r.Note is null ? versus : versus + "; " + r.Note };
            }
        }

        return results;
    }

    private static async Task<List<BenchResult>> CapacityAsync(CliConsole console, double seconds, CancellationToken ct)
    {
        _ = seconds;
        var results = new List<BenchResult>();
        var slice = new PortRange(40000, 40063);
        var listeners = Enumerable.Range(0, 4).Select(_ =>
        {
            var l = ConnectBenchmark.BindOutside(slice);
            l.Listen(1024);
            return l;
        }).ToList();
        try
        {
            foreach (var strategy in new[] { ConnectStrategy.Kernel, ConnectStrategy.Fallback })
            {
                foreach (var destinations in new[] { 1, 4 })
                {
                    Progress(console, $"TCP capacity, {strategy}, {destinations} destination(s)");
                    var connector = new SliceConnector(slice, null, strategy);
                    var held = new List<Socket>();
                    try
                    {
                        foreach (var l in listeners.Take(destinations))
                        {
                            while (true)
                            {
                                try
                                {
                                    held.Add(await connector.ConnectAsync((IPEndPoint)l.LocalEndPoint!, ct));
                                }
                                catch (SliceExhaustedException)
                                {
                                    break;
                                }
                            }
                        }

                        var theoretical = slice.Count * destinations;
                        results.Add(new BenchResult($"TCP {slice.Count} ports × {destinations} destination(s)", strategy.ToString().ToLowerInvariant(), 0, held.Count, 0, theoretical, (double)held.Count / theoretical, $"{held.Count}/{theoretical}"));
                    }
                    finally
                    {
                        foreach (var s in held)
                        {
                            s.LingerState = new LingerOption(true, 0);
                            s.Dispose();
                        }
                    }
                }
            }
        }
        finally
        {
            listeners.ForEach(l => l.Dispose());
        }

        results.AddRange(UdpCapacity(console, slice, ct));
        return results;
    }

    /// <summary>
    /// UDP flows achieved ÷ theoretical: unique-port mode holds one flow per port (N, whatever the destinations); shared-port
    /// mode (connectx) shares each port across destinations (N × D).
    /// </summary>
    private static List<BenchResult> UdpCapacity(CliConsole console, PortRange slice, CancellationToken ct)
    {
        var results = new List<BenchResult>();
        var receivers = Enumerable.Range(0, 4).Select(_ => ConnectBenchmark.BindOutside(slice, SocketType.Dgram, ProtocolType.Udp)).ToList();
        try
        {
            foreach (var mode in new[] { UdpPortMode.Unique, UdpPortMode.Shared })
            {
                foreach (var destinations in new[] { 1, 4 })
                {
                    Progress(console, $"UDP capacity, {mode}, {destinations} destination(s)");
                    using var connector = new UdpSliceConnector(slice, null, mode);
                    var flows = new List<Socket>();
                    try
                    {
                        foreach (var r in receivers.Take(destinations))
                        {
                            while (true)
                            {
                                ct.ThrowIfCancellationRequested();
                                try
                                {
                                    flows.Add(connector.ConnectAsync((IPEndPoint)r.LocalEndPoint!, ct).AsTask().GetAwaiter().GetResult());
                                }
                                catch (SliceExhaustedException)
                                {
                                    break;
                                }
                            }
                        }

                        var theoretical = mode == UdpPortMode.Unique ? slice.Count : slice.Count * destinations;
                        var name = mode == UdpPortMode.Unique ? "unique" : "shared";
                        results.Add(new BenchResult($"UDP {slice.Count} ports × {destinations} destination(s)", name, 0, flows.Count, 0, theoretical, (double)flows.Count / theoretical, $"{flows.Count}/{theoretical}"));
                    }
                    finally
                    {
                        flows.ForEach(f => f.Dispose());
                    }
                }
            }
        }
        finally
        {
            receivers.ForEach(r => r.Dispose());
        }

        return results;
    }

    private static void Progress(CliConsole console, string what) => console.RawError.WriteLine($"measuring {what} …");

    private static void Report(CliConsole console, string name, List<BenchResult> results, bool json)
    {
        if (json)
        {
            console.RawOut.WriteLine(JsonSerializer.Serialize(results, CliJsonContext.Default.ListBenchResult));
            return;
        }

        var capacity = name == "capacity";
        var table = new Table().Border(TableBorder.Rounded).Title($"portshare bench {name} (kernel {HostFacts.KernelRelease().EscapeMarkup()}, {Environment.ProcessorCount} cores)");
        table.AddColumns(capacity ? ["scenario", "strategy / mode", "achieved", "ratio"] : ["scenario", "mode", "fill", "conn/s", "ratio to baseline", "note"]);
        foreach (var r in results)
        {
            var ratio = r.Ratio.ToString("F2", CultureInfo.InvariantCulture);
            if (capacity)
            {
                table.AddRow(r.Scenario.EscapeMarkup(), r.Mode, (r.Note ?? string.Empty).EscapeMarkup(), ratio);
            }
            else
            {
                table.AddRow(r.Scenario.EscapeMarkup(), r.Mode, r.Fill.ToString("P0", CultureInfo.InvariantCulture), r.PerSecond.ToString("N0", CultureInfo.InvariantCulture), ratio, (r.Note ?? string.Empty).EscapeMarkup());
            }
        }

        console.Out.Write(table);
    }
}
