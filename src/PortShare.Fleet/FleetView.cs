using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using PortShare.Routing;

namespace PortShare.Fleet;

/// <summary>A key of the pool as last seen: its value, the revision it was last modified at, and its lease.</summary>
/// <param name="Value">The value (UTF-8).</param>
/// <param name="ModRevision">etcd's mod_revision: for a unit key, its epoch.</param>
/// <param name="Lease">The lease the key is attached to (0: none).</param>
public sealed record FleetEntry(string Value, long ModRevision, long Lease);

/// <summary>Who holds a unit and where its replies go.</summary>
/// <param name="Host">The host's name.</param>
/// <param name="NextHops">The host's next hops (one per address family).</param>
public sealed record UnitOwner(string Host, IReadOnlyList<IPAddress> NextHops)
{
    /// <summary>The host's weight for fairness when the pool is short (1 unless set).</summary>
    public int Weight { get; init; } = 1;

    /// <summary>The value stored in etcd.</summary>
    public string ToJson() => JsonSerializer.Serialize(new OwnerJson { Host = Host, NextHops = [.. NextHops.Select(n => n.ToString())], Weight = Weight == 1 ? null : Weight }, FleetJsonContext.Default.OwnerJson);

    /// <summary>Parses a stored value; null when it is not an owner record.</summary>
    public static UnitOwner? TryParse(string value)
    {
        try
        {
            var dto = JsonSerializer.Deserialize(value, FleetJsonContext.Default.OwnerJson);
            if (dto?.Host is null)
            {
                return null;
            }

            var hops = new List<IPAddress>();
            foreach (var h in dto.NextHops ?? [])
            {
                if (!IPAddress.TryParse(h, out var a))
                {
                    return null;
                }

                hops.Add(a);
            }

            return new UnitOwner(dto.Host, hops) { Weight = dto.Weight is > 0 ? dto.Weight.Value : 1 };
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>The next hop of <paramref name="family"/>, or null.</summary>
    public IPAddress? NextHopFor(AddressFamily family) => NextHops.FirstOrDefault(n => n.AddressFamily == family);
}

/// <summary>The state of one unit as a <see cref="FleetView"/> sees it.</summary>
/// <param name="Egress">The egress address.</param>
/// <param name="Range">The unit's ports.</param>
/// <param name="Owner">The owner from the unit key, or null when nobody owns it.</param>
/// <param name="Epoch">The unit key's mod_revision, or 0.</param>
/// <param name="OwnerLease">The owner's lease, or 0.</param>
/// <param name="Hold">The owner in the quarantine key (the current or, in quarantine, the previous owner), or null.</param>
/// <param name="HoldValue">The quarantine key's raw value (compared by a reclaiming owner), or null.</param>
/// <param name="HoldLease">The quarantine key's lease, or 0.</param>
public sealed record UnitState(IPAddress Egress, PortRange Range, UnitOwner? Owner, long Epoch, long OwnerLease, UnitOwner? Hold, string? HoldValue, long HoldLease)
{
    /// <summary>Who replies on this unit go to: the owner, or in quarantine the previous owner; null when free.</summary>
    public UnitOwner? RoutedTo => Owner ?? Hold;

    /// <summary>True when nobody owns it and no quarantine holds it: it may be claimed.</summary>
    public bool IsFree => Owner is null && Hold is null;

    /// <summary>True when released or expired but still held for its previous owner.</summary>
    public bool IsQuarantined => Owner is null && Hold is not null;
}

/// <summary>
/// The pool as a follower has seen it: every key under the prefix with its mod_revision. Changes are applied in
/// revision order only: an event whose revision is not newer than what is known for its key (a stale or replayed watch
/// event) is ignored, deletes included (a tombstone keeps the revision of the delete). Not thread-safe.
/// </summary>
public sealed class FleetView
{
    private readonly Dictionary<string, FleetEntry> _entries = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _revisions = new(StringComparer.Ordinal);
    private long _snapshotRevision;

    /// <summary>Creates an empty view.</summary>
    public FleetView(FleetKeys keys)
    {
        Keys = keys;
    }

    /// <summary>The key layout.</summary>
    public FleetKeys Keys { get; }

    /// <summary>The newest revision applied (a watch resumes after it).</summary>
    public long Revision { get; private set; }

    /// <summary>The pool, once its record has been seen and parses.</summary>
    public PoolSpec? Pool { get; private set; }

    /// <summary>Replaces everything with a full read at <paramref name="revision"/> (the start, or a resync after compaction).</summary>
    public void Reset(IEnumerable<KeyValuePair<string, FleetEntry>> entries, long revision)
    {
        ArgumentNullException.ThrowIfNull(entries);
        _entries.Clear();
        _revisions.Clear();
        foreach (var (k, e) in entries)
        {
            _entries[k] = e;
            _revisions[k] = e.ModRevision;
        }

        Revision = revision;
        _snapshotRevision = revision;
        ReadPool();
    }

    /// <summary>Applies one event; false (and nothing changes) when it is not newer than what is known for its key.</summary>
    /// <param name="key">The key.</param>
    /// <param name="entry">The new value, or null for a delete.</param>
    /// <param name="revision">The event's revision (for a delete, the revision of the delete).</param>
    public bool Apply(string key, FleetEntry? entry, long revision)
    {
        ArgumentNullException.ThrowIfNull(key);
        // One transaction's keys share a revision, so only an older revision than the newest applied is out of order.
        var stale = revision <= 0
            || revision < Revision
            || (_revisions.TryGetValue(key, out var known) ? revision <= known : revision <= _snapshotRevision);
        if (stale)
        {
            return false;
        }

        _revisions[key] = revision;
        if (entry is null)
        {
            _entries.Remove(key);
        }
        else
        {
            _entries[key] = entry with { ModRevision = revision };
        }

        Revision = Math.Max(Revision, revision);
        if (key == Keys.Pool)
        {
            ReadPool();
        }

        return true;
    }

    /// <summary>The entry of <paramref name="key"/>, or null.</summary>
    public FleetEntry? Get(string key) => _entries.GetValueOrDefault(key);

    /// <summary>Every unit of the pool with its state (empty before the pool is known).</summary>
    public IReadOnlyList<UnitState> Units()
    {
        if (Pool is null)
        {
            return [];
        }

        var units = new List<UnitState>();
        foreach (var e in Pool.Egress)
        {
            foreach (var u in Pool.UnitsOf(e))
            {
                var owner = Get(Keys.Unit(e.Address, u));
                var hold = Get(Keys.Quarantine(e.Address, u));
                units.Add(new UnitState(
                    e.Address,
                    u,
                    owner is null ? null : UnitOwner.TryParse(owner.Value),
                    owner?.ModRevision ?? 0,
                    owner?.Lease ?? 0,
                    hold is null ? null : UnitOwner.TryParse(hold.Value),
                    hold?.Value,
                    hold?.Lease ?? 0));
            }
        }

        return units;
    }

    /// <summary>Every registered host (live agents), by name.</summary>
    public IReadOnlyDictionary<string, UnitOwner> Hosts() => _entries
        .Where(e => e.Key.StartsWith(Keys.HostsPrefix, StringComparison.Ordinal))
        .Select(e => UnitOwner.TryParse(e.Value.Value))
        .OfType<UnitOwner>()
        .ToDictionary(o => o.Host, StringComparer.Ordinal);

    /// <summary>Every standing want: a host that needs one more unit on an egress address and found the pool full.</summary>
    public IReadOnlyList<(IPAddress Egress, string Host)> Wants() => [.. _entries.Keys
        .Where(k => k.StartsWith(Keys.WantsPrefix, StringComparison.Ordinal))
        .Select(k => k[Keys.WantsPrefix.Length..].Split('/'))
        .Where(p => p.Length == 2 && IPAddress.TryParse(p[0], out _))
        .Select(p => (IPAddress.Parse(p[0]), p[1]))];

    /// <summary>
    /// <paramref name="host"/>'s fair share of <paramref name="egress"/>'s units: the units by its weight over the
    /// weights of every registered host.
    /// </summary>
    public double FairShare(string host, PoolEgress egress)
    {
        ArgumentNullException.ThrowIfNull(egress);
        var hosts = Hosts();
        var total = hosts.Values.Sum(h => h.Weight);
        return Pool is null || total == 0 || !hosts.TryGetValue(host, out var me) ? 0 : Pool.UnitsOf(egress).Count * (double)me.Weight / total;
    }

    /// <summary>True when a drain order names <paramref name="host"/>.</summary>
    public bool IsDrained(string host) => Get(Keys.DrainHost(host)) is not null;

    /// <summary>True when a drain order names <paramref name="egress"/>.</summary>
    public bool IsDrained(IPAddress egress) => Get(Keys.DrainEgress(egress)) is not null;

    /// <summary>
    /// The return path for the pool: every owned or quarantined unit to the host it is routed to (adjacent units of one
    /// host merged), skipping a unit whose host has no next hop of the egress address's family.
    /// </summary>
    public IReadOnlyList<RouteSlice> Routes()
    {
        var routes = new List<RouteSlice>();
        foreach (var u in Units())
        {
            if (u.RoutedTo is not { } to || to.NextHopFor(u.Egress.AddressFamily) is not { } hop || !RouteValidation.IsValidName(to.Host))
            {
                continue;
            }

            if (routes.Count > 0 && routes[^1] is var last && last.Egress.Equals(u.Egress) && last.Host == to.Host && last.NextHop.Equals(hop) && last.Range.High + 1 == u.Range.Low)
            {
                routes[^1] = last with { Range = new PortRange(last.Range.Low, u.Range.High) };
            }
            else
            {
                routes.Add(new RouteSlice(u.Egress, to.Host, hop, u.Range));
            }
        }

        return routes;
    }

    private void ReadPool()
    {
        var e = Get(Keys.Pool);
        try
        {
            Pool = e is null ? null : PoolSpec.Parse(e.Value, "the pool record");
        }
        catch (FleetException)
        {
            Pool = null;
        }
    }
}
