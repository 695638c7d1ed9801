using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace PortShare.Diagnostics;

/// <summary>
/// The <c>PortShare</c> meter (System.Diagnostics.Metrics). Every instrument is tagged with <c>protocol</c>
/// (<c>tcp</c>, <c>udp</c>) and <c>mode</c> (<c>kernel</c>, <c>fallback</c>, <c>shared</c>, <c>unique</c>). Listen with
/// <c>dotnet-counters monitor --counters PortShare</c>, OpenTelemetry's <c>AddMeter("PortShare")</c>, or a <see cref="MeterListener"/>.
/// </summary>
public static class PortShareMetrics
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "PortShare";

    /// <summary>Counter: connects asked for (one per call, however many ports it tries).</summary>
    public const string ConnectAttemptsName = "portshare.connect.attempts";

    /// <summary>Counter: extra tries inside one connect (another port, or a new socket after a conflict).</summary>
    public const string ConnectRetriesName = "portshare.connect.retries";

    /// <summary>Counter: tries that found their 4-tuple (or 2-tuple lock) taken by another socket.</summary>
    public const string ConnectConflictsName = "portshare.connect.conflicts";

    /// <summary>Counter: connects that failed because the slice had no free port toward the destination.</summary>
    public const string ConnectExhaustionsName = "portshare.connect.exhaustions";

    private static readonly Meter s_meter = new(MeterName, typeof(PortShareMetrics).Assembly.GetName().Version?.ToString());
    private static readonly Counter<long> s_attempts = s_meter.CreateCounter<long>(ConnectAttemptsName, "{connect}", "Connects from a slice asked for.");
    private static readonly Counter<long> s_retries = s_meter.CreateCounter<long>(ConnectRetriesName, "{try}", "Extra tries inside one connect.");
    private static readonly Counter<long> s_conflicts = s_meter.CreateCounter<long>(ConnectConflictsName, "{conflict}", "Tries whose tuple another socket held.");
    private static readonly Counter<long> s_exhaustions = s_meter.CreateCounter<long>(ConnectExhaustionsName, "{connect}", "Connects that found the slice full.");

    /// <summary>Protocol tag values.</summary>
    internal const string Tcp = "tcp";

    /// <summary>Protocol tag values.</summary>
    internal const string Udp = "udp";

    internal static void RecordAttempt(string protocol, string mode) => Add(s_attempts, 1, protocol, mode);

    internal static void RecordRetries(string protocol, string mode, long count) => Add(s_retries, count, protocol, mode);

    internal static void RecordConflict(string protocol, string mode) => Add(s_conflicts, 1, protocol, mode);

    internal static void RecordExhaustion(string protocol, string mode) => Add(s_exhaustions, 1, protocol, mode);

    private static void Add(Counter<long> counter, long value, string protocol, string mode)
    {
        if (value > 0 && counter.Enabled)
        {
            counter.Add(value, new TagList { { "protocol", protocol }, { "mode", mode } });
        }
    }
}
