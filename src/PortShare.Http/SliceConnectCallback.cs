using System.Diagnostics;
using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Runtime.ExceptionServices;
using Microsoft.Extensions.Logging;
using PortShare.Connect;
using PortShare.Http.Diagnostics;

namespace PortShare.Http;

/// <summary>
/// The <see cref="SocketsHttpHandler.ConnectCallback"/> that opens every connection from a slice: resolves the host,
/// tries its addresses in order (as the default handler does), and counts and logs each attempt.
/// </summary>
internal sealed class SliceConnectCallback
{
    private readonly Func<SliceConnector> _connector;
    private readonly ILogger _logger;
    private Bound _bound;

    /// <summary>A callback that always connects through <paramref name="connector"/>.</summary>
    public SliceConnectCallback(SliceConnector connector, ILogger logger)
        : this(() => connector, logger)
    {
    }

    /// <summary>
    /// A callback that asks <paramref name="connector"/> for the connector on every connection, so a slice that changes
    /// (a <see cref="HostSliceConnector"/> following the host file) is used from the next connection on.
    /// </summary>
    public SliceConnectCallback(Func<SliceConnector> connector, ILogger logger)
    {
        _connector = connector;
        _logger = logger;
        _bound = new Bound(connector());
    }

    public SliceConnector Connector => Current().Connector;

    /// <summary>The connector with its metric tags, rebuilt when the connector changes.</summary>
    private Bound Current()
    {
        var connector = _connector();
        var bound = Volatile.Read(ref _bound);
        if (!ReferenceEquals(bound.Connector, connector))
        {
            bound = new Bound(connector);
            Volatile.Write(ref _bound, bound);
        }

        return bound;
    }

    private sealed class Bound
    {
        public Bound(SliceConnector connector)
        {
            Connector = connector;
            Slice = connector.Slice.ToString();
            Usage = PortShareHttpMetrics.UsageOf(connector.Slice, connector.LocalAddress);
            Tags =
            [
                new(PortShareHttpMetrics.SliceTag, Slice),
                new(PortShareHttpMetrics.StrategyTag, PortShareHttpMetrics.StrategyName(connector.Strategy)),
            ];
        }

        public SliceConnector Connector { get; }

        public string Slice { get; }

        public SliceUsage Usage { get; }

        public KeyValuePair<string, object?>[] Tags { get; }
    }

    /// <summary>
    /// Connects to <paramref name="context"/>'s host. <paramref name="cancellationToken"/> already carries the handler's
    /// <see cref="SocketsHttpHandler.ConnectTimeout"/> and the request's cancellation.
    /// </summary>
    public async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var host = context.DnsEndPoint.Host;
        var port = context.DnsEndPoint.Port;
        var bound = Current();
        var connector = bound.Connector;
        var (slice, tags) = (bound.Slice, bound.Tags);
        var addresses = await ResolveAsync(connector, slice, host, cancellationToken).ConfigureAwait(false);

        Exception? last = null;
        foreach (var address in addresses)
        {
            var remote = new IPEndPoint(address, port);
            var started = Stopwatch.GetTimestamp();
            Socket socket;
            try
            {
                socket = await connector.ConnectAsync(remote, cancellationToken).ConfigureAwait(false);
            }
            catch (SliceExhaustedException ex)
            {
                Failed(tags, started, "slice_exhausted");
                PortShareHttpMetrics.ExhaustionCounter.Add(1, tags);
                Log.SliceExhausted(_logger, slice, remote, ex);
                last = ex;
                continue;
            }
            catch (SliceMisconfiguredException ex)
            {
                // Fail closed: another address would not make the slice safe.
                Failed(tags, started, "slice_misconfigured");
                Log.SliceMisconfigured(_logger, remote, slice, ex);
                throw;
            }
            catch (SocketException ex)
            {
                Failed(tags, started, ErrorType(ex.SocketErrorCode));
                Log.ConnectAttemptFailed(_logger, remote, slice, ex.SocketErrorCode, ex);
                last = ex;
                continue;
            }

            try
            {
                // As the default handler: requests are written whole, so Nagle only adds latency.
                socket.NoDelay = true;
                var stream = new SliceNetworkStream(socket, bound.Usage);
                PortShareHttpMetrics.DurationHistogram.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, tags);
                PortShareHttpMetrics.ConnectCounter.Add(1, tags);
                Log.Connected(_logger, remote, socket.LocalEndPoint, slice);
                return stream;
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }

        ExceptionDispatchInfo.Throw(last!);
        return null!;
    }

    private async ValueTask<IPAddress[]> ResolveAsync(SliceConnector connector, string slice, string host, CancellationToken cancellationToken)
    {
        var addresses = IPAddress.TryParse(host, out var literal)
            ? [literal]
            : await Dns.GetHostAddressesAsync(host, cancellationToken).ConfigureAwait(false);
        addresses = Array.ConvertAll(addresses, a => a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a);

        var egress = connector.LocalAddress;
        if (egress is not null)
        {
            addresses = Array.FindAll(addresses, a => a.AddressFamily == egress.AddressFamily);
            if (addresses.Length == 0)
            {
                Log.NoAddressOfEgressFamily(_logger, host, egress);
                throw new SocketException((int)SocketError.HostNotFound, $"{host} has no address of the egress address {egress}'s family, so no connection can come from port slice {slice}.");
            }
        }
        else if (addresses.Length == 0)
        {
            throw new SocketException((int)SocketError.HostNotFound, $"{host} resolved to no address.");
        }

        return addresses;
    }

    private static void Failed(KeyValuePair<string, object?>[] baseTags, long started, string errorType)
    {
        var tags = new TagList(baseTags) { { PortShareHttpMetrics.ErrorTypeTag, errorType } };
        PortShareHttpMetrics.DurationHistogram.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, tags);
        PortShareHttpMetrics.FailureCounter.Add(1, tags);
    }

    private static string ErrorType(SocketError error) => error switch
    {
        SocketError.ConnectionRefused => "connection_refused",
        SocketError.TimedOut => "timed_out",
        SocketError.HostUnreachable => "host_unreachable",
        SocketError.NetworkUnreachable => "network_unreachable",
        SocketError.ConnectionReset => "connection_reset",
        SocketError.AddressNotAvailable => "address_not_available",
        SocketError.AddressAlreadyInUse => "address_in_use",
        _ => "socket_error",
    };
}

/// <summary>A <see cref="NetworkStream"/> that keeps <see cref="PortShareHttpMetrics.PortsInUse"/> up to date.</summary>
/// <remarks>
/// Still a <see cref="NetworkStream"/>, so the handler keeps using the socket directly (e.g. to check pooled
/// connections for liveness).
/// </remarks>
internal sealed class SliceNetworkStream : NetworkStream
{
    private readonly SliceUsage _usage;
    private readonly int _port;
    private int _released;

    public SliceNetworkStream(Socket socket, SliceUsage usage)
        : base(socket, ownsSocket: true)
    {
        _usage = usage;
        _port = ((IPEndPoint)socket.LocalEndPoint!).Port;
        usage.Acquire(_port);
    }

    protected override void Dispose(bool disposing)
    {
        if (Interlocked.Exchange(ref _released, 1) == 0)
        {
            _usage.Release(_port);
        }

        base.Dispose(disposing);
    }
}
