using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using PortShare.Connect;

namespace PortShare.Http.Diagnostics;

/// <summary>
/// Names of the metrics PortShare.Http publishes on the meter <see cref="MeterName"/> (for OpenTelemetry's
/// <c>AddMeter("PortShare")</c> or <c>dotnet-counters monitor --counters PortShare</c>). Every measurement carries the
/// tags <c>portshare.slice</c> (<c>LO-HI</c>) and <c>portshare.strategy</c> (<c>kernel</c> or <c>fallback</c>); failures add
/// <c>error.type</c> (<c>slice_exhausted</c>, <c>slice_misconfigured</c>, or the socket error, e.g. <c>connection_refused</c>).
/// </summary>
public static class PortShareHttpMetrics
{
    /// <summary>The meter's name, shared with PortShare's other instruments.</summary>
    public const string MeterName = "PortShare";

    /// <summary>Counter: TCP connections opened from the slice for HTTP.</summary>
    public const string Connects = "portshare.http.connects";

    /// <summary>Counter: connection attempts (one per destination address tried) that failed, by <c>error.type</c>; exhaustions included.</summary>
    public const string ConnectFailures = "portshare.http.connect_failures";

    /// <summary>Counter: connection attempts that failed because no port of the slice was free toward the destination.</summary>
    public const string Exhaustions = "portshare.http.exhaustions";

    /// <summary>Histogram (seconds): the time one connection attempt took, successful or not.</summary>
    public const string ConnectDuration = "portshare.http.connect.duration";

    /// <summary>
    /// Observable up-down counter: local ports of the slice that carry at least one open HTTP connection made by this
    /// process (tags <c>portshare.slice</c> and <c>portshare.egress</c>, <c>*</c> when no egress address is bound).
    /// </summary>
    public const string PortsInUse = "portshare.http.ports_in_use";

    internal const string SliceTag = "portshare.slice";
    internal const string StrategyTag = "portshare.strategy";
    internal const string EgressTag = "portshare.egress";
    internal const string ErrorTypeTag = "error.type";

    // Another PortShare component may create its own Meter named "PortShare": listeners match by name, so they coexist.
    private static readonly Meter s_meter = new(MeterName, typeof(PortShareHttpMetrics).Assembly.GetName().Version?.ToString());

    internal static readonly Counter<long> ConnectCounter = s_meter.CreateCounter<long>(
        Connects, "{connection}", "TCP connections opened from the host's port slice for HTTP.");

    internal static readonly Counter<long> FailureCounter = s_meter.CreateCounter<long>(
        ConnectFailures, "{attempt}", "HTTP connection attempts from the port slice that failed, by error.type.");

    internal static readonly Counter<long> ExhaustionCounter = s_meter.CreateCounter<long>(
        Exhaustions, "{attempt}", "HTTP connection attempts that found no free port of the slice toward the destination.");

    internal static readonly Histogram<double> DurationHistogram = s_meter.CreateHistogram<double>(
        ConnectDuration, "s", "Duration of one HTTP connection attempt from the port slice.");

    private static readonly ConcurrentDictionary<(PortSlice Slice, IPAddress? Egress), SliceUsage> s_usage = new();

    private static readonly ObservableUpDownCounter<long> s_portsInUse = s_meter.CreateObservableUpDownCounter(
        PortsInUse, ObservePortsInUse, "{port}", "Ports of the slice carrying at least one open HTTP connection of this process.");

    internal static SliceUsage UsageOf(PortSlice slice, IPAddress? egress)
    {
        GC.KeepAlive(s_portsInUse);
        return s_usage.GetOrAdd((slice, egress), static key => new SliceUsage(key.Slice, key.Egress));
    }

    internal static string StrategyName(ConnectStrategy strategy) => strategy switch
    {
        ConnectStrategy.Kernel => "kernel",
        ConnectStrategy.Fallback => "fallback",
        _ => "auto",
    };

    private static IEnumerable<Measurement<long>> ObservePortsInUse()
    {
        foreach (var usage in s_usage.Values)
        {
            yield return new Measurement<long>(usage.PortsInUse, usage.Tags);
        }
    }
}

/// <summary>Reference counts of open connections per local port of one slice (one port may serve several destinations).</summary>
internal sealed class SliceUsage
{
    private readonly int[] _connections;
    private readonly PortSlice _slice;
    private int _portsInUse;

    public SliceUsage(PortSlice slice, IPAddress? egress)
    {
        _slice = slice;
        _connections = new int[slice.Count];
        Tags =
        [
            new(PortShareHttpMetrics.SliceTag, slice.ToString()),
            new(PortShareHttpMetrics.EgressTag, egress?.ToString() ?? "*"),
        ];
    }

    public KeyValuePair<string, object?>[] Tags { get; }

    public int PortsInUse => Volatile.Read(ref _portsInUse);

    public void Acquire(int port)
    {
        if (Interlocked.Increment(ref _connections[_slice.IndexOf(port)]) == 1)
        {
            Interlocked.Increment(ref _portsInUse);
        }
    }

    public void Release(int port)
    {
        if (Interlocked.Decrement(ref _connections[_slice.IndexOf(port)]) == 0)
        {
            Interlocked.Decrement(ref _portsInUse);
        }
    }
}
