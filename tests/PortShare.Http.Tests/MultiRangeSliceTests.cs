using System.Net;
using System.Net.Http;
using PortShare.Connect;
using PortShare.Http.Tests.Infrastructure;

namespace PortShare.Http.Tests;

/// <summary>
/// A slice of several ranges (reserved ports, or another host's, between them): every port of every range is used, no
/// port between them ever is, and a host file that changes is followed without a restart.
/// </summary>
public sealed class MultiRangeSliceTests
{
    public static TheoryData<ConnectStrategy> Strategies => [ConnectStrategy.Kernel, ConnectStrategy.Fallback];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [MemberData(nameof(Strategies))]
    public async Task Parallel_requests_fill_every_port_of_both_ranges_and_none_between(ConnectStrategy strategy)
    {
        Assert.SkipWhen(strategy == ConnectStrategy.Kernel && !HostFacts.SupportsLocalPortRange(), $"kernel {HostFacts.KernelRelease()} has no IP_LOCAL_PORT_RANGE.");
        var span = TestSlices.Pick(24);
        var slice = PortSlice.From([new PortRange(span.Low, (ushort)(span.Low + 7)), new PortRange((ushort)(span.Low + 16), span.High)]);
        const int ports = 16;

        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var arrived = 0;
        var allHeld = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await LoopbackServer.StartAsync(IPAddress.Loopback, async _ =>
        {
            if (Interlocked.Increment(ref arrived) == ports)
            {
                allHeld.TrySetResult();
            }

            await release.Task;
        });

        using var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 64 }.UsePortSlice(slice, IPAddress.Loopback, strategy));
        var requests = Enumerable.Range(0, ports).Select(_ => client.GetStringAsync(server.BaseAddress, Ct)).ToArray();
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        deadline.CancelAfter(TimeSpan.FromSeconds(30));
        await allHeld.Task.WaitAsync(deadline.Token);

        // Every port of both ranges now carries a connection to the server: one more has none left.
        var ex = await Assert.ThrowsAsync<HttpRequestException>(() => client.GetStringAsync(server.BaseAddress, deadline.Token));
        var exhausted = Assert.IsType<SliceExhaustedException>(ex.InnerException);
        Assert.Equal(slice, exhausted.Slice);
        Assert.Contains($"{slice.Ranges[0]},{slice.Ranges[1]} (16 ports in 2 ranges, every one tried)", exhausted.Message, StringComparison.Ordinal);

        release.SetResult();
        var answers = await Task.WhenAll(requests).WaitAsync(deadline.Token);
        var used = answers.Select(a => IPEndPoint.Parse(a).Port).Order().ToList();
        Assert.Equal(Enumerable.Range(0, slice.Count).Select(i => (int)slice.PortAt(i)), used);
    }

    [Fact]
    public async Task A_host_file_connector_follows_the_file_when_it_is_rewritten()
    {
        await using var server = await LoopbackServer.StartAsync(IPAddress.Loopback);
        var first = TestSlices.Pick(8);
        var second = TestSlices.Pick(8);
        var dir = Directory.CreateTempSubdirectory("portshare-http-hostfile-");
        try
        {
            var path = Path.Combine(dir.FullName, "host.json");
            Write(path, first);
            var connector = new HostSliceConnector(path: path);
            using var client = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.Zero }.UsePortSlice(connector));
            var seen = IPEndPoint.Parse(await client.GetStringAsync(server.BaseAddress, Ct));
            Assert.Equal(IPAddress.Loopback, seen.Address);
            Assert.True(first.Contains(seen.Port), $"port {seen.Port} is outside {first}");

            // host apply (or the fleet agent) rewrites the file: the next connection comes from the new slice.
            Write(path, second);
            await Task.Delay(HostSliceConnector.CheckInterval + TimeSpan.FromMilliseconds(200), Ct);
            seen = IPEndPoint.Parse(await client.GetStringAsync(server.BaseAddress, Ct));
            Assert.True(second.Contains(seen.Port), $"port {seen.Port} is outside the rewritten slice {second}");

            // A file that disappears fails closed: its ports may belong to another host now.
            File.Delete(path);
            await Task.Delay(HostSliceConnector.CheckInterval + TimeSpan.FromMilliseconds(200), Ct);
            var ex = await Assert.ThrowsAnyAsync<Exception>(() => client.GetStringAsync(server.BaseAddress, Ct));
            Assert.Contains("does not exist", ex.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private static void Write(string path, PortRange range) =>
        new HostSliceFile { Host = "h1", Slices = [new EgressSlice(IPAddress.Loopback, range)] }.Save(path);
}
