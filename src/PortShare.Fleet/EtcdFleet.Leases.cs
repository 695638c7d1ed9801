using System.Net;
using Etcdserverpb;

namespace PortShare.Fleet;

/// <summary>The two leases of an agent: its own (TTL <c>lease_ttl</c>) and its holds' (TTL <c>lease_ttl + quarantine</c>).</summary>
/// <param name="Owner">The lease the host key and its unit keys are under.</param>
/// <param name="Hold">The lease its quarantine keys are under while it owns the units.</param>
public sealed record AgentLeases(long Owner, long Hold);

/// <summary>A unit claimed by a host, with its epoch (the unit key's mod_revision).</summary>
/// <param name="Egress">The egress address.</param>
/// <param name="Range">The unit's ports.</param>
/// <param name="Epoch">The revision of the claim.</param>
public sealed record ClaimedUnit(IPAddress Egress, PortRange Range, long Epoch);

public sealed partial class EtcdFleet
{
    /// <summary>Grants the two leases of an agent for <paramref name="pool"/>.</summary>
    public async Task<AgentLeases> GrantAsync(PoolSpec pool, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(pool);
        var owner = await Call(() => _client.LeaseGrantAsync(new LeaseGrantRequest { TTL = pool.LeaseTtlSeconds }, null, Deadline(), cancellationToken)).ConfigureAwait(false);
        var hold = await Call(() => _client.LeaseGrantAsync(new LeaseGrantRequest { TTL = pool.LeaseTtlSeconds + pool.QuarantineSeconds }, null, Deadline(), cancellationToken)).ConfigureAwait(false);
        return new AgentLeases(owner.ID, hold.ID);
    }

    /// <summary>Revokes a lease (its keys go at once).</summary>
    public async Task RevokeAsync(long lease, CancellationToken cancellationToken = default) =>
        await Call(() => _client.LeaseRevokeAsync(new LeaseRevokeRequest { ID = lease }, null, Deadline(), cancellationToken)).ConfigureAwait(false);

    /// <summary>Registers <paramref name="owner"/> under <paramref name="leases"/>, create-if-absent: a live agent of the same name is an error.</summary>
    public async Task RegisterAsync(UnitOwner owner, AgentLeases leases, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(owner);
        ArgumentNullException.ThrowIfNull(leases);
        var key = Keys.Host(owner.Host);
        var txn = new TxnRequest();
        txn.Compare.Add(Absent(key));
        txn.Success.Add(Put(key, owner.ToJson(), leases.Owner));
        txn.Failure.Add(new RequestOp { RequestRange = new RangeRequest { Key = Bytes(key) } });
        var r = await Call(() => _client.TransactionAsync(txn, null, Deadline(), cancellationToken)).ConfigureAwait(false);
        if (!r.Succeeded)
        {
            var lease = r.Responses[0].ResponseRange.Kvs.FirstOrDefault()?.Lease ?? 0;
            var left = lease == 0 ? null : await TimeToLiveAsync(lease, cancellationToken).ConfigureAwait(false);
            throw new FleetException($"Host name '{owner.Host}' is already registered in the pool at {Keys.Prefix} by a live agent (its lease ends in {left?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "?"} s): two agents cannot share a host name. If that agent died, start again after its lease ends.");
        }
    }

    /// <summary>
    /// Claims one unit in one transaction: the unit key must be absent, and its quarantine key absent too, or still
    /// holding exactly <paramref name="ownHold"/> (this host's own hold: a restarted host takes back a unit that is
    /// still routed to it). Null when someone else holds it.
    /// </summary>
    public async Task<ClaimedUnit?> ClaimAsync(UnitOwner owner, AgentLeases leases, IPAddress egress, PortRange unit, string? ownHold = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(owner);
        ArgumentNullException.ThrowIfNull(leases);
        var unitKey = Keys.Unit(egress, unit);
        var holdKey = Keys.Quarantine(egress, unit);
        var txn = new TxnRequest();
        txn.Compare.Add(Absent(unitKey));
        txn.Compare.Add(ownHold is null
            ? Absent(holdKey)
            : new Compare { Key = Bytes(holdKey), Target = Compare.Types.CompareTarget.Value, Result = Compare.Types.CompareResult.Equal, Value = Bytes(ownHold) });
        txn.Success.Add(Put(unitKey, owner.ToJson(), leases.Owner));
        txn.Success.Add(Put(holdKey, owner.ToJson(), leases.Hold));
        var r = await Call(() => _client.TransactionAsync(txn, null, Deadline(), cancellationToken)).ConfigureAwait(false);
        return r.Succeeded ? new ClaimedUnit(egress, unit, r.Header.Revision) : null;
    }

    /// <summary>
    /// Releases a unit in one transaction, fenced by its epoch: the unit key goes and its quarantine key moves to
    /// <paramref name="quarantineLease"/> (a lease of the quarantine's length), so the unit stays routed to this host and
    /// unclaimable until the quarantine ends. False when the unit is no longer this epoch's (nothing changes).
    /// </summary>
    public async Task<bool> ReleaseAsync(UnitOwner owner, ClaimedUnit unit, long quarantineLease, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(owner);
        ArgumentNullException.ThrowIfNull(unit);
        var unitKey = Keys.Unit(unit.Egress, unit.Range);
        var txn = new TxnRequest();
        txn.Compare.Add(new Compare { Key = Bytes(unitKey), Target = Compare.Types.CompareTarget.Mod, Result = Compare.Types.CompareResult.Equal, ModRevision = unit.Epoch });
        txn.Success.Add(new RequestOp { RequestDeleteRange = new DeleteRangeRequest { Key = Bytes(unitKey) } });
        txn.Success.Add(Put(Keys.Quarantine(unit.Egress, unit.Range), owner.ToJson(), quarantineLease));
        var r = await Call(() => _client.TransactionAsync(txn, null, Deadline(), cancellationToken)).ConfigureAwait(false);
        return r.Succeeded;
    }

    /// <summary>Records (or with <paramref name="present"/> false, removes) <paramref name="owner"/>'s want of one more unit on <paramref name="egress"/>, under its lease.</summary>
    public async Task SetWantAsync(UnitOwner owner, AgentLeases leases, IPAddress egress, bool present, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(owner);
        ArgumentNullException.ThrowIfNull(leases);
        var key = Bytes(Keys.Want(egress, owner.Host));
        if (present)
        {
            await Call(() => _client.PutAsync(new PutRequest { Key = key, Value = Bytes(DateTimeOffset.UtcNow.ToString("O", System.Globalization.CultureInfo.InvariantCulture)), Lease = leases.Owner }, null, Deadline(), cancellationToken)).ConfigureAwait(false);
        }
        else
        {
            await Call(() => _client.DeleteAsync(new DeleteRangeRequest { Key = key }, null, Deadline(), cancellationToken)).ConfigureAwait(false);
        }
    }

    /// <summary>Grants a lease of the quarantine's length for releases.</summary>
    public async Task<long> GrantQuarantineAsync(PoolSpec pool, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(pool);
        var r = await Call(() => _client.LeaseGrantAsync(new LeaseGrantRequest { TTL = pool.QuarantineSeconds }, null, Deadline(), cancellationToken)).ConfigureAwait(false);
        return r.ID;
    }

    private static Compare Absent(string key) => new() { Key = Bytes(key), Target = Compare.Types.CompareTarget.Version, Result = Compare.Types.CompareResult.Equal, Version = 0 };

    private static RequestOp Put(string key, string value, long lease) => new() { RequestPut = new PutRequest { Key = Bytes(key), Value = Bytes(value), Lease = lease } };
}

/// <summary>Drain orders.</summary>
public sealed partial class EtcdFleet
{
    /// <summary>
    /// Records (or with <paramref name="cancel"/>, removes) a drain order for a host or an egress address, checking
    /// first that the pool exists and that the egress address is one of its own. Returns false when there was nothing to
    /// change.
    /// </summary>
    public async Task<bool> DrainAsync(string? host, IPAddress? egress, bool cancel, CancellationToken cancellationToken = default)
    {
        var view = await ReadAsync(cancellationToken).ConfigureAwait(false);
        string key;
        if (egress is not null)
        {
            if (view.Pool!.Find(egress) is null)
            {
                throw new FleetException($"--egress {egress} is not an egress address of the pool at {Keys.Prefix}; it has {string.Join(", ", view.Pool.Egress.Select(e => e.Address))}.");
            }

            key = Keys.DrainEgress(egress);
        }
        else
        {
            ArgumentException.ThrowIfNullOrEmpty(host);
            key = Keys.DrainHost(host);
        }

        var txn = new TxnRequest();
        txn.Compare.Add(Absent(key));
        if (cancel)
        {
            txn.Failure.Add(new RequestOp { RequestDeleteRange = new DeleteRangeRequest { Key = Bytes(key) } });
        }
        else
        {
            txn.Success.Add(Put(key, DateTimeOffset.UtcNow.ToString("O", System.Globalization.CultureInfo.InvariantCulture), 0));
        }

        var r = await Call(() => _client.TransactionAsync(txn, null, Deadline(), cancellationToken)).ConfigureAwait(false);
        return cancel ? !r.Succeeded : r.Succeeded;
    }
}
