using System.Diagnostics;
using System.Globalization;

namespace PortShare.Lab;

/// <summary>One step of the fleet demo and its verdict.</summary>
/// <param name="What">What happened.</param>
/// <param name="Passed">True when every check of the step held.</param>
/// <param name="Detail">What was seen.</param>
public sealed record FleetDemoStep(string What, bool Passed, string Detail);

/// <summary>
/// <c>lab demo --fleet</c>: a fleet lab (3-member etcd cluster, follower on the router, agents on three hosts), then
/// hosts joining, one crashing with connections held (quarantined, still routed to it, then free), its restart taking
/// its units back, another host restarting within its lease (nothing moves), the etcd leader killed — with a checker
/// sampling etcd, the router and every host file throughout, and every reply checked.
/// </summary>
public static class FleetDemo
{
    /// <summary>Runs the demo; every step is reported to <paramref name="report"/> as it ends. The lab is always removed.</summary>
    public static async Task<IReadOnlyList<FleetDemoStep>> RunAsync(FleetLabOptions options, Action<string> progress, Action<FleetDemoStep> report, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(progress);
        ArgumentNullException.ThrowIfNull(report);
        var steps = new List<FleetDemoStep>();
        void Step(string what, bool passed, string detail)
        {
            var s = new FleetDemoStep(what, passed, detail);
            steps.Add(s);
            report(s);
        }

        var ct = cancellationToken;
        await using var lab = await FleetLab.StartAsync(options with { Hosts = 3 }, progress, ct).ConfigureAwait(false);
        try
        {
            await using var checker = FleetChecker.Start(lab);
            var hosts = lab.State.Hosts;

            progress("starting 'portshare agent' on h1, h2, h3");
            foreach (var h in hosts)
            {
                await lab.StartAgentAsync(h, ct).ConfigureAwait(false);
            }

            var agreed = await lab.WaitRouterAgreesAsync(TimeSpan.FromSeconds(10), ct).ConfigureAwait(false);
            var traffic = await TrafficAsync(lab, hosts, ct).ConfigureAwait(false);
            Step("h1, h2 and h3 join: each claims min_units, the router follows", agreed && traffic.Passed, $"{Serving(lab, hosts)}; {traffic.Detail}");

            progress("h2 holds 5 connections; then its agent is SIGKILLed");
            var held = await lab.HoldAsync("h2", 5, ct).ConfigureAwait(false);
            var before = lab.HostFile("h2")!.Slices[0].Ports;
            try
            {
                lab.KillAgent("h2");
                var sw = Stopwatch.StartNew();
                var quarantined = await FleetLab.WaitAsync(async () => (await lab.Fleet.StatusAsync(ct).ConfigureAwait(false)).Count(s => s.Owner == "h2" && s.State == "quarantined") == options.MinUnits, TimeSpan.FromSeconds(options.LeaseTtlSeconds + 10), ct).ConfigureAwait(false);
                var routed = string.Join(",", lab.RouterSlices().Where(r => r.Host == "h2").Select(r => r.Range));
                var echoed = await FleetLab.EchoAsync(held, ct).ConfigureAwait(false);
                var expired = lab.HostFile("h2") is { } f && f.ValidUntil < DateTimeOffset.UtcNow;
                Step(
                    "h2 crashes: its units are quarantined, still routed to it; its applications stop opening connections",
                    quarantined && routed == before.ToString() && echoed == held.Count && expired,
                    string.Create(CultureInfo.InvariantCulture, $"quarantined after {sw.Elapsed.TotalSeconds:F1} s; router still sends {routed} to h2; {echoed}/{held.Count} held connections answer; h2's host file {(expired ? "expired" : "NOT expired")}"));

                sw.Restart();
                var free = await FleetLab.WaitAsync(async () => (await lab.Fleet.StatusAsync(ct).ConfigureAwait(false)).All(s => s.Owner != "h2"), TimeSpan.FromSeconds(options.QuarantineSeconds + 10), ct).ConfigureAwait(false);
                var unrouted = await lab.WaitRouterAgreesAsync(TimeSpan.FromSeconds(10), ct).ConfigureAwait(false) && lab.RouterSlices().All(r => r.Host != "h2");
                Step("the quarantine ends: h2's units are free and no longer routed", free && unrouted, string.Create(CultureInfo.InvariantCulture, $"after {sw.Elapsed.TotalSeconds:F1} s more ({options.QuarantineSeconds} s quarantine)"));
            }
            finally
            {
                foreach (var s in held)
                {
                    s.Dispose();
                }
            }

            await lab.StartAgentAsync("h2", ct).ConfigureAwait(false);
            var again = lab.HostFile("h2")!.Slices[0].Ports;
            var back = await TrafficAsync(lab, ["h2"], ct).ConfigureAwait(false);
            Step("h2 restarts: it claims the units it had", again.Equals(before) && await lab.WaitRouterAgreesAsync(TimeSpan.FromSeconds(10), ct).ConfigureAwait(false) && back.Passed, $"h2 serves {again} (before: {before}); {back.Detail}");

            var epochs = await EpochsAsync(lab, ct).ConfigureAwait(false);
            lab.KillAgent("h3");
            await lab.StartAgentAsync("h3", ct).ConfigureAwait(false);
            var same = (await EpochsAsync(lab, ct).ConfigureAwait(false)).SequenceEqual(epochs);
            Step("h3's agent is killed and restarted within its lease: it resumes it", same && lab.Tail("h3").Contains("Resumed the leases", StringComparison.Ordinal), same ? "every unit kept its owner and epoch" : "units moved");

            var leader = await lab.LeaderAsync(ct).ConfigureAwait(false);
            lab.KillEtcd(leader);
            await Task.Delay(TimeSpan.FromSeconds(options.LeaseTtlSeconds + 1), ct).ConfigureAwait(false);
            var kept = (await EpochsAsync(lab, ct).ConfigureAwait(false)).SequenceEqual(epochs);
            var after = await TrafficAsync(lab, hosts, ct).ConfigureAwait(false);
            Step($"etcd member e{leader} (the leader) is killed: the others elect a leader, leases carry on", kept && after.Passed, $"{(kept ? "no unit changed owner" : "units changed owner")}; {after.Detail}");

            var problems = await checker.StopAsync().ConfigureAwait(false);
            Step(
                "throughout: no port with two owners, no host serving against etcd, the router following etcd",
                problems.Count == 0,
                problems.Count == 0 ? $"{checker.Samples} samples of etcd, the router and every host file" : string.Join("; ", problems));
        }
        catch (Exception ex) when (ex is PortShareException or InvalidOperationException or TimeoutException or IOException)
        {
            Step("the demo could not go on", false, $"{ex.Message} (follower: {lab.Tail("follower")})");
        }

        return steps;
    }

    private static async Task<(bool Passed, string Detail)> TrafficAsync(FleetLab lab, IReadOnlyList<string> hosts, CancellationToken ct)
    {
        var ok = 0;
        var total = 0;
        long misdelivered = 0;
        var errors = new List<string>();
        foreach (var h in hosts)
        {
            var r = await lab.TrafficAsync(h, 20, ct).ConfigureAwait(false);
            ok += r.Ok;
            total += r.Attempted;
            misdelivered += r.Misdelivered;
            errors.AddRange(r.Errors.Take(2).Select(e => $"{h}: {e}"));
        }

        var passed = ok == total && misdelivered == 0;
        return (passed, $"{ok}/{total} connections answered from their own port, {misdelivered} packets misdelivered{(errors.Count > 0 ? " (" + string.Join("; ", errors) + ")" : string.Empty)}");
    }

    private static string Serving(FleetLab lab, IReadOnlyList<string> hosts) =>
        string.Join(", ", hosts.Select(h => $"{h} {lab.HostFile(h)?.Slices.FirstOrDefault()?.Ports.ToString() ?? "-"}"));

    private static async Task<List<(string Unit, long? Epoch)>> EpochsAsync(FleetLab lab, CancellationToken ct) =>
        [.. (await lab.Fleet.StatusAsync(ct).ConfigureAwait(false)).Where(s => s.Owner is not null).Select(s => (s.Unit, s.Epoch))];
}
