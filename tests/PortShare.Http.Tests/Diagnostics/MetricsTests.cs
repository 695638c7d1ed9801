using System.Net;
using System.Net.Http;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using PortShare.Http.Diagnostics;
using PortShare.Http.Tests.Infrastructure;

namespace PortShare.Http.Tests.Diagnostics;

/// <summary>The PortShare meter's HTTP instruments. Tests run in parallel, so every check filters by its own slice.</summary>
public sealed class MetricsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Connects_and_ports_in_use_follow_open_connections()
    {
        using var connects = Collect<long>(PortShareHttpMetrics.Connects);
        using var durations = Collect<double>(PortShareHttpMetrics.ConnectDuration);
        using var portsInUse = Collect<long>(PortShareHttpMetrics.PortsInUse);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var held = 0;
        var allHeld = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await LoopbackServer.StartAsync(IPAddress.Loopback, async _ =>
        {
            if (Interlocked.Increment(ref held) == 3)
            {
                allHeld.TrySetResult();
            }

            await release.Task;
        });
        var slice = TestSlices.Pick(16);

        var client = new HttpClient(new SocketsHttpHandler().UsePortSlice(slice));
        var requests = Enumerable.Range(0, 3).Select(_ => client.GetStringAsync(server.BaseAddress, Ct)).ToArray();
        await allHeld.Task.WaitAsync(TimeSpan.FromSeconds(20), Ct);

        portsInUse.RecordObservableInstruments();
        Assert.Equal(3, LastOf(portsInUse, slice));
        Assert.Equal(3, SumOf(connects, slice));
        var measured = durations.GetMeasurementSnapshot().Where(m => Is(m.Tags, slice)).ToList();
        Assert.Equal(3, measured.Count);
        Assert.All(measured, m => Assert.InRange(m.Value, 0, 20));
        Assert.All(connects.GetMeasurementSnapshot().Where(m => Is(m.Tags, slice)), m => Assert.Contains(m.Tags["portshare.strategy"], new object?[] { "kernel", "fallback" }));

        release.SetResult();
        await Task.WhenAll(requests);
        client.Dispose();
        portsInUse.RecordObservableInstruments();
        Assert.Equal(0, LastOf(portsInUse, slice));
    }

    [Fact]
    public async Task Exhaustion_and_connect_failures_are_counted_with_an_error_type()
    {
        using var exhaustions = Collect<long>(PortShareHttpMetrics.Exhaustions);
        using var failures = Collect<long>(PortShareHttpMetrics.ConnectFailures);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await LoopbackServer.StartAsync(IPAddress.Loopback, _ => release.Task);
        var slice = TestSlices.Pick(2);

        using var client = new HttpClient(new SocketsHttpHandler().UsePortSlice(slice));
        var requests = Enumerable.Range(0, 3).Select(_ => client.GetStringAsync(server.BaseAddress, Ct)).ToArray();
        var failed = await Task.WhenAny(requests).WaitAsync(TimeSpan.FromSeconds(20), Ct);
        await Assert.ThrowsAsync<HttpRequestException>(() => failed);
        release.SetResult();
        await Task.WhenAll(requests.Where(r => r != failed));

        Assert.Equal(1, SumOf(exhaustions, slice));
        var failure = Assert.Single(failures.GetMeasurementSnapshot(), m => Is(m.Tags, slice));
        Assert.Equal("slice_exhausted", failure.Tags["error.type"]);

        // A refused connection is a failure too, but not an exhaustion.
        var closed = await LoopbackServer.StartAsync(IPAddress.Loopback);
        var refusedUri = closed.BaseAddress;
        await closed.DisposeAsync();
        await Assert.ThrowsAsync<HttpRequestException>(() => client.GetStringAsync(refusedUri, Ct));
        Assert.Contains(failures.GetMeasurementSnapshot(), m => Is(m.Tags, slice) && (string?)m.Tags["error.type"] == "connection_refused");
        Assert.Equal(1, SumOf(exhaustions, slice));
    }

    private static MetricCollector<T> Collect<T>(string instrument)
        where T : struct => new(null, PortShareHttpMetrics.MeterName, instrument);

    private static bool Is(IReadOnlyDictionary<string, object?> tags, PortRange slice) =>
        tags.TryGetValue("portshare.slice", out var value) && (string?)value == slice.ToString();

    private static long SumOf(MetricCollector<long> collector, PortRange slice) =>
        collector.GetMeasurementSnapshot().Where(m => Is(m.Tags, slice)).Sum(m => m.Value);

    private static long LastOf(MetricCollector<long> collector, PortRange slice) =>
        collector.GetMeasurementSnapshot().Last(m => Is(m.Tags, slice)).Value;
}
