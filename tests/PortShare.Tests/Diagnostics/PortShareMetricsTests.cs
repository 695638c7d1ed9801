using System.Diagnostics.Metrics;
using PortShare.Diagnostics;

namespace PortShare.Tests.Diagnostics;

public class PortShareMetricsTests
{
    [Fact]
    public void Counters_are_published_on_the_PortShare_meter_with_protocol_and_mode_tags()
    {
        var seen = new List<(string Name, long Value, string? Protocol, string? Mode)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == PortShareMetrics.MeterName)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            string? protocol = null, mode = null;
            foreach (var t in tags)
            {
                protocol = t.Key == "protocol" ? (string?)t.Value : protocol;
                mode = t.Key == "mode" ? (string?)t.Value : mode;
            }

            // Other tests may record concurrently; keep only this test's distinctive mode tag.
            if (mode == "test-mode")
            {
                lock (seen)
                {
                    seen.Add((instrument.Name, value, protocol, mode));
                }
            }
        });
        listener.Start();

        PortShareMetrics.RecordAttempt("udp", "test-mode");
        PortShareMetrics.RecordRetries("udp", "test-mode", 3);
        PortShareMetrics.RecordRetries("udp", "test-mode", 0);
        PortShareMetrics.RecordConflict("tcp", "test-mode");
        PortShareMetrics.RecordExhaustion("udp", "test-mode");

        Assert.Equal(
            [
                (PortShareMetrics.ConnectAttemptsName, 1L, "udp", "test-mode"),
                (PortShareMetrics.ConnectRetriesName, 3L, "udp", "test-mode"),
                (PortShareMetrics.ConnectConflictsName, 1L, "tcp", "test-mode"),
                (PortShareMetrics.ConnectExhaustionsName, 1L, "udp", "test-mode"),
            ],
            seen);
    }
}
