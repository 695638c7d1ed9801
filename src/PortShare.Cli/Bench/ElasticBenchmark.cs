using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using PortShare.Cli.Commands;
using PortShare.Lab;
using Spectre.Console;

namespace PortShare.Cli.Bench;

/// <summary>
/// <c>portshare bench elastic</c>: see <see cref="ElasticBench"/>. The fixed pool (max_units = min_units) is the
/// baseline of the same run: its failed connects are what a static share costs under the same ramp.
/// </summary>
internal static class ElasticBenchmark
{
    private static readonly Option<int> s_times = new("--times")
    {
        Description = "The ramp's peak as a multiple of h1's minimum share (1 unit of 64 ports): 2-8, default 6.",
        DefaultValueFactory = _ => 6,
        Validators = { r => { if (r.GetValueOrDefault<int>() is < 2 or > 8) { r.AddError($"--times must be 2-8, not {r.GetValueOrDefault<int>()}."); } } },
    };

    private static readonly Option<bool> s_json = CliOptions.Json();

    public static Command Command(CliConsole console)
    {
        var command = new Command("elastic", "In a fleet lab (3-member etcd, follower, agents): one host ramps from 0 to N × its minimum share of connections to one destination and back, with an elastic pool and with a fixed one (the baseline): failed connects, time from threshold to the new unit served, ports held over time.") { s_times, s_json };
        command.SetAction((p, ct) => CommandRunner.RunAsync(console, async () =>
        {
            RoutingOptions.RequireRoot();
            var options = new FleetLabOptions { Cli = LabCommand.SelfCommand(), Units = 16, UnitSize = 64, MinUnits = 1, MaxUnits = 8, HoldDownSeconds = 1, IdleSeconds = 3, QuarantineSeconds = 3 };
            var peak = p.GetValue(s_times) * options.MinUnits * options.UnitSize;
            var pace = TimeSpan.FromMilliseconds(40);
            void Progress(string line) => console.Error.MarkupLine($"[grey]› {line.EscapeMarkup()}[/]");
            var runs = new List<ElasticRun>
            {
                await ElasticBench.RunAsync(options, elastic: false, peak, pace, Progress, ct),
                await ElasticBench.RunAsync(options, elastic: true, peak, pace, Progress, ct),
            };
            if (p.GetValue(s_json))
            {
                console.RawOut.WriteLine(JsonSerializer.Serialize(runs, CliJsonContext.Default.ListElasticRun));
                return ExitCodes.Success;
            }

            Write(console, runs, options.GrowAt);
            return ExitCodes.Success;
        }));
        return command;
    }

    private static void Write(CliConsole console, IReadOnlyList<ElasticRun> runs, double growAt)
    {
        static string F(double v) => v.ToString("0.00", CultureInfo.InvariantCulture);
        var table = new Table { Title = new TableTitle("bench elastic: h1 ramps toward one destination, h2 idles") }
            .AddColumns("pool", "connects", "failed", "peak open", "max ports h1", "threshold → new unit served (median / max)", "idle → back to min");
        foreach (var r in runs)
        {
            var lat = r.GrowLatencies.Order().ToList();
            table.AddRow(
                r.Elastic ? "elastic (min 1, max 8 units)" : "fixed (1 unit, baseline)",
                r.Attempted.ToString(CultureInfo.InvariantCulture),
                r.Failed.ToString(CultureInfo.InvariantCulture),
                r.PeakOpen.ToString(CultureInfo.InvariantCulture),
                r.Samples.Max(s => s.H1Ports).ToString(CultureInfo.InvariantCulture),
                lat.Count == 0 ? "-" : $"{F(lat[lat.Count / 2])} s / {F(lat[^1])} s ({lat.Count} growths)",
                r.Elastic ? (r.ShrinkSeconds is { } s ? $"{F(s)} s" : "not within the wait") : "-");
        }

        console.Out.Write(table);
        var fixedRun = runs.First(r => !r.Elastic);
        var elastic = runs.First(r => r.Elastic);
        console.Out.MarkupLine(string.Create(CultureInfo.InvariantCulture, $"connections held at peak, elastic ÷ fixed: [bold]{(double)elastic.PeakOpen / Math.Max(1, fixedRun.PeakOpen):0.0}×[/]; failed connects {elastic.Failed} vs {fixedRun.Failed} (grow at {growAt:P0} of the ports toward the destination)."));
        var samples = new Table { Title = new TableTitle("elastic run: every second") }.AddColumns("t (s)", "h1 open", "h1 ports", "h2 ports");
        foreach (var s in elastic.Samples.GroupBy(s => (int)s.Seconds).Select(g => g.Last()))
        {
            samples.AddRow(((int)s.Seconds).ToString(CultureInfo.InvariantCulture), s.Open.ToString(CultureInfo.InvariantCulture), s.H1Ports.ToString(CultureInfo.InvariantCulture), s.H2Ports.ToString(CultureInfo.InvariantCulture));
        }

        console.Out.Write(samples);
        console.RawOut.WriteLine("elastic run: '#' ports h1 holds, '*' its open connections");
        foreach (var line in ElasticBench.Plot(elastic))
        {
            console.RawOut.WriteLine(line);
        }
    }
}
