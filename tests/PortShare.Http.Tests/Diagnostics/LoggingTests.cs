using System.Net;
using System.Net.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using PortShare.Http.Tests.Infrastructure;

namespace PortShare.Http.Tests.Diagnostics;

public sealed class LoggingTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Connections_log_at_Debug_only_with_stable_event_ids()
    {
        await using var server = await LoopbackServer.StartAsync(IPAddress.Loopback);
        var logger = new FakeLogger();
        using var client = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.Zero }.UsePortSlice(TestSlices.Pick(16), logger: logger));
        for (var i = 0; i < 5; i++)
        {
            await client.GetStringAsync(server.BaseAddress, Ct);
        }

        var records = logger.Collector.GetSnapshot();
        Assert.DoesNotContain(records, r => r.Level >= LogLevel.Information);
        var connected = records.Where(r => r.Id.Id == 2).ToList();
        Assert.Equal(5, connected.Count);
        Assert.All(connected, r => Assert.Equal("Connected", r.Id.Name));
    }

    [Fact]
    public async Task Exhaustion_is_a_Warning_with_event_id_4()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await LoopbackServer.StartAsync(IPAddress.Loopback, _ => release.Task);
        var logger = new FakeLogger();
        var slice = TestSlices.Pick(2);
        using var client = new HttpClient(new SocketsHttpHandler().UsePortSlice(slice, logger: logger));
        var requests = Enumerable.Range(0, 3).Select(_ => client.GetStringAsync(server.BaseAddress, Ct)).ToArray();
        var failed = await Task.WhenAny(requests).WaitAsync(TimeSpan.FromSeconds(20), Ct);
        await Assert.ThrowsAsync<HttpRequestException>(() => failed);
        release.SetResult();
        await Task.WhenAll(requests.Where(r => r != failed));

        var warning = Assert.Single(logger.Collector.GetSnapshot(), r => r.Level == LogLevel.Warning);
        Assert.Equal(4, warning.Id.Id);
        Assert.Equal("SliceExhausted", warning.Id.Name);
        Assert.Contains($"No port of slice {slice} is free toward 127.0.0.1:{server.Port}", warning.Message, StringComparison.Ordinal);
        Assert.IsType<SliceExhaustedException>(warning.Exception);
    }
}
