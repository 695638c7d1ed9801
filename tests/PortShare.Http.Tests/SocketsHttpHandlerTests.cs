using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using PortShare.Connect;
using PortShare.Http.Tests.Infrastructure;

namespace PortShare.Http.Tests;

/// <summary>SocketsHttpHandler.UsePortSlice against a real Kestrel server on loopback.</summary>
public sealed class SocketsHttpHandlerTests
{
    public static TheoryData<ConnectStrategy> Strategies => [ConnectStrategy.Kernel, ConnectStrategy.Fallback];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [MemberData(nameof(Strategies))]
    public async Task Every_request_over_IPv4_comes_from_the_slice(ConnectStrategy strategy)
    {
        SkipUnlessSupported(strategy);
        await using var server = await LoopbackServer.StartAsync(IPAddress.Loopback);
        var slice = TestSlices.Pick(16);

        // No pooling: each request opens a new connection, so each one is checked.
        using var client = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.Zero }.UsePortSlice(slice, strategy: strategy));
        for (var i = 0; i < 10; i++)
        {
            var seen = await client.GetStringAsync(server.BaseAddress, Ct);
            Assert.StartsWith("127.0.0.1:", seen, StringComparison.Ordinal);
        }

        Assert.Equal(10, server.Clients.Count);
        Assert.All(server.Clients, c => Assert.True(slice.Contains(c.Port), $"client port {c.Port} is outside slice {slice}"));
        Assert.True(server.Clients.Select(c => c.Port).Distinct().Count() > 1, "a new connection per request was expected");
    }

    [Theory]
    [MemberData(nameof(Strategies))]
    public async Task Every_request_over_IPv6_comes_from_the_slice(ConnectStrategy strategy)
    {
        SkipUnlessSupported(strategy);
        Assert.SkipUnless(TestSlices.HasIPv6Loopback(), "IPv6 loopback (::1) is not available here.");
        await using var server = await LoopbackServer.StartAsync(IPAddress.IPv6Loopback);
        var slice = TestSlices.Pick(16);

        using var client = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.Zero }.UsePortSlice(slice, IPAddress.IPv6Loopback, strategy));
        for (var i = 0; i < 10; i++)
        {
            await client.GetStringAsync(server.BaseAddress, Ct);
        }

        Assert.Equal(10, server.Clients.Count);
        Assert.All(server.Clients, c =>
        {
            Assert.Equal(IPAddress.IPv6Loopback, c.Address);
            Assert.True(slice.Contains(c.Port), $"client port {c.Port} is outside slice {slice}");
        });
    }

    [Fact]
    public async Task Pooling_still_reuses_one_connection_for_sequential_requests()
    {
        await using var server = await LoopbackServer.StartAsync(IPAddress.Loopback);
        var slice = TestSlices.Pick(16);

        using var client = new HttpClient(new SocketsHttpHandler().UsePortSlice(slice));
        for (var i = 0; i < 100; i++)
        {
            await client.GetStringAsync(server.BaseAddress, Ct);
        }

        var ports = server.Clients.Select(c => c.Port).Distinct().ToArray();
        Assert.Single(ports);
        Assert.True(slice.Contains(ports[0]));
    }

    [Theory]
    [MemberData(nameof(Strategies))]
    public async Task Two_port_slice_under_four_parallel_requests_fails_the_extra_two_with_exhaustion_not_a_hang(ConnectStrategy strategy)
    {
        SkipUnlessSupported(strategy);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var held = 0;
        var bothHeld = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await LoopbackServer.StartAsync(IPAddress.Loopback, async _ =>
        {
            if (Interlocked.Increment(ref held) == 2)
            {
                bothHeld.TrySetResult();
            }

            await release.Task;
        });
        var slice = TestSlices.Pick(2);

        using var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 4 }.UsePortSlice(slice, strategy: strategy));
        var requests = Enumerable.Range(0, 4).Select(_ => client.GetStringAsync(server.BaseAddress, Ct)).ToArray();

        // The two requests without a port fail at once; the two with one are held until released.
        var pending = requests.ToList();
        var failed = new List<HttpRequestException>();
        using (var deadline = CancellationTokenSource.CreateLinkedTokenSource(Ct))
        {
            deadline.CancelAfter(TimeSpan.FromSeconds(20));
            await bothHeld.Task.WaitAsync(deadline.Token);
            while (failed.Count < 2)
            {
                var done = await Task.WhenAny(pending).WaitAsync(deadline.Token);
                pending.Remove(done);
                failed.Add(await Assert.ThrowsAsync<HttpRequestException>(() => done));
            }

            release.SetResult();
            var answers = await Task.WhenAll(pending).WaitAsync(deadline.Token);
            Assert.Equal(2, answers.Length);
            Assert.All(answers, a => Assert.True(slice.Contains(IPEndPoint.Parse(a).Port)));
        }

        Assert.All(failed, ex =>
        {
            var exhausted = Assert.IsType<SliceExhaustedException>(ex.InnerException);
            Assert.Equal(slice, exhausted.Slice);
            Assert.Contains($"Port slice {slice} (2 ports) is exhausted", ex.Message, StringComparison.Ordinal);
        });
    }

    [Fact]
    public async Task Host_names_are_resolved_and_addresses_tried_in_order()
    {
        // localhost usually resolves to ::1 and 127.0.0.1; the server listens on 127.0.0.1 only, so when ::1 comes
        // first it is refused and the next address must be tried.
        var addresses = await Dns.GetHostAddressesAsync("localhost", Ct);
        Assert.SkipUnless(addresses.Contains(IPAddress.Loopback), "localhost does not resolve to 127.0.0.1 here.");
        await using var server = await LoopbackServer.StartAsync(IPAddress.Loopback);
        var slice = TestSlices.Pick(16);

        using var client = new HttpClient(new SocketsHttpHandler().UsePortSlice(slice));
        var seen = IPEndPoint.Parse(await client.GetStringAsync(new Uri($"http://localhost:{server.Port}/"), Ct));
        Assert.Equal(IPAddress.Loopback, seen.Address);
        Assert.True(slice.Contains(seen.Port));
    }

    [Fact]
    public async Task An_egress_address_limits_connections_to_its_family()
    {
        await using var server = await LoopbackServer.StartAsync(IPAddress.Loopback);
        var slice = TestSlices.Pick(16);

        using var client = new HttpClient(new SocketsHttpHandler().UsePortSlice(slice, IPAddress.Loopback));
        var seen = IPEndPoint.Parse(await client.GetStringAsync(new Uri($"http://localhost:{server.Port}/"), Ct));
        Assert.True(slice.Contains(seen.Port));

        var ex = await Assert.ThrowsAsync<HttpRequestException>(() => client.GetStringAsync(new Uri($"http://[::1]:{server.Port}/"), Ct));
        var socketError = Assert.IsType<SocketException>(ex.InnerException);
        Assert.Contains("egress address 127.0.0.1", socketError.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_cancelled_request_is_cancelled_not_connected()
    {
        await using var server = await LoopbackServer.StartAsync(IPAddress.Loopback);
        var slice = TestSlices.Pick(16);
        using var client = new HttpClient(new SocketsHttpHandler().UsePortSlice(slice));
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.GetStringAsync(server.BaseAddress, cancelled.Token));
        Assert.Empty(server.Clients);
    }

    [Fact]
    public async Task The_connect_timeout_reaches_the_connector_as_cancellation()
    {
        // A listener with a full backlog never completes a handshake on loopback (the SYN is dropped), so only
        // the handler's ConnectTimeout ends the connect.
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(0);
        var target = (IPEndPoint)listener.LocalEndPoint!;
        var fillers = new List<Socket>();
        try
        {
            // Fill the accept queue (backlog 0 still queues one or two connections).
            for (var i = 0; i < 4; i++)
            {
                var filler = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                fillers.Add(filler);
                _ = filler.ConnectAsync(target, Ct).AsTask();
            }

            await Task.Delay(200, Ct);
            var slice = TestSlices.Pick(16);
            using var client = new HttpClient(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromMilliseconds(500) }.UsePortSlice(slice));
            var started = Environment.TickCount64;
            var ex = await Assert.ThrowsAnyAsync<Exception>(() => client.GetStringAsync(new Uri($"http://{target}/"), Ct));
            var elapsed = Environment.TickCount64 - started;
            Assert.True(elapsed < 10_000, $"the connect timeout of 500 ms took {elapsed} ms to apply");
            Assert.True(Chain(ex).Any(e => e is TimeoutException), ex.ToString());
        }
        finally
        {
            fillers.ForEach(f => f.Dispose());
        }
    }

    [Fact]
    public void A_handler_with_its_own_ConnectCallback_is_not_silently_overridden()
    {
        var handler = new SocketsHttpHandler { ConnectCallback = (_, _) => throw new NotSupportedException() };
        var ex = Assert.Throws<InvalidOperationException>(() => handler.UsePortSlice(TestSlices.Pick(2)));
        Assert.Contains("already has a ConnectCallback", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_slice_outside_the_netns_range_is_refused_when_configuring()
    {
        var netns = HostFacts.ReadNetnsRange();
        Assert.SkipWhen(netns.Low <= 1024, "the netns range starts too low to place a slice below it.");
        var below = new PortRange(1000, 1001);
        var ex = Assert.Throws<SliceMisconfiguredException>(() => new SocketsHttpHandler().UsePortSlice(below));
        Assert.Contains("outside this network namespace's ip_local_port_range", ex.Message, StringComparison.Ordinal);
    }

    private static IEnumerable<Exception> Chain(Exception? ex)
    {
        for (; ex is not null; ex = ex.InnerException)
        {
            yield return ex;
        }
    }

    private static void SkipUnlessSupported(ConnectStrategy strategy) =>
        Assert.SkipWhen(strategy == ConnectStrategy.Kernel && !HostFacts.SupportsLocalPortRange(), $"kernel {HostFacts.KernelRelease()} has no IP_LOCAL_PORT_RANGE.");
}
