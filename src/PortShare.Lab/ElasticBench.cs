using System.Diagnostics;
using System.Net.Sockets;

namespace PortShare.Lab;

/// <summary>One sample of <see cref="ElasticBench"/>: when, connections open on h1, ports held by h1 and h2.</summary>
/// <param name="Seconds">Time since the ramp started.</param>
/// <param name="Open">h1's open connections to the one destination.</param>
/// <param name="H1Ports">Ports h1's host file serves.</param>
/// <param name="H2Ports">Ports h2's host file serves.</param>
public sealed record ElasticSample(double Seconds, int Open, int H1Ports, int H2Ports);

/// <summary>One run of <see cref="ElasticBench"/>.</summary>
/// <param name="Elastic">True for the elastic pool, false for the fixed-size baseline (max_units = min_units).</param>
/// <param name="Attempted">Connects attempted on the ramp up.</param>
/// <param name="Failed">Connects that failed (exhausted slice).</param>
/// <param name="PeakOpen">The most connections open at once.</param>
/// <param name="GrowLatencies">Per growth: seconds from h1 passing the threshold (open ≥ grow_at × ports served) to its host file serving more ports.</param>
/// <param name="ShrinkSeconds">Seconds from the last connection closed to h1 back at its minimum (null: not within the wait).</param>
/// <param name="Samples">Four samples a second.</param>
public sealed record ElasticRun(bool Elastic, int Attempted, int Failed, int PeakOpen, IReadOnlyList<double> GrowLatencies, double? ShrinkSeconds, IReadOnlyList<ElasticSample> Samples);

/// <summary>
/// <c>bench elastic</c>: in a fleet lab, one host ramps from 0 to <c>peak</c> connections toward one destination and
/// back to 0, once with an elastic pool and once with a fixed one (the baseline of the same run): failed connects,
/// the time from the threshold to the new unit being served, and the ports held per host over time.
/// </summary>
public static class ElasticBench
{
    /// <summary>Runs one ramp.</summary>
    public static async Task<ElasticRun> RunAsync(FleetLabOptions options, bool elastic, int peak, TimeSpan pace, Action<string> progress, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(progress);
        var ct = cancellationToken;
        var run = options with { Hosts = 2, MaxUnits = elastic ? options.MaxUnits : null };
        await using var lab = await FleetLab.StartAsync(run, progress, ct).ConfigureAwait(false);
        await lab.StartAgentAsync("h1", ct).ConfigureAwait(false);
        await lab.StartAgentAsync("h2", ct).ConfigureAwait(false);
        var min = run.MinUnits * run.UnitSize;
        var sockets = new List<Socket>();
        var open = 0;
        var samples = new List<ElasticSample>();
        var latencies = new List<double>();
        var sw = Stopwatch.StartNew();
        using var stopSampling = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var sampler = Task.Run(
            async () =>
            {
                double? pendingSince = null;
                var pendingPorts = 0;
                while (!stopSampling.IsCancellationRequested)
                {
                    var h1 = lab.ServedPorts("h1");
                    var now = Volatile.Read(ref open);
                    var t = sw.Elapsed.TotalSeconds;
                    samples.Add(new ElasticSample(t, now, h1, lab.ServedPorts("h2")));
                    if (pendingSince is { } since && h1 > pendingPorts)
                    {
                        latencies.Add(t - since);
                        pendingSince = null;
                    }

                    if (pendingSince is null && h1 > 0 && now >= run.GrowAt * h1)
                    {
                        pendingSince = t;
                        pendingPorts = h1;
                    }

                    try
                    {
                        await Task.Delay(250, stopSampling.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        break;
                    }
                }
            },
            ct);

        progress($"{(elastic ? "elastic" : "fixed")} pool: h1 ramps to {peak} connections toward {FleetLab.ServerEndPoint}, one every {pace.TotalMilliseconds:F0} ms");
        var failed = 0;
        var (connector, ns) = lab.Follow("h1");
        double? shrink = null;
        var peakOpen = 0;
        try
        {
            for (var i = 0; i < peak; i++)
            {
                try
                {
                    var s = await connector.ConnectAsync(FleetLab.ServerEndPoint, ct).ConfigureAwait(false);
                    sockets.Add(s);
                    await NetLab.ReadLineAsync(s, ct).ConfigureAwait(false);
                    Volatile.Write(ref open, sockets.Count);
                    peakOpen = Math.Max(peakOpen, sockets.Count);
                }
                catch (Exception ex) when (ex is SliceExhaustedException or SocketException)
                {
                    failed++;
                }

                await Task.Delay(pace, ct).ConfigureAwait(false);
            }

            await Task.Delay(TimeSpan.FromSeconds(2), ct).ConfigureAwait(false);
            progress("ramping down");
            while (sockets.Count > 0)
            {
                var s = sockets[^1];
                sockets.RemoveAt(sockets.Count - 1);
                await FleetLab.CloseAsync(s, ct).ConfigureAwait(false);
                Volatile.Write(ref open, sockets.Count);
                await Task.Delay(pace / 2, ct).ConfigureAwait(false);
            }

            var closed = sw.Elapsed.TotalSeconds;
            var until = DateTime.UtcNow + TimeSpan.FromSeconds(run.IdleSeconds + 30);
            while (DateTime.UtcNow < until)
            {
                if (lab.ServedPorts("h1") == min)
                {
                    shrink = sw.Elapsed.TotalSeconds - closed;
                    break;
                }

                await Task.Delay(250, ct).ConfigureAwait(false);
            }

            await Task.Delay(TimeSpan.FromSeconds(1), ct).ConfigureAwait(false);
        }
        finally
        {
            foreach (var s in sockets)
            {
                s.Dispose();
            }

            ns.Dispose();
            await stopSampling.CancelAsync().ConfigureAwait(false);
            await sampler.ConfigureAwait(false);
        }

        return new ElasticRun(elastic, peak, failed, peakOpen, latencies, shrink, samples);
    }

    /// <summary>A text plot of a run: one row per second, '#' for the ports h1 holds, '*' where its open connections are.</summary>
    public static IReadOnlyList<string> Plot(ElasticRun run, int width = 64)
    {
        ArgumentNullException.ThrowIfNull(run);
        var top = Math.Max(1, run.Samples.Max(s => Math.Max(s.H1Ports, s.Open)));
        var rows = new List<string>();
        foreach (var s in run.Samples.GroupBy(s => (int)s.Seconds).Select(g => g.Last()))
        {
            var held = (int)Math.Round((double)s.H1Ports / top * width);
            var at = Math.Min(width, (int)Math.Round((double)s.Open / top * width));
            var bar = new char[width + 1];
            for (var i = 0; i <= width; i++)
            {
                bar[i] = i < held ? '#' : ' ';
            }

            bar[at] = '*';
            rows.Add(FormattableString.Invariant($"{(int)s.Seconds,4} s |{new string(bar).TrimEnd()}"));
        }

        return rows;
    }
}
