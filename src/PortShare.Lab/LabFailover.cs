using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using PortShare.Connect;
using PortShare.Routing;

namespace PortShare.Lab;

/// <summary>What a failover run sends its replies through.</summary>
public enum FailoverMode
{
    /// <summary>PortShare: every router holds the same plan and no per-flow state.</summary>
    PortShare,

    /// <summary>SNAT with conntrack on every router (each to its own address), no state shared between them.</summary>
    Snat,
}

/// <summary>One host's connections in a failover run.</summary>
/// <param name="Host">The host.</param>
/// <param name="Connections">Connections opened before the failure.</param>
/// <param name="Survived">Connections still exchanging data at the end.</param>
/// <param name="LongestStall">The longest wait for an echo on any of its connections (to the end, for a lost one).</param>
public sealed record FailoverHostResult(string Host, int Connections, int Survived, TimeSpan LongestStall);

/// <summary>A failover run: per host, survivals and longest stall.</summary>
/// <param name="Mode">PortShare or SNAT.</param>
/// <param name="FailedRouter">The router removed half-way (<c>r1</c>).</param>
/// <param name="Hosts">Per host.</param>
/// <param name="Elapsed">How long the run took.</param>
public sealed record FailoverReport(FailoverMode Mode, string FailedRouter, IReadOnlyList<FailoverHostResult> Hosts, TimeSpan Elapsed)
{
    /// <summary>Connections opened.</summary>
    public int Connections => Hosts.Sum(h => h.Connections);

    /// <summary>Connections that survived.</summary>
    public int Survived => Hosts.Sum(h => h.Survived);
}

/// <summary>
/// <c>lab test --fail-router r1</c>: long-lived connections from every host exchange a byte with the server every
/// 100 ms through a lab of two routers (ECMP both ways); half-way, router r1's namespace is deleted (its links vanish,
/// the nexthop groups on the server and the hosts drop it). Reports per host how many connections still exchange data
/// at the end and the longest stall. With <see cref="FailoverMode.Snat"/> the routers masquerade instead (conntrack,
/// nothing shared): the flows r1 carried cannot continue through r2.
/// </summary>
public static class LabFailover
{
    private static readonly TimeSpan s_interval = TimeSpan.FromMilliseconds(100);

    /// <summary>The nftables table the SNAT mode installs on each router.</summary>
    public const string SnatTable = "psl_snat";

    /// <summary>Switches the lab's routers from PortShare's return path to SNAT with conntrack (each router to its own address).</summary>
    public static void UseSnat(LabState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        for (var k = 1; k <= state.Routers; k++)
        {
            NetLab.RouterOf(state, k).Remove();
            var tools = new NetTools(LabTopology.RouterNs(state.Prefix, k));
            var r = tools.Nft(["-f", "-"], $"table ip {SnatTable} {{\n\tchain post {{\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\t\tip saddr 198.51.100.0/24 oifname \"srv\" snat to {LabTopology.RouterSnat4(k)}\n\t}}\n}}\n");
            if (r.ExitCode != 0)
            {
                throw tools.Failed("nft", ["-f", "-"], r);
            }
        }
    }

    /// <summary>Runs the failover test; router <paramref name="failRouter"/> (1-based) is gone afterwards.</summary>
    public static async Task<FailoverReport> RunAsync(LabState state, FailoverMode mode, int connectionsPerHost = 8, TimeSpan? duration = null, int failRouter = 1, Action<string>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.Routers < 2)
        {
            throw new PortShareException("A failover test needs a lab with two routers: 'portshare lab up --routers 2'.");
        }

        if (state.Ipv6)
        {
            throw new PortShareException("The failover test runs over IPv4 (its SNAT comparison is IPv4): start the lab without --ipv6.");
        }

        var total = duration ?? TimeSpan.FromSeconds(4);
        var plan = NetLab.PlanOf(state).At(DateTimeOffset.UtcNow);
        var egress = NetLab.Egress(state);
        var server = new IPEndPoint(NetLab.Server(state), LabTopology.ServerPort);
        await using var srv = LabServer.Start(LabTopology.ServerNs(state.Prefix), server.Address);
        var sw = Stopwatch.StartNew();
        var failAt = total / 2;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        stop.CancelAfter(total);

        var namespaces = state.Hosts.ToDictionary(h => h, h => NetworkNamespace.Enter(LabTopology.HostNs(state.Prefix, h)));
        try
        {
            progress?.Invoke($"{connectionsPerHost} long-lived connections from each of {state.Hosts.Count} hosts ({(mode == FailoverMode.Snat ? "SNAT + conntrack" : "PortShare " + NetLab.BackendName(state.Backend))}), a byte every 100 ms; r{failRouter} is removed after {failAt.TotalSeconds:0.#} s");
            var sockets = new List<(string Host, Socket Socket)>();
            foreach (var h in state.Hosts)
            {
                var ns = namespaces[h];
                var connector = new SliceConnector(plan.HostFile(h).For(egress).Ports, egress, ConnectStrategy.Auto, ns);
                for (var i = 0; i < connectionsPerHost; i++)
                {
                    Socket s;
                    if (mode == FailoverMode.Snat)
                    {
                        s = ns.CreateSocket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                        await s.ConnectAsync(server, cancellationToken).ConfigureAwait(false);
                    }
                    else
                    {
                        s = await connector.ConnectAsync(server, cancellationToken).ConfigureAwait(false);
                    }

                    s.NoDelay = true;
                    await NetLab.ReadLineAsync(s, cancellationToken).ConfigureAwait(false);
                    sockets.Add((h, s));
                }
            }

            var loops = sockets.Select(c => Task.Run(() => ExchangeAsync(c.Socket, stop.Token), CancellationToken.None)).ToList();
            await Task.Delay(failAt, cancellationToken).ConfigureAwait(false);
            progress?.Invoke($"removing router r{failRouter} ({LabTopology.RouterNs(state.Prefix, failRouter)})");
            new NetTools().IpCheck("netns", "del", LabTopology.RouterNs(state.Prefix, failRouter));
            var results = await Task.WhenAll(loops).ConfigureAwait(false);
            foreach (var (_, s) in sockets)
            {
                s.Dispose();
            }

            var hosts = state.Hosts.Select(h =>
            {
                var mine = sockets.Select((c, i) => (c.Host, Result: results[i])).Where(x => x.Host == h).Select(x => x.Result).ToList();
                return new FailoverHostResult(h, mine.Count, mine.Count(r => r.Alive), mine.Select(r => r.LongestStall).DefaultIfEmpty().Max());
            }).ToList();
            return new FailoverReport(mode, $"r{failRouter}", hosts, sw.Elapsed);
        }
        finally
        {
            foreach (var ns in namespaces.Values)
            {
                ns.Dispose();
            }
        }
    }

    /// <summary>
    /// Sends a byte and waits for its echo every 100 ms until <paramref name="stop"/>; then one last exchange (5 s at
    /// most) says whether the connection is still alive, whatever the machine's load at that moment.
    /// </summary>
    private static async Task<(bool Alive, TimeSpan LongestStall)> ExchangeAsync(Socket socket, CancellationToken stop)
    {
        var buffer = new byte[16];
        var longest = TimeSpan.Zero;
        var wait = Stopwatch.StartNew();
        var pending = false;
        try
        {
            while (!stop.IsCancellationRequested)
            {
                wait.Restart();
                pending = true;
                await socket.SendAsync("x"u8.ToArray(), SocketFlags.None, stop).ConfigureAwait(false);
                if (await socket.ReceiveAsync(buffer, SocketFlags.None, stop).ConfigureAwait(false) == 0)
                {
                    return (false, Max(longest, wait.Elapsed));
                }

                pending = false;
                longest = Max(longest, wait.Elapsed);
                await Task.Delay(s_interval, stop).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // The run ended; the final exchange below decides.
        }
        catch (SocketException)
        {
            return (false, Max(longest, wait.Elapsed));
        }

        using var last = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            if (!pending)
            {
                wait.Restart();
                await socket.SendAsync("x"u8.ToArray(), SocketFlags.None, last.Token).ConfigureAwait(false);
            }

            // A cancelled receive may already hold the echo it was waiting for: any byte back means alive.
            var alive = await socket.ReceiveAsync(buffer, SocketFlags.None, last.Token).ConfigureAwait(false) > 0;
            return (alive, Max(longest, wait.Elapsed));
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException)
        {
            return (false, Max(longest, wait.Elapsed));
        }
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;
}
