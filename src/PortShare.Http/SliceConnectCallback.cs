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
    private readonly SliceConnector _connector;
    private readonly ILogger _logger;
    private readonly SliceUsage _usage;
    private readonly string _slice;
    private readonly KeyValuePair<string, object?>[] _tags;

    public SliceConnectCallback(SliceConnector connector, ILogger logger)
    {
        _connector = connector;
        _logger = logger;
        _slice = connector.Slice.ToString();
        _usage = PortShareHttpMetrics.UsageOf(connector.Slice, connector.LocalAddress);
        _tags =
        [
            new(PortShareHttpMetrics.SliceTag, _slice),
            new(PortShareHttpMetrics.StrategyTag, PortShareHttpMetrics.StrategyName(connector.Strategy)),
        ];
    }

    public SliceConnector Connector => _connector;

    /// <summary>
    /// Connects to <paramref name="context"/>'s host. <paramref name="cancellationToken"/> already carries the handler's
    /// <see cref="SocketsHttpHandler.ConnectTimeout"/> and the request's cancellation.
    /// </summary>
    public async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var host = context.DnsEndPoint.Host;
        var port = context.DnsEndPoint.Port;
        var addresses = await ResolveAsync(host, cancellationToken).ConfigureAwait(false);

        Exception? last = null;
        foreach (var address in addresses)
        {
            var remote = new IPEndPoint(address, port);
            var started = Stopwatch.GetTimestamp();
            Socket socket;
            try
            {
                socket = await _connector.ConnectAsync(remote, cancellationToken).ConfigureAwait(false);
            }
            catch (SliceExhaustedException ex)
            {
                Failed(started, "slice_exhausted");
                PortShareHttpMetrics.ExhaustionCounter.Add(1, _tags);
                Log.SliceExhausted(_logger, _slice, remote, ex);
                last = ex;
                continue;
            }
            catch (SliceMisconfiguredException ex)
            {
                // Fail closed: another address would not make the slice safe.
                Failed(started, "slice_misconfigured");
                Log.SliceMisconfigured(_logger, remote, _slice, ex);
                throw;
            }
            catch (SocketException ex)
            {
                Failed(started, ErrorType(ex.SocketErrorCode));
                Log.ConnectAttemptFailed(_logger, remote, _slice, ex.SocketErrorCode, ex);
                last = ex;
                continue;
            }

            try
            {
                // As the default handler: requests are written whole, so Nagle only adds latency.
                socket.NoDelay = true;
                var stream = new SliceNetworkStream(socket, _usage);
                PortShareHttpMetrics.DurationHistogram.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, _tags);
                PortShareHttpMetrics.ConnectCounter.Add(1, _tags);
                Log.Connected(_logger, remote, socket.LocalEndPoint, _slice);
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

    private async ValueTask<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken)
    {
        var addresses = IPAddress.TryParse(host, out var literal)
            ? [literal]
            : await Dns.GetHostAddressesAsync(host, cancellationToken).ConfigureAwait(false);

        var egress = _connector.LocalAddress;
        if (egress is not null)
        {
            addresses = Array.FindAll(addresses, a => a.AddressFamily == egress.AddressFamily);
            if (addresses.Length == 0)
            {
                Log.NoAddressOfEgressFamily(_logger, host, egress);
                throw new SocketException((int)SocketError.HostNotFound, $"{host} has no address of the egress address {egress}'s family, so no connection can come from port slice {_slice}.");
            }
        }
        else if (addresses.Length == 0)
        {
            throw new SocketException((int)SocketError.HostNotFound, $"{host} resolved to no address.");
        }

        return addresses;
    }

    private void Failed(long started, string errorType)
    {
        var tags = new TagList(_tags) { { PortShareHttpMetrics.ErrorTypeTag, errorType } };
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
