using System.Runtime.CompilerServices;
using Etcdserverpb;
using Grpc.Core;
using Mvccpb;

namespace PortShare.Fleet;

/// <summary>One change of a key, as a watch reports it.</summary>
/// <param name="Key">The key.</param>
/// <param name="Entry">The new value, or null when the key was deleted (or its lease ended).</param>
/// <param name="Revision">The revision of the change.</param>
public sealed record FleetEvent(string Key, FleetEntry? Entry, long Revision);

/// <summary>What one watch response carried.</summary>
/// <param name="Events">The changes, in revision order.</param>
/// <param name="Compacted">True when the watch's start revision was compacted away: the follower must read everything again.</param>
/// <param name="Revision">The revision the response was sent at (a progress notification has no events).</param>
public sealed record FleetWatchBatch(IReadOnlyList<FleetEvent> Events, bool Compacted, long Revision);

/// <summary>Lease keep-alives and the watch of the pool.</summary>
public sealed partial class EtcdFleet
{
    /// <summary>
    /// Renews <paramref name="leases"/> once, on a keep-alive stream of its own with the call deadline, and returns each
    /// lease's TTL as etcd acknowledged it (0: the lease is gone).
    /// </summary>
    /// <exception cref="FleetException">etcd is unreachable or did not answer within the deadline.</exception>
    public Task<long[]> KeepAliveAsync(IReadOnlyList<long> leases, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(leases);
        return Call(async () =>
        {
            using var call = _leases.LeaseKeepAlive(null, Deadline(), cancellationToken);
            foreach (var id in leases)
            {
                await call.RequestStream.WriteAsync(new LeaseKeepAliveRequest { ID = id }, cancellationToken).ConfigureAwait(false);
            }

            await call.RequestStream.CompleteAsync().ConfigureAwait(false);
            var ttl = new long[leases.Count];
            for (var i = 0; i < leases.Count; i++)
            {
                if (!await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false))
                {
                    throw new RpcException(new Status(StatusCode.Unavailable, "the keep-alive stream ended early"));
                }

                var r = call.ResponseStream.Current;
                var index = leases.ToList().IndexOf(r.ID);
                ttl[index < 0 ? i : index] = r.TTL;
            }

            return ttl;
        });
    }

    /// <summary>
    /// Watches every key of the pool from <paramref name="fromRevision"/> on, with progress notifications, until
    /// cancelled. A compacted start revision ends the stream with one batch marked <see cref="FleetWatchBatch.Compacted"/>.
    /// </summary>
    /// <exception cref="FleetException">etcd is unreachable, or the watch was lost.</exception>
    public async IAsyncEnumerable<FleetWatchBatch> WatchAsync(long fromRevision, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        using var call = _watch.Watch(null, null, cancellationToken);
        await Call(async () =>
        {
            await call.RequestStream.WriteAsync(
                new WatchRequest
                {
                    CreateRequest = new WatchCreateRequest
                    {
                        Key = Bytes(Keys.Prefix),
                        RangeEnd = Bytes(Keys.PrefixEnd),
                        StartRevision = fromRevision,
                        ProgressNotify = true,
                    },
                },
                cancellationToken).ConfigureAwait(false);
            return true;
        }).ConfigureAwait(false);

        while (true)
        {
            var more = await Call(() => call.ResponseStream.MoveNext(cancellationToken)).ConfigureAwait(false);
            if (!more)
            {
                throw new FleetException($"The watch on etcd at {Endpoints} ended.");
            }

            var r = call.ResponseStream.Current;
            if (r.CompactRevision > 0)
            {
                yield return new FleetWatchBatch([], Compacted: true, r.Header.Revision);
                yield break;
            }

            if (r.Canceled)
            {
                throw new FleetException($"etcd at {Endpoints} cancelled the watch: {r.CancelReason}");
            }

            if (r.Created && r.Events.Count == 0)
            {
                continue;
            }

            var events = r.Events.Select(e => new FleetEvent(
                e.Kv.Key.ToStringUtf8(),
                e.Type == Event.Types.EventType.Delete ? null : new FleetEntry(e.Kv.Value.ToStringUtf8(), e.Kv.ModRevision, e.Kv.Lease),
                e.Kv.ModRevision)).ToList();
            yield return new FleetWatchBatch(events, Compacted: false, r.Header.Revision);
        }
    }

    /// <summary>Every key under <paramref name="prefix"/> (a sub-prefix of the pool's, e.g. the drain orders).</summary>
    public async Task<IReadOnlyList<string>> KeysUnderAsync(string prefix, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        var r = await Call(() => _client.GetAsync(new RangeRequest { Key = Bytes(prefix), RangeEnd = Bytes(FleetKeys.RangeEnd(prefix)), KeysOnly = true }, null, Deadline(), cancellationToken)).ConfigureAwait(false);
        return [.. r.Kvs.Select(kv => kv.Key.ToStringUtf8())];
    }
}
