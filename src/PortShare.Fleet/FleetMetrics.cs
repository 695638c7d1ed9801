using System.Diagnostics.Metrics;

namespace PortShare.Fleet;

/// <summary>
/// The agent's and the follower's state as metrics on the meter <see cref="MeterName"/> (observed from their
/// snapshots when a collector reads them, so they cost nothing unless exported; the CLI exports them to Prometheus with
/// <c>--metrics</c>).
/// </summary>
public static class FleetMetrics
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "PortShare.Fleet";

    /// <summary>Publishes <paramref name="agent"/>'s state; dispose to stop.</summary>
    public static IDisposable ForAgent(FleetAgent agent)
    {
        ArgumentNullException.ThrowIfNull(agent);
        var meter = new Meter(MeterName);
        meter.CreateObservableGauge("portshare_agent_units", () => agent.Snapshot().Units.Select(u => new Measurement<int>(u.Value, new KeyValuePair<string, object?>("egress", u.Key.ToString()))), "{unit}", "Units held per egress address (draining ones included).");
        meter.CreateObservableGauge("portshare_agent_serving_ports", () => agent.Snapshot().Serving.Select(u => new Measurement<int>(u.Value, new KeyValuePair<string, object?>("egress", u.Key.ToString()))), "{port}", "Ports the host file offers per egress address.");
        meter.CreateObservableGauge("portshare_agent_fill", () => agent.Snapshot().Fill.Select(u => new Measurement<double>(u.Value, new KeyValuePair<string, object?>("egress", u.Key.ToString()))), null, "Per egress address: the fullest destination's share of the ports served (elastic pools grow at grow_at).");
        meter.CreateObservableGauge("portshare_agent_pool_full", () => agent.Snapshot().PoolFull.Select(e => new Measurement<int>(1, new KeyValuePair<string, object?>("egress", e.ToString()))), null, "1 per egress address where the host wanted another unit and the pool had none free.");
        meter.CreateObservableGauge("portshare_agent_draining_units", () => agent.Snapshot().Draining, "{unit}", "Units being drained.");
        meter.CreateObservableGauge("portshare_agent_deadline_seconds", () => agent.Snapshot().DeadlineLeft.TotalSeconds, "s", "Time until the agent stops new connections if etcd stays silent.");
        meter.CreateObservableGauge("portshare_agent_connected", () => agent.Snapshot().Connected ? 1 : 0, null, "1 when the last keep-alive was acknowledged.");
        meter.CreateObservableCounter("portshare_agent_claims", () => agent.Snapshot().Claims, "{unit}", "Units claimed.");
        meter.CreateObservableCounter("portshare_agent_releases", () => agent.Snapshot().Releases, "{unit}", "Units released into quarantine.");
        meter.CreateObservableCounter("portshare_agent_refusals", () => agent.Snapshot().Refusals, "{claim}", "Rounds in which the pool had no free unit for a missing one.");
        return meter;
    }

    /// <summary>Publishes <paramref name="follower"/>'s state; dispose to stop.</summary>
    public static IDisposable ForFollower(FleetFollower follower)
    {
        ArgumentNullException.ThrowIfNull(follower);
        var meter = new Meter(MeterName);
        meter.CreateObservableGauge("portshare_follower_revision", () => follower.Snapshot().Revision, null, "The pool revision installed on the router.");
        meter.CreateObservableGauge("portshare_follower_routes", () => follower.Snapshot().Routes, "{route}", "Routes installed.");
        meter.CreateObservableGauge("portshare_follower_connected", () => follower.Snapshot().Connected ? 1 : 0, null, "1 while the watch is up.");
        meter.CreateObservableCounter("portshare_follower_applies", () => follower.Snapshot().Applies, "{apply}", "Router applies.");
        meter.CreateObservableCounter("portshare_follower_resyncs", () => follower.Snapshot().Resyncs, "{read}", "Full reads of the pool (start, lost watch, compaction).");
        meter.CreateObservableCounter("portshare_follower_stale_events", () => follower.Snapshot().StaleEvents, "{event}", "Watch events ignored as not newer than what was known.");
        return meter;
    }
}
