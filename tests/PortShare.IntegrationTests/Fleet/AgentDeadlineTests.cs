using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using PortShare.Fleet;

namespace PortShare.IntegrationTests.Fleet;

/// <summary>
/// The agent's local deadline on a real etcd that stops answering: the host file must lose its ports before the lease
/// could end, however long a call to etcd hangs (an agent run in-process on a recording host; no namespace needed).
/// </summary>
public sealed class AgentDeadlineTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("portshare-deadline-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task With_etcd_frozen_the_host_stops_new_connections_before_the_lease_ttl()
    {
        await using var etcd = await EtcdServer.StartAsync();
        using var fleet = new EtcdFleet(etcd.Url);
        await fleet.InitAsync(
            PoolSpec.Parse("""{"unit_size": 64, "min_units": 1, "quarantine_seconds": 2, "lease_ttl_seconds": 4, "egress": [{"address": "192.0.2.1", "usable_range": "40000-40255"}]}""", "spec"),
            TestContext.Current.CancellationToken);
        var host = new RecordingHost();
        var agent = new FleetAgent(fleet, host, new AgentOptions { Host = "h1", NextHops = [IPAddress.Parse("10.9.0.2")], StatePath = Path.Combine(_dir, "h1.agent") });
        using var stop = new CancellationTokenSource();
        var run = agent.RunAsync(stop.Token);
        try
        {
            await host.WaitAsync(serving: true);

            // The margin is a quarter of the TTL (1 s): the host file must be empty within TTL - margin of the last
            // acknowledged keep-alive, which came before the freeze. A call to etcd hangs for 5 s on its own deadline.
            etcd.Pause();
            var frozen = Stopwatch.GetTimestamp();
            var emptied = await host.WaitAsync(serving: false);
            var after = Stopwatch.GetElapsedTime(frozen, emptied);
            Assert.True(after < TimeSpan.FromSeconds(3.5), $"the host file still offered the ports {after.TotalSeconds:F2} s after etcd froze (lease TTL 4 s, margin 1 s)");
            Assert.False(agent.Snapshot().Connected);

            // etcd answers again: the leases ended meanwhile or not, the host serves again with nothing moved to anyone else.
            etcd.Resume();
            await host.WaitAsync(serving: true);
        }
        finally
        {
            etcd.Resume();
            await stop.CancelAsync();
            await run;
        }
    }

    [Fact]
    public async Task An_agent_that_cannot_start_leaves_no_port_in_the_host_file_of_its_previous_run()
    {
        // A previous run served 40000-40063 (then died); this start cannot reach etcd, so nothing proves the lease.
        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        using var fleet = new EtcdFleet($"http://127.0.0.1:{((IPEndPoint)socket.LocalEndPoint!).Port}");
        var host = new RecordingHost(new HostSliceFile { Host = "h1", Slices = [new EgressSlice(IPAddress.Parse("192.0.2.1"), PortSlice.Parse("40000-40063"))] });
        var agent = new FleetAgent(fleet, host, new AgentOptions { Host = "h1", NextHops = [IPAddress.Parse("10.9.0.2")], StatePath = Path.Combine(_dir, "h1.agent") });

        var ex = await Assert.ThrowsAsync<FleetException>(() => agent.RunAsync(TestContext.Current.CancellationToken));

        Assert.Contains("is unreachable", ex.Message, StringComparison.Ordinal);
        Assert.Empty(host.Current()!.Slices);

        // The egress address stays set up: the previous run's live connections still use it.
        Assert.Equal([IPAddress.Parse("192.0.2.1")], host.LastEgress);
    }

    /// <summary>Records what the agent serves, with the monotonic time of each change.</summary>
    private sealed class RecordingHost(HostSliceFile? current = null) : IAgentHost
    {
        private readonly ConcurrentQueue<(long At, bool Serving)> _served = new();
        private readonly SemaphoreSlim _changed = new(0);
        private HostSliceFile? _current = current;

        public IReadOnlyCollection<IPAddress> LastEgress { get; private set; } = [];

        public void Serve(HostSliceFile serving, IReadOnlyCollection<IPAddress> egress)
        {
            _current = serving;
            LastEgress = egress;
            _served.Enqueue((Stopwatch.GetTimestamp(), serving.Slices.Count > 0));
            _changed.Release();
        }

        public void Renew(HostSliceFile serving) => _current = serving;

        public HostSliceFile? Current() => _current;

        public int LiveConnections(IPAddress egress, PortRange range) => 0;

        public IReadOnlyList<PortShare.Diagnostics.DiagSocket> Sockets(IPAddress egress, PortRange range) => [];

        /// <summary>Waits for the next change to <paramref name="serving"/> and returns its time.</summary>
        public async Task<long> WaitAsync(bool serving)
        {
            using var limit = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
            limit.CancelAfter(TimeSpan.FromSeconds(30));
            while (true)
            {
                while (_served.TryDequeue(out var s))
                {
                    if (s.Serving == serving)
                    {
                        return s.At;
                    }
                }

                await _changed.WaitAsync(limit.Token);
            }
        }
    }
}
