using PortShare.Routing;

namespace PortShare.Fleet;

/// <summary>A point-in-time view of a follower, for its log, its metrics and tests.</summary>
/// <param name="Revision">The newest pool revision applied to the router.</param>
/// <param name="Routes">Routes installed by the last apply.</param>
/// <param name="Applies">Applies since start.</param>
/// <param name="Resyncs">Full reads since start (the start, a lost watch, a compaction).</param>
/// <param name="StaleEvents">Watch events ignored because they were not newer than what was known.</param>
/// <param name="Connected">True while the watch is up.</param>
public sealed record FollowerSnapshot(long Revision, int Routes, long Applies, long Resyncs, long StaleEvents, bool Connected);

/// <summary>
/// Follows a pool on a router: reads it whole, applies its routes (every owned or quarantined unit to the host it is
/// routed to), then watches it and applies each change in revision order only (a stale or replayed event never wins).
/// A lost watch or a compacted revision means a full read again. Losing etcd changes nothing on the router: forwarding
/// never needs etcd, so the follower keeps what it has and retries.
/// </summary>
public sealed class FleetFollower
{
    private readonly EtcdFleet _fleet;
    private readonly Func<IReadOnlyList<RouteSlice>, long, int> _apply;
    private readonly Action<string> _log;
    private readonly Lock _lock = new();
    private string? _applied;
    private long _revision;
    private int _routes;
    private long _applies;
    private long _resyncs;
    private long _stale;
    private bool _connected;

    /// <summary>Creates the follower; <paramref name="apply"/> installs the routes (e.g. <c>Router.Apply</c>) and returns how many changes it made.</summary>
    public FleetFollower(EtcdFleet fleet, Func<IReadOnlyList<RouteSlice>, long, int> apply, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(fleet);
        ArgumentNullException.ThrowIfNull(apply);
        _fleet = fleet;
        _apply = apply;
        _log = log ?? (_ => { });
    }

    /// <summary>How far the follower is, now.</summary>
    public FollowerSnapshot Snapshot()
    {
        lock (_lock)
        {
            return new FollowerSnapshot(_revision, _routes, _applies, _resyncs, _stale, _connected);
        }
    }

    /// <summary>Raised after every apply with the pool revision it reflects.</summary>
    public event Action<long>? Applied;

    /// <summary>
    /// Runs until <paramref name="stop"/> is cancelled. The first read must succeed (an unreachable etcd or a missing
    /// pool is an error at start); later losses are retried with back-off while the router keeps its routes.
    /// </summary>
    public async Task RunAsync(CancellationToken stop)
    {
        var view = await ResyncAsync(stop).ConfigureAwait(false);
        var backoff = TimeSpan.FromMilliseconds(250);
        while (!stop.IsCancellationRequested)
        {
            try
            {
                view ??= await ResyncAsync(stop).ConfigureAwait(false);
                SetConnected(true);
                backoff = TimeSpan.FromMilliseconds(250);
                var compacted = false;
                await foreach (var batch in _fleet.WatchAsync(view.Revision + 1, stop).ConfigureAwait(false))
                {
                    if (batch.Compacted)
                    {
                        _log($"The watch's revision {view.Revision + 1} was compacted away: reading the pool again.");
                        compacted = true;
                        break;
                    }

                    var changed = false;
                    foreach (var e in batch.Events)
                    {
                        if (view.Apply(e.Key, e.Entry, e.Revision))
                        {
                            changed = true;
                        }
                        else
                        {
                            Interlocked.Increment(ref _stale);
                        }
                    }

                    if (changed)
                    {
                        Install(view);
                    }
                }

                if (compacted)
                {
                    view = null;
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                break;
            }
            catch (PortShareException ex)
            {
                // etcd lost (FleetException), or the router refused a change (it rolled back): read everything again later.
                if (Snapshot().Connected)
                {
                    _log($"{ex.Message} Keeping the routes installed at revision {Snapshot().Revision}; retrying.");
                }

                SetConnected(false);
                view = null;
                try
                {
                    await Task.Delay(backoff, stop).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }

                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
            }
        }
    }

    private async Task<FleetView> ResyncAsync(CancellationToken stop)
    {
        var view = await _fleet.ReadAsync(stop).ConfigureAwait(false);
        Interlocked.Increment(ref _resyncs);
        Install(view);
        return view;
    }

    private void Install(FleetView view)
    {
        var routes = view.Routes();
        var key = string.Join(';', routes.Select(r => $"{r.Egress} {r.Range} {r.Host} {r.NextHop}"));
        if (key != _applied)
        {
            var changes = _apply(routes, view.Revision);
            _applied = key;
            _log($"Revision {view.Revision}: {routes.Count} route(s), {changes} change(s) on the router.");
            Interlocked.Increment(ref _applies);
        }

        lock (_lock)
        {
            _revision = view.Revision;
            _routes = routes.Count;
        }

        Applied?.Invoke(view.Revision);
    }

    private void SetConnected(bool connected)
    {
        lock (_lock)
        {
            _connected = connected;
        }
    }
}
