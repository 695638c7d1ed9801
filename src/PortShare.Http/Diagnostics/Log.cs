using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using PortShare.Connect;

namespace PortShare.Http.Diagnostics;

/// <summary>
/// PortShare.Http's log messages (category <c>PortShare.Http</c>). Event ids are stable: dashboards and filters may rely
/// on them. Per-connection events are Debug; Information is logged once per configured slice.
/// </summary>
internal static partial class Log
{
    public const string Category = "PortShare.Http";

    [LoggerMessage(EventId = 1, EventName = "SliceConfigured", Level = LogLevel.Information,
        Message = "HTTP connections come from port slice {Slice} ({PortCount} ports), egress address {EgressAddress}, strategy {Strategy}.")]
    public static partial void SliceConfigured(ILogger logger, string slice, int portCount, string egressAddress, ConnectStrategy strategy);

    [LoggerMessage(EventId = 2, EventName = "Connected", Level = LogLevel.Debug,
        Message = "Connected to {Remote} from {Local} (slice {Slice}).")]
    public static partial void Connected(ILogger logger, IPEndPoint remote, EndPoint? local, string slice);

    [LoggerMessage(EventId = 3, EventName = "ConnectAttemptFailed", Level = LogLevel.Debug,
        Message = "Connecting to {Remote} from slice {Slice} failed ({SocketError}).")]
    public static partial void ConnectAttemptFailed(ILogger logger, IPEndPoint remote, string slice, SocketError socketError, Exception exception);

    [LoggerMessage(EventId = 4, EventName = "SliceExhausted", Level = LogLevel.Warning,
        Message = "No port of slice {Slice} is free toward {Remote}: the HTTP request fails. Fewer concurrent connections (MaxConnectionsPerServer), a larger slice, or another egress address helps.")]
    public static partial void SliceExhausted(ILogger logger, string slice, IPEndPoint remote, Exception exception);

    [LoggerMessage(EventId = 5, EventName = "SliceMisconfigured", Level = LogLevel.Error,
        Message = "Refusing to connect to {Remote} from slice {Slice}: the slice cannot be used safely.")]
    public static partial void SliceMisconfigured(ILogger logger, IPEndPoint remote, string slice, Exception exception);

    [LoggerMessage(EventId = 6, EventName = "NoAddressOfEgressFamily", Level = LogLevel.Debug,
        Message = "{Host} has no address of the egress address {EgressAddress}'s family.")]
    public static partial void NoAddressOfEgressFamily(ILogger logger, string host, IPAddress egressAddress);
}
