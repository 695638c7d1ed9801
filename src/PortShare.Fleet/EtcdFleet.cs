using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;

namespace PortShare.Fleet;

/// <summary>What <see cref="EtcdFleet.InitAsync"/> did.</summary>
public enum InitResult
{
    /// <summary>The pool was created.</summary>
    Created,

    /// <summary>An identical pool was already there; nothing was written.</summary>
    AlreadyExists,
}

/// <summary>
/// A pool on etcd: its record, its units and their holds. Every write is one transaction (a create-if-absent compare),
/// so a refused or failed call leaves nothing half-written. etcd errors become a <see cref="FleetException"/> naming the
/// endpoint.
/// </summary>
public sealed partial class EtcdFleet : IDisposable
{
    private static readonly TimeSpan s_callTimeout = TimeSpan.FromSeconds(5);
    private readonly GrpcChannel _channel;
    private readonly EtcdClient _client;
    private readonly Lease.LeaseClient _leases;
    private readonly Watch.WatchClient _watch;

    /// <summary>Connects (lazily) to <paramref name="endpoints"/> (comma-separated URLs).</summary>
    public EtcdFleet(string endpoints, string prefix = FleetKeys.DefaultPrefix)
        : this(endpoints, prefix, connect: null)
    {
    }

    /// <summary>
    /// Connects (lazily) to <paramref name="endpoints"/>, opening each connection with <paramref name="connect"/> (e.g.
    /// a socket made in another network namespace; null: the usual way). With a callback, the channel knows only the
    /// first endpoint: the callback picks the member to connect to (trying the others when one is down).
    /// </summary>
    public EtcdFleet(string endpoints, string prefix, Func<SocketsHttpConnectionContext, CancellationToken, ValueTask<Stream>>? connect)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        if (!TryParseEndpoints(endpoints, out var uris, out var error))
        {
            throw new FleetException(error);
        }

        Endpoints = endpoints;
        Keys = new FleetKeys(prefix);
        _channel = EtcdChannel.Create(uris, connect);
        var invoker = _channel.CreateCallInvoker();
        _client = new EtcdClient(invoker);
        _leases = new Lease.LeaseClient(invoker);
        _watch = new Watch.WatchClient(invoker);
    }

    /// <summary>
    /// Parses <paramref name="endpoints"/>: one or more comma-separated <c>http://</c> or <c>https://</c> URLs, each
    /// with its host and an explicit port (etcd's client port is not the scheme's default), all of one scheme.
    /// </summary>
    /// <returns>False with <paramref name="error"/> naming the bad URL and what it lacks.</returns>
    public static bool TryParseEndpoints(string endpoints, out List<Uri> uris, out string error)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        uris = [];
        error = string.Empty;
        if (string.IsNullOrWhiteSpace(endpoints))
        {
            error = "--etcd is empty: give the etcd client URL(s), e.g. http://127.0.0.1:2379 (several comma-separated for a cluster).";
            return false;
        }

        foreach (var part in endpoints.Split(','))
        {
            var url = part.Trim();
            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.Host.Length == 0)
            {
                error = $"--etcd '{endpoints}': '{url}' is not an http:// or https:// URL with a port (e.g. http://127.0.0.1:2379).";
                return false;
            }

            if (!HasExplicitPort(url))
            {
                error = $"--etcd '{endpoints}': '{url}' has no port: write etcd's client port, e.g. {uri.Scheme}://{uri.Host}:2379.";
                return false;
            }

            if (uri.AbsolutePath != "/" || uri.Query.Length > 0)
            {
                error = $"--etcd '{endpoints}': '{url}' has a path; give only scheme, host and port (e.g. {uri.Scheme}://{uri.Authority}).";
                return false;
            }

            uris.Add(uri);
        }

        if (uris.Select(u => u.Scheme).Distinct().Count() > 1)
        {
            error = $"--etcd '{endpoints}': mixes http:// and https:// URLs; a cluster is reached one way.";
            return false;
        }

        return true;
    }

    /// <summary>The etcd endpoints.</summary>
    public string Endpoints { get; }

    /// <summary>The key layout.</summary>
    public FleetKeys Keys { get; }

    /// <summary>Creates the pool, in one transaction; an identical existing pool is fine, a different one is an error naming the differences.</summary>
    public async Task<InitResult> InitAsync(PoolSpec spec, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var txn = new TxnRequest();
        txn.Compare.Add(new Compare { Key = Bytes(Keys.Pool), Target = Compare.Types.CompareTarget.Version, Result = Compare.Types.CompareResult.Equal, Version = 0 });
        txn.Success.Add(new RequestOp { RequestPut = new PutRequest { Key = Bytes(Keys.Pool), Value = Bytes(spec.ToJson()) } });
        txn.Failure.Add(new RequestOp { RequestRange = new RangeRequest { Key = Bytes(Keys.Pool) } });
        var response = await Call(() => _client.TransactionAsync(txn, null, Deadline(), cancellationToken)).ConfigureAwait(false);
        if (response.Succeeded)
        {
            return InitResult.Created;
        }

        var existing = response.Responses[0].ResponseRange.Kvs.FirstOrDefault()?.Value.ToStringUtf8() ?? string.Empty;
        var pool = ParsePool(existing);
        var diff = pool.Differences(spec);
        return diff.Count == 0
            ? InitResult.AlreadyExists
            : throw new FleetException($"The spec conflicts with the pool that already exists at {Keys.Pool} on {Endpoints}: {string.Join("; ", diff)}. Nothing was written; use another --prefix or the same spec.");
    }

    /// <summary>Every key of the pool, at one revision.</summary>
    /// <exception cref="FleetException">etcd is unreachable, or there is no pool under the prefix.</exception>
    public async Task<FleetView> ReadAsync(CancellationToken cancellationToken = default)
    {
        var response = await Call(() => _client.GetAsync(new RangeRequest { Key = Bytes(Keys.Prefix), RangeEnd = Bytes(Keys.PrefixEnd) }, null, Deadline(), cancellationToken)).ConfigureAwait(false);
        var view = new FleetView(Keys);
        view.Reset(response.Kvs.Select(kv => KeyValuePair.Create(kv.Key.ToStringUtf8(), new FleetEntry(kv.Value.ToStringUtf8(), kv.ModRevision, kv.Lease))), response.Header.Revision);
        if (view.Get(Keys.Pool) is not { } record)
        {
            var prefix = Keys.Prefix == FleetKeys.DefaultPrefix ? string.Empty : $" --prefix {Keys.Prefix}";
            throw new FleetException($"There is no pool at {Keys.Prefix} on {Endpoints}: create it with 'portshare fleet init SPEC.json --etcd {Endpoints}{prefix}'.");
        }

        _ = ParsePool(record.Value);
        return view;
    }

    /// <summary>True when the member this client reaches is the cluster's leader (use with a single endpoint).</summary>
    public async Task<bool> IsLeaderAsync(CancellationToken cancellationToken = default)
    {
        var r = await Call(() => _client.StatusAsync(new StatusRequest(), null, Deadline(), cancellationToken)).ConfigureAwait(false);
        return r.Leader == r.Header.MemberId;
    }

    /// <summary>Seconds left on <paramref name="lease"/> (null when it is gone).</summary>
    public async Task<long?> TimeToLiveAsync(long lease, CancellationToken cancellationToken = default)
    {
        var r = await Call(() => _client.LeaseTimeToLiveAsync(new LeaseTimeToLiveRequest { ID = lease }, null, Deadline(), cancellationToken)).ConfigureAwait(false);
        return r.TTL > 0 ? r.TTL : null;
    }

    /// <summary>Every unit with its state, owner, lease TTL left and epoch (a drain order on the owner or the egress address shows as draining).</summary>
    public async Task<IReadOnlyList<UnitStatus>> StatusAsync(CancellationToken cancellationToken = default)
    {
        var view = await ReadAsync(cancellationToken).ConfigureAwait(false);
        var ttl = new Dictionary<long, long?>();
        var rows = new List<UnitStatus>();
        foreach (var u in view.Units())
        {
            var lease = u.Owner is not null ? u.OwnerLease : u.HoldLease;
            long? left = null;
            if (lease != 0)
            {
                if (!ttl.TryGetValue(lease, out left))
                {
                    left = ttl[lease] = await TimeToLiveAsync(lease, cancellationToken).ConfigureAwait(false);
                }
            }

            var state = u.Owner is { } o
                ? (view.IsDrained(o.Host) || view.IsDrained(u.Egress) ? "draining" : "owned")
                : u.Hold is not null ? "quarantined" : "free";
            rows.Add(new UnitStatus(u.Egress.ToString(), u.Range.ToString(), u.RoutedTo?.Host, state, left, u.Owner is null ? null : u.Epoch));
        }

        return rows;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _client.Dispose();
        _channel.Dispose();
    }

    private PoolSpec ParsePool(string value)
    {
        try
        {
            return PoolSpec.Parse(value, $"the pool record {Keys.Pool} on {Endpoints}");
        }
        catch (FleetException ex)
        {
            throw new FleetException($"{ex.Message} (it was not written by this release of portshare, or was edited by hand)", ex);
        }
    }

    internal async Task<T> Call<T>(Func<Task<T>> call)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (RpcException ex) when (ex.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded)
        {
            throw new FleetException($"etcd at {Endpoints} is unreachable ({Cause(ex)}); check --etcd and that etcd is running.", ex);
        }
        catch (RpcException ex) when (ex.StatusCode is StatusCode.Cancelled)
        {
            throw new OperationCanceledException($"The call to etcd at {Endpoints} was cancelled.", ex);
        }
        catch (RpcException ex) when (ex.Status.DebugException is HttpProtocolException or HttpRequestException or IOException)
        {
            // The connection broke under the call (no answer to a ping, a GOAWAY): that is etcd lost, not a refusal.
            throw new FleetException($"The connection to etcd at {Endpoints} was lost ({ex.Status.DebugException.Message.TrimEnd('.')}); check that etcd is running and reachable.", ex);
        }
        catch (RpcException ex)
        {
            throw new FleetException($"etcd at {Endpoints} refused the request: {ex.Status.StatusCode} {ex.Status.Detail}", ex);
        }
    }

    internal static DateTime Deadline() => DateTime.UtcNow + s_callTimeout;

    // gRPC's detail for a refused connection is "Error connecting to subchannel." and for a timeout nothing: the socket
    // error underneath says what happened.
    private static string Cause(RpcException ex)
    {
        for (var e = ex.Status.DebugException; e is not null; e = e.InnerException)
        {
            if (e is System.Net.Sockets.SocketException s)
            {
                return s.Message;
            }
        }

        return ex.StatusCode == StatusCode.DeadlineExceeded
            ? $"no answer within {s_callTimeout.TotalSeconds:F0} s"
            : ex.Status.Detail.Length > 0 ? ex.Status.Detail.TrimEnd('.') : ex.StatusCode.ToString();
    }

    private static bool HasExplicitPort(string url)
    {
        // Uri fills in the scheme's default port, so look at the authority as written: "host:port" or "[v6]:port".
        var rest = url[(url.IndexOf("://", StringComparison.Ordinal) + 3)..];
        var end = rest.IndexOfAny(['/', '?', '#']);
        var authority = end < 0 ? rest : rest[..end];
        var colon = authority.LastIndexOf(':');
        return colon > authority.LastIndexOf(']') && colon < authority.Length - 1 && authority[(colon + 1)..].All(char.IsAsciiDigit);
    }

    internal static ByteString Bytes(string s) => ByteString.CopyFromUtf8(s);
}
