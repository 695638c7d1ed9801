using System.Diagnostics;
using System.Globalization;
using System.Net;

namespace PortShare.Fleet;

/// <summary>
/// Elastic slices: between <c>min_units</c> and <c>max_units</c> per egress address, the agent grows by one unit when the
/// fullest destination uses <c>grow_at</c> of its ports (exhaustion is per destination), shrinks by draining a unit
/// that stays idle for <c>idle_seconds</c>, waits <c>hold_down_seconds</c> between changes, and when the pool is short,
/// records a want: a host above its fair share (by weight) drains a unit for it.
/// </summary>
public sealed partial class FleetAgent
{
    private readonly Dictionary<IPAddress, double> _fill = [];
    private readonly HashSet<IPAddress> _poolFull = [];
    private readonly HashSet<IPAddress> _wanting = [];
    private readonly Dictionary<IPAddress, long> _lastChange = [];
    private readonly Dictionary<IPAddress, long> _lastRefusal = [];
    private readonly Dictionary<(IPAddress Egress, PortRange Range), long> _idleSince = [];
    private readonly Dictionary<IPAddress, double> _shares = [];
    private string? _lastUsageError;

    /// <summary>True when this host may hold more than its minimum somewhere (the pool's bounds or its own --max-units).</summary>
    private bool IsElastic => _pool.Egress.Any(e => MaxFor(e) > MinFor(e));

    private int MinFor(PoolEgress egress) => Math.Min(_options.MinUnits ?? _pool.MinFor(egress), _pool.UnitsOf(egress).Count);

    private int MaxFor(PoolEgress egress) => Math.Max(MinFor(egress), Math.Min(_options.MaxUnits ?? _pool.MaxFor(egress), _pool.UnitsOf(egress).Count));

    /// <summary>Between keep-alive rounds: measure the fill and grow when needed (no etcd call unless growing).</summary>
    private async Task FillRoundAsync(CancellationToken stop)
    {
        using var bounded = UntilDeadline(stop);

        try
        {
            if (await ElasticAsync(fullRound: false, bounded.Token).ConfigureAwait(false) > 0)
            {
                await Task.Delay(_options.ServeDelay, bounded.Token).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is FleetException || (ex is OperationCanceledException && !stop.IsCancellationRequested))
        {
            // The keep-alive round reports etcd's state.
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            return;
        }

        Serve(renew: false);
    }

    /// <summary>
    /// One elastic round for every egress address: grow when the fullest destination passes <c>grow_at</c>; in a full
    /// round also shrink idle units and yield a unit to a host below its fair share. Returns the units claimed.
    /// </summary>
    private async Task<int> ElasticAsync(bool fullRound, CancellationToken cancellationToken)
    {
        if (!IsElastic || _hostDrained || _pastDeadline || _leases is null)
        {
            return 0;
        }

        var claimed = 0;
        IReadOnlyList<(IPAddress Egress, string Host)>? wants = null;
        foreach (var egress in _pool.Egress.Where(e => _me.NextHopFor(e.Address.AddressFamily) is not null && !_drainedEgress.Contains(e.Address.ToString())))
        {
            List<PortRange> active;
            lock (_lock)
            {
                active = [.. _held.Keys.Where(k => k.Egress.Equals(egress.Address) && !_draining.ContainsKey(k)).Select(k => k.Range).OrderBy(r => r.Low)];
            }

            if (active.Count == 0 || Usage(egress.Address, active) is not { } usage)
            {
                continue;
            }

            var (fullest, perUnit, toward) = usage;
            var fill = (double)fullest / (active.Count * _pool.UnitSize);
            lock (_lock)
            {
                _fill[egress.Address] = fill;
            }

            if (fill >= _pool.GrowAt && active.Count < MaxFor(egress))
            {
                // A refused host asks again once per hold-down; that does not hold down its own shrinking for others.
                if (!HeldDown(egress.Address) && !(_lastRefusal.TryGetValue(egress.Address, out var refused) && Stopwatch.GetElapsedTime(refused) < TimeSpan.FromSeconds(Math.Max(1, _pool.HoldDownSeconds))))
                {
                    claimed += await GrowAsync(egress, active.Count, fill, toward, cancellationToken).ConfigureAwait(false);
                }
            }
            else if (fill < _pool.GrowAt && (_poolFull.Contains(egress.Address) || _wanting.Contains(egress.Address)))
            {
                await SetWantAsync(egress.Address, false, cancellationToken).ConfigureAwait(false);
                lock (_lock)
                {
                    _poolFull.Remove(egress.Address);
                }
            }

            if (!fullRound || active.Count <= MinFor(egress) || HeldDown(egress.Address))
            {
                continue;
            }

            // Shrink: the unit idle longest (at or below shrink_below of its ports for idle_seconds) is drained.
            var idleLimit = _pool.ShrinkBelow * _pool.UnitSize;
            foreach (var u in active)
            {
                if (perUnit.GetValueOrDefault(u) <= idleLimit)
                {
                    _idleSince.TryAdd((egress.Address, u), Stopwatch.GetTimestamp());
                }
                else
                {
                    _idleSince.Remove((egress.Address, u));
                }
            }

            var idle = active
                .Where(u => _idleSince.TryGetValue((egress.Address, u), out var since) && Stopwatch.GetElapsedTime(since) >= TimeSpan.FromSeconds(_pool.IdleSeconds))
                .OrderByDescending(u => u.Low)
                .FirstOrDefault();
            if (idle != default)
            {
                Shrink(egress.Address, idle, $"idle for {_pool.IdleSeconds} s ({perUnit.GetValueOrDefault(idle)} socket(s))");
                continue;
            }

            // Fairness: another host waits for a unit here and this one holds more than its share.
            wants ??= (await _fleet.ReadAsync(cancellationToken).ConfigureAwait(false)) is var view ? Fairness(view) : [];
            if (wants.Any(w => w.Egress.Equals(egress.Address) && w.Host != _me.Host) && _shares.TryGetValue(egress.Address, out var share) && active.Count > Math.Max(MinFor(egress), (int)Math.Floor(share)))
            {
                var least = active.OrderBy(u => perUnit.GetValueOrDefault(u)).ThenByDescending(u => u.Low).First();
                Shrink(egress.Address, least, string.Create(CultureInfo.InvariantCulture, $"the pool is short and {string.Join(", ", wants.Where(w => w.Egress.Equals(egress.Address)).Select(w => w.Host))} wait(s); this host holds {active.Count}, above its fair share of {share:F1}"));
            }
        }

        return claimed;
    }

    private IReadOnlyList<(IPAddress Egress, string Host)> Fairness(FleetView view)
    {
        _shares.Clear();
        foreach (var e in _pool.Egress)
        {
            _shares[e.Address] = view.FairShare(_me.Host, e);
        }

        return view.Wants();
    }

    /// <summary>Claims one more unit (next to the host's own first); when none is free, the pool is full for this host: refused, and a want when below its share.</summary>
    private async Task<int> GrowAsync(PoolEgress egress, int active, double fill, string toward, CancellationToken cancellationToken)
    {
        var view = await _fleet.ReadAsync(cancellationToken).ConfigureAwait(false);
        var why = string.Create(CultureInfo.InvariantCulture, $"{fill:P0} of its {active * _pool.UnitSize} ports toward {toward} in use");
        // Hosts below their share wait for a unit here: one at or above its own share does not take it from them.
        var share = view.FairShare(_me.Host, egress);
        var others = view.Wants().Where(w => w.Egress.Equals(egress.Address) && w.Host != _me.Host).Select(w => w.Host).ToList();
        var got = others.Count > 0 && active >= Math.Floor(share) ? 0 : await ClaimOnAsync(view, egress, 1, cancellationToken).ConfigureAwait(false);
        lock (_lock)
        {
            (got > 0 ? _lastChange : _lastRefusal)[egress.Address] = Stopwatch.GetTimestamp();
        }

        if (got > 0)
        {
            _log($"Grew on {egress.Address} to {active + 1} unit(s): {why}.");
            await SetWantAsync(egress.Address, false, cancellationToken).ConfigureAwait(false);
            lock (_lock)
            {
                _poolFull.Remove(egress.Address);
            }

            WriteState();
            return got;
        }

        Interlocked.Increment(ref _refusals);
        var below = active < Math.Ceiling(share);
        lock (_lock)
        {
            if (_poolFull.Add(egress.Address))
            {
                _log(string.Create(CultureInfo.InvariantCulture, $"Refused on {egress.Address}: {why}, and {(others.Count > 0 && !below ? $"{string.Join(", ", others)}, below their share, wait(s) for the next free unit" : "the pool has no free unit")}; {(below ? $"below its fair share of {share:F1} units, so it asks hosts above theirs to yield one" : $"at or above its fair share of {share:F1} units, so it waits")}."));
            }
        }

        await SetWantAsync(egress.Address, below, cancellationToken).ConfigureAwait(false);
        return 0;
    }

    private async Task SetWantAsync(IPAddress egress, bool want, CancellationToken cancellationToken)
    {
        if (want == _wanting.Contains(egress))
        {
            return;
        }

        await _fleet.SetWantAsync(_me, _leases!, egress, want, cancellationToken).ConfigureAwait(false);
        if (want)
        {
            _wanting.Add(egress);
        }
        else
        {
            _wanting.Remove(egress);
        }
    }

    private void Shrink(IPAddress egress, PortRange unit, string why)
    {
        lock (_lock)
        {
            _draining[(egress, unit)] = Stopwatch.GetTimestamp();
            _lastChange[egress] = Stopwatch.GetTimestamp();
            _idleSince.Remove((egress, unit));
        }

        _log($"Shrinking on {egress}: draining {unit} ({why}).");
    }

    private bool HeldDown(IPAddress egress)
    {
        lock (_lock)
        {
            return _lastChange.TryGetValue(egress, out var at) && Stopwatch.GetElapsedTime(at) < TimeSpan.FromSeconds(_pool.HoldDownSeconds);
        }
    }

    /// <summary>The fullest destination's distinct ports, the sockets per unit and the fullest destination, or null when sock_diag failed.</summary>
    private (int Fullest, Dictionary<PortRange, int> PerUnit, string Toward)? Usage(IPAddress egress, List<PortRange> active)
    {
        IReadOnlyList<Diagnostics.DiagSocket> sockets;
        try
        {
            sockets = _host.Sockets(egress, new PortRange(active[0].Low, active[^1].High));
        }
        catch (PortShareException ex)
        {
            if (ex.Message != _lastUsageError)
            {
                _log($"Cannot measure the fill on {egress}: {ex.Message}");
            }

            _lastUsageError = ex.Message;
            return null;
        }

        var mine = sockets.Where(s => active.Any(u => u.Contains(s.Local.Port))).ToList();
        // Idleness counts live sockets only: a unit's TIME_WAIT sockets are covered by the quarantine it is released into.
        var perUnit = active.ToDictionary(u => u, u => mine.Count(s => u.Contains(s.Local.Port) && s.State != Diagnostics.SocketState.TimeWait));
        var byDestination = mine.GroupBy(s => s.Remote).Select(g => (Remote: g.Key, Ports: g.Select(s => s.Local.Port).Distinct().Count())).OrderByDescending(g => g.Ports).FirstOrDefault();
        return (byDestination.Ports, perUnit, byDestination.Remote?.ToString() ?? "-");
    }
}
