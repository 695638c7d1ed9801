using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;

namespace PortShare.Fleet;

/// <summary>What a <see cref="FleetAgent"/> does on its host: the host side of the slices and its live connections.</summary>
public interface IAgentHost
{
    /// <summary>
    /// Sets the host up for every address in <paramref name="egress"/> and writes <paramref name="serving"/> as the host
    /// file that applications follow (<c>HostSetup.Serve</c>).
    /// </summary>
    void Serve(HostSliceFile serving, IReadOnlyCollection<IPAddress> egress);

    /// <summary>Rewrites the host file as <paramref name="serving"/> (same ports, a later <see cref="HostSliceFile.ValidUntil"/>), changing nothing else.</summary>
    void Renew(HostSliceFile serving);

    /// <summary>The host file as it is now, or null when there is none (or it is unreadable).</summary>
    HostSliceFile? Current();

    /// <summary>Live connections (TCP not yet closed, connected UDP) whose local end is on <paramref name="egress"/> in <paramref name="range"/>.</summary>
    int LiveConnections(IPAddress egress, PortRange range);

    /// <summary>Every socket holding a port of <paramref name="range"/> on <paramref name="egress"/> toward a peer (TIME_WAIT included): what the fill is measured with.</summary>
    IReadOnlyList<Diagnostics.DiagSocket> Sockets(IPAddress egress, PortRange range);
}

/// <summary>How a <see cref="FleetAgent"/> runs.</summary>
public sealed record AgentOptions
{
    /// <summary>This host's name in the pool.</summary>
    public required string Host { get; init; }

    /// <summary>Where the router sends this host's replies: one address per family the host egresses on.</summary>
    public required IReadOnlyList<IPAddress> NextHops { get; init; }

    /// <summary>
    /// The agent's own state (its leases, so a restarted agent resumes them and nothing moves), locked while the agent
    /// runs so that two agents on one machine cannot share it.
    /// </summary>
    public required string StatePath { get; init; }

    /// <summary>
    /// How long before the lease could end that the agent stops new connections when etcd stops acknowledging its
    /// keep-alives (default a quarter of the lease TTL, at least one second).
    /// </summary>
    public TimeSpan? Margin { get; init; }

    /// <summary>How long a drain waits for live connections to end before releasing the units anyway.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// How long after a claim the agent waits before serving the unit, so that routers following the pool have the new
    /// route before the first connection from it (they follow within milliseconds).
    /// </summary>
    public TimeSpan ServeDelay { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>This host's fewest units per egress address (null: the pool's).</summary>
    public int? MinUnits { get; init; }

    /// <summary>This host's most units per egress address (null: the pool's).</summary>
    public int? MaxUnits { get; init; }

    /// <summary>This host's weight: its fair share of a short pool is the units by its weight over everyone's.</summary>
    public int Weight { get; init; } = 1;

    /// <summary>How often an elastic agent measures its fill between keep-alive rounds.</summary>
    public TimeSpan FillInterval { get; init; } = TimeSpan.FromMilliseconds(250);
}

/// <summary>A point-in-time view of an agent, for its log, its metrics and tests.</summary>
/// <param name="Units">Units held, per egress address (draining ones included).</param>
/// <param name="Serving">Ports the host file offers, per egress address.</param>
/// <param name="Draining">Units being drained.</param>
/// <param name="DeadlineLeft">Time until the agent stops new connections if etcd stays silent.</param>
/// <param name="Connected">True when the last keep-alive was acknowledged.</param>
/// <param name="Claims">Units claimed since start.</param>
/// <param name="Releases">Units released since start.</param>
/// <param name="Refusals">Claims that found no free unit.</param>
public sealed record AgentSnapshot(
    IReadOnlyDictionary<IPAddress, int> Units,
    IReadOnlyDictionary<IPAddress, int> Serving,
    int Draining,
    TimeSpan DeadlineLeft,
    bool Connected,
    long Claims,
    long Releases,
    long Refusals)
{
    /// <summary>Per egress address: the fullest destination's share of the ports served (elastic pools).</summary>
    public IReadOnlyDictionary<IPAddress, double> Fill { get; init; } = new Dictionary<IPAddress, double>();

    /// <summary>Egress addresses where the host wanted a unit and the pool had none.</summary>
    public IReadOnlyCollection<IPAddress> PoolFull { get; init; } = [];
}

/// <summary>
/// The fleet agent of one host: registers it under a lease, claims <c>min_units</c> per egress address (its own units
/// first, so a restart moves nothing), serves them through the host file, keeps the leases alive, follows drain orders,
/// and stops new connections at a local deadline (last acknowledged keep-alive + TTL − margin, on the monotonic clock)
/// when etcd stops answering, before etcd could give the units to anyone else. Cancelling <see cref="RunAsync"/> drains
/// (no new connections; live ones get up to <see cref="AgentOptions.DrainTimeout"/>) and releases into quarantine.
/// </summary>
public sealed partial class FleetAgent
{
    private readonly EtcdFleet _fleet;
    private readonly IAgentHost _host;
    private readonly AgentOptions _options;
    private readonly Action<string> _log;
    private readonly UnitOwner _me;
    private readonly Dictionary<(IPAddress Egress, PortRange Range), ClaimedUnit> _held = [];
    private readonly Dictionary<(IPAddress Egress, PortRange Range), long> _draining = [];
    private readonly Dictionary<(IPAddress Egress, PortRange Range), long> _servableAt = [];
    private readonly HashSet<(IPAddress Egress, PortRange Range)> _preferred = [];
    private readonly HashSet<(IPAddress Egress, PortRange Range)> _byOrder = [];
    private readonly Lock _lock = new();
    private PoolSpec _pool = null!;
    private AgentLeases? _leases;
    private long _lastAck;
    private bool _connected;
    private bool _pastDeadline;
    private string? _served;
    private long _claims;
    private long _releases;
    private long _refusals;
    private string? _lastShortage;
    private bool _hostDrained;
    private HashSet<string> _drainedEgress = [];

    /// <summary>Creates the agent.</summary>
    public FleetAgent(EtcdFleet fleet, IAgentHost host, AgentOptions options, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(fleet);
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(options);
        if (!Routing.RouteValidation.IsValidName(options.Host))
        {
            throw new FleetException($"--host '{options.Host}' is not a valid host name: use 1-63 letters, digits, '.', '_' or '-'.");
        }

        if (options.NextHops.Count == 0)
        {
            throw new FleetException("The agent needs at least one --next-hop: the address the router sends this host's replies to.");
        }

        _fleet = fleet;
        _host = host;
        _options = options;
        _log = log ?? (_ => { });
        if (options.Weight is < 1 or > 1000)
        {
            throw new FleetException($"--weight {options.Weight} must be 1-1000.");
        }

        if (options.MinUnits is < 1 || (options.MinUnits is { } min && options.MaxUnits is { } max && max < min))
        {
            throw new FleetException($"--min-units {options.MinUnits} and --max-units {options.MaxUnits}: the minimum must be at least 1 and at most the maximum.");
        }

        _me = new UnitOwner(options.Host, options.NextHops) { Weight = options.Weight };
    }

    /// <summary>The units held and the ports served, now.</summary>
    public AgentSnapshot Snapshot()
    {
        lock (_lock)
        {
            var units = _held.Keys.GroupBy(k => k.Egress).ToDictionary(g => g.Key, g => g.Count());
            var serving = ServingSlices().ToDictionary(s => s.Egress, s => s.Ports.Count);
            return new AgentSnapshot(units, serving, _draining.Count, DeadlineLeft(), _connected, _claims, _releases, _refusals)
            {
                Fill = new Dictionary<IPAddress, double>(_fill),
                PoolFull = [.. _poolFull],
            };
        }
    }

    /// <summary>Raised after every change of the served ports (tests and metrics follow it).</summary>
    public event Action<HostSliceFile>? Served;

    /// <summary>
    /// Runs the agent until <paramref name="stop"/> is cancelled, then drains and releases. Start-up errors (etcd
    /// unreachable, no pool, the host name taken, another agent on this state file) throw before anything is claimed.
    /// </summary>
    public async Task RunAsync(CancellationToken stop)
    {
        using var lockFile = LockState();
        try
        {
            var view = await _fleet.ReadAsync(stop).ConfigureAwait(false);
            _pool = view.Pool!;
            CheckFamilies();
            // A host file left by an earlier run (or by 'host apply') says which units this host used: claim those first.
            foreach (var slice in _host.Current() is { } previous && previous.Host == _me.Host ? previous.Slices : [])
            {
                foreach (var unit in _pool.Find(slice.Egress) is { } e ? _pool.UnitsOf(e) : [])
                {
                    if (slice.Ports.Contains(unit))
                    {
                        _preferred.Add((slice.Egress, unit));
                    }
                }
            }

            await StartLeasesAsync(view, stop).ConfigureAwait(false);
            if (await ClaimMissingAsync(stop).ConfigureAwait(false) > 0)
            {
                await Task.Delay(_options.ServeDelay, stop).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested && _leases is not null)
        {
            // Stopped while starting, with leases: release what was claimed below.
        }
        catch (Exception ex) when (ex is FleetException or OperationCanceledException)
        {
            WithdrawStaleHostFile();
            throw;
        }

        Serve();

        // Keep-alive rounds at a quarter of the TTL (at most a second apart); an elastic pool also measures fill between them.
        var interval = TimeSpan.FromSeconds(Math.Clamp(_pool.LeaseTtlSeconds / 4.0, 0.5, 1));
        var lastRound = Stopwatch.GetTimestamp();
        while (!stop.IsCancellationRequested)
        {
            try
            {
                // Wake at the local deadline if it comes before the next round: it must not wait for a keep-alive.
                var wait = NextWait(interval);
                await Task.Delay(IsElastic && _options.FillInterval < wait ? _options.FillInterval : wait, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            if (Stopwatch.GetElapsedTime(lastRound) >= interval)
            {
                lastRound = Stopwatch.GetTimestamp();
                await TickAsync(stop).ConfigureAwait(false);
            }
            else
            {
                await FillRoundAsync(stop).ConfigureAwait(false);
            }
        }

        await ShutdownAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// <paramref name="stop"/>, and also cancelled at the local deadline: a call to etcd can hang until its own deadline
    /// (seconds), past the local one, so a round gives up on it then and the host stops new connections on time whatever
    /// etcd does. Past the deadline already (flagged), calls are bounded by their own deadline only, to find etcd again.
    /// </summary>
    private CancellationTokenSource UntilDeadline(CancellationToken stop)
    {
        var bounded = CancellationTokenSource.CreateLinkedTokenSource(stop);
        lock (_lock)
        {
            if (!_pastDeadline)
            {
                bounded.CancelAfter(DeadlineLeft() > TimeSpan.Zero ? DeadlineLeft() : TimeSpan.Zero);
            }
        }

        return bounded;
    }

    /// <summary>
    /// A start that failed (etcd unreachable, the name taken, …) proves no lease: the host file of a previous run must
    /// not go on offering its ports, which etcd may give to another host once that run's leases end.
    /// </summary>
    private void WithdrawStaleHostFile()
    {
        try
        {
            if (_host.Current() is { } file && file.Host == _me.Host && file.Slices.Count > 0)
            {
                // The addresses stay: the previous run's live connections still use them.
                _host.Serve(new HostSliceFile { Host = _me.Host, Slices = [] }, [.. file.Slices.Select(x => x.Egress).Distinct()]);
                _log("The agent could not start: the host file of its previous run no longer offers any port.");
            }
        }
        catch (Exception ex) when (ex is PortShareException or IOException or UnauthorizedAccessException)
        {
            _log($"The agent could not start, and could not empty the host file of its previous run either: {ex.Message}");
        }
    }

    /// <summary>One round: keep-alive, deadline, drain orders, missing units, releases of drained units.</summary>
    internal async Task TickAsync(CancellationToken stop)
    {
        var sent = Stopwatch.GetTimestamp();

        using var atDeadline = UntilDeadline(stop);
        var cancellationToken = atDeadline.Token;
        try
        {
            var ttl = await _fleet.KeepAliveAsync([_leases!.Owner, _leases.Hold], cancellationToken).ConfigureAwait(false);
            if (ttl[0] <= 0 || ttl[1] <= 0)
            {
                await LeasesLostAsync(cancellationToken).ConfigureAwait(false);
            }
            else
            {
                lock (_lock)
                {
                    _lastAck = sent;
                    if (!_connected)
                    {
                        _log("etcd acknowledges the keep-alives again.");
                    }

                    _connected = true;
                    _pastDeadline = false;
                    if (DeadlineLeft() > TimeSpan.Zero)
                    {
                        atDeadline.CancelAfter(DeadlineLeft());
                    }
                }
            }

            await FollowDrainOrdersAsync(cancellationToken).ConfigureAwait(false);
            Serve(); // drained units leave the host file before anything is released
            var claimed = await ClaimMissingAsync(cancellationToken).ConfigureAwait(false);
            claimed += await ElasticAsync(fullRound: true, cancellationToken).ConfigureAwait(false);
            if (claimed > 0)
            {
                await Task.Delay(_options.ServeDelay, cancellationToken).ConfigureAwait(false);
            }

            await ReleaseDrainedAsync(force: false, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is FleetException || (ex is OperationCanceledException && !stop.IsCancellationRequested))
        {
            lock (_lock)
            {
                if (_connected)
                {
                    _log(ex is FleetException
                        ? $"{ex.Message} Serving until the local deadline ({DeadlineLeft().TotalSeconds:F1} s left), then no new connections."
                        : "etcd did not answer before the local deadline.");
                }

                _connected = false;
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            return;
        }
        catch (Exception ex) when (ex is OperationCanceledException or FleetException && atDeadline.IsCancellationRequested)
        {
            lock (_lock)
            {
                if (_connected)
                {
                    _log($"etcd at {_fleet.Endpoints} did not answer before the local deadline.");
                }

                _connected = false;
            }
        }

        lock (_lock)
        {
            if (DeadlineLeft() <= TimeSpan.Zero && !_pastDeadline)
            {
                _pastDeadline = true;
                _log("Local deadline passed without an acknowledged keep-alive: no new connections from this host's units until etcd answers.");
            }
        }

        Serve();
    }

    private TimeSpan NextWait(TimeSpan interval)
    {
        lock (_lock)
        {
            var left = DeadlineLeft();
            return _pastDeadline || left >= interval ? interval : left > TimeSpan.Zero ? left : TimeSpan.Zero;
        }
    }

    private TimeSpan Margin => _options.Margin ?? TimeSpan.FromSeconds(Math.Max(1, _pool.LeaseTtlSeconds / 4.0));

    private TimeSpan DeadlineLeft() => _lastAck == 0
        ? TimeSpan.Zero
        : TimeSpan.FromSeconds(_pool.LeaseTtlSeconds) - Margin - Stopwatch.GetElapsedTime(_lastAck);

    private void CheckFamilies()
    {
        foreach (var e in _pool.Egress.Where(e => _me.NextHopFor(e.Address.AddressFamily) is null))
        {
            _log($"No --next-hop of the family of egress {e.Address}: this host claims no units there.");
        }

        if (_pool.Egress.All(e => _me.NextHopFor(e.Address.AddressFamily) is null))
        {
            throw new FleetException($"--next-hop {string.Join(", ", _options.NextHops)}: none is of the family of the pool's egress addresses ({string.Join(", ", _pool.Egress.Select(e => e.Address))}), so the router could not send this host any reply.");
        }
    }

    private FileStream LockState()
    {
        var lockPath = _options.StatePath + ".lock";
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(lockPath))!);
            return new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException ex)
        {
            throw new FleetException($"Another agent is running with the state file {_options.StatePath} (its lock {lockPath} is held): run one agent per host.", ex);
        }
        catch (UnauthorizedAccessException ex)
        {
            throw new FleetException($"Cannot lock the agent state file {lockPath}: {ex.Message}", ex);
        }
    }

    /// <summary>Resumes the leases of the previous run (nothing moves), or grants new ones and registers.</summary>
    private async Task StartLeasesAsync(FleetView view, CancellationToken cancellationToken)
    {
        if (ReadState() is { } saved && view.Get(_fleet.Keys.Host(_me.Host)) is { } registered && registered.Lease == saved.Owner)
        {
            var ttl = await _fleet.KeepAliveAsync([saved.Owner, saved.Hold], cancellationToken).ConfigureAwait(false);
            if (ttl[0] > 0 && ttl[1] > 0)
            {
                _leases = saved;
                _lastAck = Stopwatch.GetTimestamp();
                _connected = true;
                foreach (var u in view.Units().Where(u => u.Owner?.Host == _me.Host && u.OwnerLease == saved.Owner))
                {
                    _held[(u.Egress, u.Range)] = new ClaimedUnit(u.Egress, u.Range, u.Epoch);
                }

                _log($"Resumed the leases of the previous run: {_held.Count} unit(s) kept.");
                return;
            }
        }

        await RegisterAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task RegisterAsync(CancellationToken cancellationToken)
    {
        var sent = Stopwatch.GetTimestamp();
        var leases = await _fleet.GrantAsync(_pool, cancellationToken).ConfigureAwait(false);
        try
        {
            await _fleet.RegisterAsync(_me, leases, cancellationToken).ConfigureAwait(false);
        }
        catch (FleetException)
        {
            await RevokeQuietlyAsync(leases).ConfigureAwait(false);
            throw;
        }

        lock (_lock)
        {
            _leases = leases;
            _lastAck = sent;
            _connected = true;
            _pastDeadline = false;
        }

        WriteState();
        _log($"Registered {_me.Host} in the pool at {_fleet.Keys.Prefix} (leases {leases.Owner:x}, {leases.Hold:x}).");
    }

    /// <summary>etcd says the leases are gone (cut off longer than the TTL): what was held is not ours any more.</summary>
    private async Task LeasesLostAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            _log($"etcd says this host's leases have ended: its {_held.Count} unit(s) are no longer its own; registering again and taking back what is still quarantined for it.");
            _held.Clear();
            _draining.Clear();
            _servableAt.Clear();
            _byOrder.Clear();

            // The wants were under the lost lease too.
            _wanting.Clear();
            _poolFull.Clear();
        }

        Serve();
        await RegisterAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task FollowDrainOrdersAsync(CancellationToken cancellationToken)
    {
        var keys = await _fleet.KeysUnderAsync(_fleet.Keys.DrainPrefix, cancellationToken).ConfigureAwait(false);
        var hostDrained = keys.Contains(_fleet.Keys.DrainHost(_me.Host));
        lock (_lock)
        {
            foreach (var k in _held.Keys)
            {
                var drained = hostDrained || keys.Contains(_fleet.Keys.DrainEgress(k.Egress));
                if (drained && !_draining.ContainsKey(k))
                {
                    _draining[k] = Stopwatch.GetTimestamp();
                    _byOrder.Add(k);
                    _log($"Draining {k.Range} on {k.Egress}: no new connections; released when its connections end (at most {_options.DrainTimeout.TotalSeconds:F0} s).");
                }
                else if (!drained && _byOrder.Remove(k) && _draining.Remove(k))
                {
                    _log($"Drain order for {k.Range} on {k.Egress} withdrawn: serving it again.");
                }
            }
        }

        _hostDrained = hostDrained;
        _drainedEgress = [.. keys.Where(k => k.StartsWith(_fleet.Keys.DrainPrefix + "egress/", StringComparison.Ordinal)).Select(k => k[(_fleet.Keys.DrainPrefix.Length + 7)..])];
    }

    /// <summary>Claims units until every egress address of the pool has <c>min_units</c> (not while drained or past the deadline); returns how many it claimed.</summary>
    private async Task<int> ClaimMissingAsync(CancellationToken cancellationToken)
    {
        if (_hostDrained || _pastDeadline)
        {
            return 0;
        }

        List<(PoolEgress Egress, int Need)> needs;
        lock (_lock)
        {
            needs = [.. _pool.Egress
                .Where(e => _me.NextHopFor(e.Address.AddressFamily) is not null && !_drainedEgress.Contains(e.Address.ToString()))
                .Select(e => (e, MinFor(e) - _held.Keys.Count(k => k.Egress.Equals(e.Address) && !_draining.ContainsKey(k))))
                .Where(n => n.Item2 > 0)];
        }

        if (needs.Count == 0)
        {
            return 0;
        }

        var claimedNow = 0;

        var view = await _fleet.ReadAsync(cancellationToken).ConfigureAwait(false);
        Adopt(view);
        var shortages = new List<string>();
        foreach (var (egress, need) in needs)
        {
            var got = await ClaimOnAsync(view, egress, need, cancellationToken).ConfigureAwait(false);
            claimedNow += got;
            var left = need - got;
            if (left > 0)
            {
                Interlocked.Increment(ref _refusals);
                shortages.Add(string.Create(CultureInfo.InvariantCulture, $"{egress.Address}: {need - left} of the {need} unit(s) it lacks"));
            }
        }

        var shortage = shortages.Count == 0 ? null : $"The pool is short: claimed {string.Join("; ", shortages)} (no free unit left); trying again every round.";
        if (shortage != _lastShortage && shortage is not null)
        {
            _log(shortage);
        }

        _lastShortage = shortage;
        if (claimedNow > 0)
        {
            WriteState();
        }

        return claimedNow;
    }

    /// <summary>
    /// Takes into account units etcd holds under this agent's own lease that it does not know of: a claim committed by
    /// etcd whose answer was lost (a call cancelled at the deadline, a broken connection).
    /// </summary>
    private void Adopt(FleetView view)
    {
        foreach (var u in view.Units().Where(u => u.Owner?.Host == _me.Host && u.OwnerLease == _leases?.Owner))
        {
            lock (_lock)
            {
                if (!_held.ContainsKey((u.Egress, u.Range)))
                {
                    Hold(new ClaimedUnit(u.Egress, u.Range, u.Epoch));
                    _log($"Adopted {u.Range} on {u.Egress} (epoch {u.Epoch}): etcd holds it under this agent's lease, a claim whose answer was lost.");
                }
            }
        }
    }

    /// <summary>Records a unit as held (served after the serve delay, preferred after a restart); the caller holds the lock.</summary>
    private void Hold(ClaimedUnit unit)
    {
        var key = (unit.Egress, unit.Range);
        _held[key] = unit;
        _servableAt[key] = Stopwatch.GetTimestamp() + (long)(_options.ServeDelay.TotalSeconds * Stopwatch.Frequency);
        _preferred.Add(key);
    }

    /// <summary>Claims up to <paramref name="count"/> units on <paramref name="egress"/>, best candidates first; returns how many it got.</summary>
    private async Task<int> ClaimOnAsync(FleetView view, PoolEgress egress, int count, CancellationToken cancellationToken)
    {
        var got = 0;
        foreach (var (unit, ownHold) in Candidates(view, egress))
        {
            if (got == count)
            {
                break;
            }

            var claimed = await _fleet.ClaimAsync(_me, _leases!, egress.Address, unit.Range, ownHold, cancellationToken).ConfigureAwait(false);
            if (claimed is null)
            {
                continue;
            }

            lock (_lock)
            {
                Hold(claimed);
                _claims++;
            }

            got++;
            _log($"Claimed {unit.Range} on {egress.Address} (epoch {claimed.Epoch}){(ownHold is null ? string.Empty : ", still quarantined for this host")}.");
        }

        return got;
    }

    /// <summary>Units to try, best first: still quarantined for this host, then free units it held before (this run, or the previous one by its state file), then any free unit (from an offset of its own, so agents starting together rarely race for one unit).</summary>
    private IEnumerable<(UnitState Unit, string? OwnHold)> Candidates(FleetView view, PoolEgress egress)
    {
        var units = view.Units().Where(u => u.Egress.Equals(egress.Address)).ToList();
        HashSet<PortRange> before;
        lock (_lock)
        {
            units.RemoveAll(u => _held.ContainsKey((u.Egress, u.Range)));
            before = [.. _preferred.Where(p => p.Egress.Equals(egress.Address)).Select(p => p.Range)];
        }

        foreach (var u in units.Where(u => u.IsQuarantined && u.Hold!.Host == _me.Host))
        {
            yield return (u, u.HoldValue);
        }

        var free = units.Where(u => u.IsFree).ToList();
        List<PortRange> mine;
        lock (_lock)
        {
            mine = [.. _held.Keys.Where(k => k.Egress.Equals(egress.Address)).Select(k => k.Range)];
        }

        // Next to a unit it holds, the host's slice keeps fewer ranges.
        var adjacent = free.Where(u => mine.Any(m => m.High + 1 == u.Range.Low || u.Range.High + 1 == m.Low)).ToList();
        foreach (var u in adjacent)
        {
            yield return (u, null);
        }

        free.RemoveAll(adjacent.Contains);
        foreach (var u in free.Where(u => before.Contains(u.Range)))
        {
            yield return (u, null);
        }

        if (free.Count == 0)
        {
            yield break;
        }

        var start = (int)((uint)StableHash(_me.Host) % (uint)free.Count);
        for (var i = 0; i < free.Count; i++)
        {
            var u = free[(start + i) % free.Count];
            if (!before.Contains(u.Range))
            {
                yield return (u, null);
            }
        }
    }

    /// <summary>Releases drained units whose connections have ended (or all of them, with <paramref name="force"/>, after the drain timeout).</summary>
    private async Task ReleaseDrainedAsync(bool force, CancellationToken cancellationToken)
    {
        List<ClaimedUnit> ready;
        lock (_lock)
        {
            ready = [.. _draining
                .Where(d => force || Stopwatch.GetElapsedTime(d.Value) >= _options.DrainTimeout || _host.LiveConnections(d.Key.Egress, d.Key.Range) == 0)
                .Select(d => _held[d.Key])];
        }

        if (ready.Count == 0)
        {
            return;
        }

        var quarantine = await _fleet.GrantQuarantineAsync(_pool, cancellationToken).ConfigureAwait(false);
        foreach (var u in ready)
        {
            var released = await _fleet.ReleaseAsync(_me, u, quarantine, cancellationToken).ConfigureAwait(false);
            lock (_lock)
            {
                _held.Remove((u.Egress, u.Range));
                _draining.Remove((u.Egress, u.Range));
                _servableAt.Remove((u.Egress, u.Range));
                _preferred.Remove((u.Egress, u.Range));
                _byOrder.Remove((u.Egress, u.Range));
                _releases++;
            }

            WriteState();
            _log(released
                ? $"Released {u.Range} on {u.Egress} into quarantine for {_pool.QuarantineSeconds} s."
                : $"{u.Range} on {u.Egress} was no longer this host's (epoch {u.Epoch} is stale): dropped without a release.");
        }
    }

    /// <summary>Drains every unit, releases them and ends the registration (the host file is left with no slice).</summary>
    private async Task ShutdownAsync()
    {
        lock (_lock)
        {
            foreach (var k in _held.Keys.Where(k => !_draining.ContainsKey(k)))
            {
                _draining[k] = Stopwatch.GetTimestamp();
            }

            _hostDrained = true;
        }

        _log($"Stopping: draining {_held.Count} unit(s) (at most {_options.DrainTimeout.TotalSeconds:F0} s for live connections).");
        Serve();
        using var limit = new CancellationTokenSource(_options.DrainTimeout + TimeSpan.FromSeconds(10));
        try
        {
            while (true)
            {
                int left;
                lock (_lock)
                {
                    left = _draining.Count(d => Stopwatch.GetElapsedTime(d.Value) < _options.DrainTimeout && _host.LiveConnections(d.Key.Egress, d.Key.Range) > 0);
                }

                if (left == 0)
                {
                    break;
                }

                // Keep the leases alive while connections drain (past the deadline, etcd is gone anyway).
                try
                {
                    await _fleet.KeepAliveAsync([_leases!.Owner, _leases.Hold], limit.Token).ConfigureAwait(false);
                }
                catch (FleetException)
                {
                }

                await Task.Delay(500, limit.Token).ConfigureAwait(false);
            }

            await ReleaseDrainedAsync(force: true, limit.Token).ConfigureAwait(false);
            await _fleet.RevokeAsync(_leases!.Owner, limit.Token).ConfigureAwait(false);
            await _fleet.RevokeAsync(_leases.Hold, limit.Token).ConfigureAwait(false);
            // The leases are gone; the units are remembered, so that a restart claims them again when they are free.
            _leases = null;
            WriteState();
            _log("Released every unit and left the pool.");
        }
        catch (Exception ex) when (ex is FleetException or OperationCanceledException)
        {
            _log($"Could not release cleanly ({ex.Message}): the units go into quarantine when the leases end.");
        }
    }

    /// <summary>Writes the host file for the units being served (none past the deadline), when that changed.</summary>
    private void Serve(bool renew = true)
    {
        HostSliceFile file;
        List<IPAddress> egress;
        lock (_lock)
        {
            var left = DeadlineLeft();
            file = new HostSliceFile
            {
                Host = _me.Host,
                Slices = _pastDeadline || left <= TimeSpan.Zero ? [] : ServingSlices(),
                ValidUntil = DateTimeOffset.UtcNow + (left > TimeSpan.Zero ? left : TimeSpan.Zero),
            };
            egress = [.. _held.Keys.Select(k => k.Egress).Distinct()];
        }

        var key = string.Join(';', file.Slices.Select(s => $"{s.Egress} {s.Ports} {s.PoolFull}")) + "|" + string.Join(',', egress);
        if (key == _served)
        {
            // Same ports: only the end moves on (while etcd acknowledges the lease), so applications keep using them.
            if (renew && file.Slices.Count > 0)
            {
                _host.Renew(file);
            }

            return;
        }

        _host.Serve(file, egress);
        _served = key;
        _log(file.Slices.Count == 0
            ? "Host file: no ports served."
            : $"Host file: serving {string.Join("; ", file.Slices.Select(s => $"{s.Ports} on {s.Egress}"))}.");
        Served?.Invoke(file);
    }

    private List<EgressSlice> ServingSlices() =>
        [.. _held.Keys
            .Where(k => !_draining.ContainsKey(k) && _servableAt.GetValueOrDefault(k) <= Stopwatch.GetTimestamp())
            .GroupBy(k => k.Egress)
            .OrderBy(g => g.Key.ToString(), StringComparer.Ordinal)
            .Select(g => new EgressSlice(g.Key, PortSlice.From(Merge(g.Select(k => k.Range)))) { PoolFull = _poolFull.Contains(g.Key) })];

    private static IEnumerable<PortRange> Merge(IEnumerable<PortRange> ranges)
    {
        PortRange? run = null;
        foreach (var r in ranges.OrderBy(r => r.Low))
        {
            if (run is { } x && x.High + 1 == r.Low)
            {
                run = new PortRange(x.Low, r.High);
                continue;
            }

            if (run is { } done)
            {
                yield return done;
            }

            run = r;
        }

        if (run is { } last)
        {
            yield return last;
        }
    }

    private static int StableHash(string s)
    {
        var h = 17;
        foreach (var c in s)
        {
            h = unchecked((h * 31) + c);
        }

        return h;
    }

    private AgentLeases? ReadState()
    {
        try
        {
            if (!File.Exists(_options.StatePath))
            {
                return null;
            }

            var state = JsonSerializer.Deserialize(SafeFile.ReadSmallText(_options.StatePath, "the agent state file"), FleetJsonContext.Default.AgentStateJson);
            if (state is null || state.Host != _me.Host || state.Prefix != _fleet.Keys.Prefix)
            {
                return null;
            }

            foreach (var u in state.Units ?? [])
            {
                var parts = u.Split(' ');
                if (parts.Length == 2 && IPAddress.TryParse(parts[0], out var egress) && PortRange.TryParse(parts[1], out var range, out _))
                {
                    _preferred.Add((egress, range));
                }
            }

            return state is { Owner: > 0, Hold: > 0 } ? new AgentLeases(state.Owner, state.Hold) : null;
        }
        catch (Exception ex) when (ex is JsonException or PortShareException or IOException)
        {
            _log($"Ignoring the agent state file {_options.StatePath}: {ex.Message}");
            return null;
        }
    }

    /// <summary>Records the leases and the units held (preferred again after a restart).</summary>
    private void WriteState()
    {
        List<string> units;
        lock (_lock)
        {
            units = [.. _preferred.Select(p => $"{p.Egress} {p.Range}").Order(StringComparer.Ordinal)];
        }

        SafeFile.Write(_options.StatePath, JsonSerializer.Serialize(new AgentStateJson { Host = _me.Host, Prefix = _fleet.Keys.Prefix, Owner = _leases?.Owner ?? 0, Hold = _leases?.Hold ?? 0, Units = units }, FleetJsonContext.Default.AgentStateJson), "the agent state file");
    }

    private async Task RevokeQuietlyAsync(AgentLeases leases)
    {
        try
        {
            await _fleet.RevokeAsync(leases.Owner).ConfigureAwait(false);
            await _fleet.RevokeAsync(leases.Hold).ConfigureAwait(false);
        }
        catch (FleetException)
        {
        }
    }
}
