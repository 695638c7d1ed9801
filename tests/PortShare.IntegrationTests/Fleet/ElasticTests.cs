using System.Net.Sockets;
using PortShare.IntegrationTests.Infrastructure;
using PortShare.Lab;

namespace PortShare.IntegrationTests.Fleet;

/// <summary>
/// Elastic slices in the fleet lab: a host that fills toward one destination grows without a failed connect, an idle
/// host shrinks to its minimum (the units quarantined, then reused), and with the pool short the weights decide — all
/// with the lab's checker finding no port with two owners.
/// </summary>
[Collection(ExclusiveCollection.Name)]
public sealed class ElasticTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static FleetLabOptions Options(int hosts, int units, int unitSize) => new()
    {
        Cli = ["dotnet", Path.Combine(AppContext.BaseDirectory, "PortShare.Cli.dll")],
        Hosts = hosts,
        Units = units,
        UnitSize = unitSize,
        MinUnits = 1,
        MaxUnits = units,
        LeaseTtlSeconds = 4,
        QuarantineSeconds = 3,
        HoldDownSeconds = 1,
        IdleSeconds = 2,
    };

    [Fact]
    public async Task A_host_filling_toward_one_destination_grows_without_a_failed_connect_then_shrinks_when_idle_and_its_units_are_reused()
    {
        Root.Require();
        await using var lab = await FleetLab.StartAsync(Options(2, 4, 128), cancellationToken: Ct);
        await using var checker = FleetChecker.Start(lab);
        await lab.StartAgentAsync("h1", Ct);
        Assert.Equal(128, lab.ServedPorts("h1"));

        // 300 connections to one destination, one every 40 ms: more than two units hold.
        var sockets = new List<Socket>();
        var failures = new List<string>();
        var (connector, ns) = lab.Follow("h1");
        try
        {
            for (var i = 0; i < 300; i++)
            {
                try
                {
                    var s = await connector.ConnectAsync(FleetLab.ServerEndPoint, Ct);
                    sockets.Add(s);
                    await NetLab.ReadLineAsync(s, Ct);
                }
                catch (Exception ex) when (ex is PortShareException or SocketException)
                {
                    failures.Add($"connection {i}: {ex.Message}");
                }

                await Task.Delay(40, Ct);
            }

            Assert.True(failures.Count == 0, $"{failures.Count} failed connects: {string.Join(" | ", failures.Take(3))}; agent: {lab.Tail("h1")}");
            Assert.True(lab.ServedPorts("h1") >= 3 * 128, $"h1 serves {lab.ServedPorts("h1")} ports; agent: {lab.Tail("h1")}");
            Assert.Contains("Grew on 192.0.2.1", lab.Tail("h1"), StringComparison.Ordinal);
        }
        finally
        {
            foreach (var s in sockets)
            {
                await FleetLab.CloseAsync(s, Ct);
            }

            ns.Dispose();
        }

        // Idle now: h1 drains and releases down to its minimum; the released units go into quarantine.
        await WaitAsync(() => Task.FromResult(lab.ServedPorts("h1") == 128), TimeSpan.FromSeconds(30), "h1 shrinks to one unit", lab);
        await WaitAsync(async () => (await lab.Fleet.StatusAsync(Ct)).Count(s => s.Owner == "h1" && s.State == "owned") == 1, TimeSpan.FromSeconds(15), "h1 releases its extra units", lab);
        Assert.Contains((await lab.Fleet.StatusAsync(Ct)), s => s.Owner == "h1" && s.State == "quarantined");

        // After the quarantine the units are reused: h2 wants three, the only three not h1's.
        await WaitAsync(async () => (await lab.Fleet.StatusAsync(Ct)).Count(s => s.State == "free") == 3, TimeSpan.FromSeconds(15), "the released units free", lab);
        await lab.StartAgentAsync("h2", ["--min-units", "3"], Ct);
        Assert.Equal(3 * 128, lab.ServedPorts("h2"));
        Assert.Empty(await checker.StopAsync());
    }

    [Fact]
    public async Task With_the_pool_short_a_host_above_its_fair_share_yields_units_to_a_heavier_host_below_its_share()
    {
        Root.Require();
        await using var lab = await FleetLab.StartAsync(Options(2, 4, 64), cancellationToken: Ct);
        await using var checker = FleetChecker.Start(lab);
        await lab.StartAgentAsync("h1", Ct);
        await lab.StartAgentAsync("h2", ["--weight", "3"], Ct);

        // h1 (weight 1) fills first and takes every free unit: 3 of the 4.
        var h1 = await LoadAsync(lab, "h1", 160);
        await WaitAsync(() => Task.FromResult(lab.ServedPorts("h1") == 3 * 64), TimeSpan.FromSeconds(20), "h1 grows to 3 units", lab);

        // h2 (weight 3, fair share 3 of 4) fills: the pool is full, it waits, and h1 (share 1) yields until the shares hold.
        var h2 = await LoadAsync(lab, "h2", 55);
        await WaitAsync(async () => (await lab.Fleet.ReadAsync(Ct)).Wants().Any(w => w.Host == "h2"), TimeSpan.FromSeconds(10), "h2's want recorded", lab);
        await WaitAsync(() => Task.FromResult(lab.HostFile("h2")!.Slices[0].PoolFull), TimeSpan.FromSeconds(5), "h2's host file to say the pool is full", lab);
        LastExhaustion = null;
        h2.AddRange(await LoadMoreAsync(lab, "h2", h2.Count, 70));
        Assert.Contains("the fleet pool is full on 192.0.2.1", LastExhaustion ?? "(no exhaustion)", StringComparison.Ordinal);
        await WaitAsync(async () =>
        {
            h2.AddRange(await LoadMoreAsync(lab, "h2", h2.Count, 150));
            return lab.ServedPorts("h2") == 3 * 64 && lab.ServedPorts("h1") == 64;
        }, TimeSpan.FromSeconds(45), "h1 back to 1 unit and h2 up to 3", lab);
        Assert.Contains("above its fair share", lab.Tail("h1"), StringComparison.Ordinal);
        Assert.Empty(await checker.StopAsync());
        foreach (var s in h1.Concat(h2))
        {
            s.Dispose();
        }
    }

    private static string? LastExhaustion { get; set; }

    /// <summary>Opens <paramref name="count"/> connections from <paramref name="host"/> through its host file, tolerating exhaustion (a full pool).</summary>
    private static Task<List<Socket>> LoadAsync(FleetLab lab, string host, int count) => LoadMoreAsync(lab, host, 0, count);

    /// <summary>Adds connections from <paramref name="host"/> until it holds <paramref name="want"/>; on exhaustion (a full pool) it retries for up to 3 s, then returns what it has.</summary>
    private static async Task<List<Socket>> LoadMoreAsync(FleetLab lab, string host, int have, int want)
    {
        var sockets = new List<Socket>();
        var (connector, ns) = lab.Follow(host);
        using (ns)
        {
            var stuckSince = DateTime.MaxValue;
            for (var i = have; i < want;)
            {
                try
                {
                    var s = await connector.ConnectAsync(FleetLab.ServerEndPoint, Ct);
                    sockets.Add(s);
                    await NetLab.ReadLineAsync(s, Ct);
                    stuckSince = DateTime.MaxValue;
                    i++;
                }
                catch (SliceExhaustedException ex)
                {
                    LastExhaustion = ex.Message;
                    stuckSince = stuckSince == DateTime.MaxValue ? DateTime.UtcNow : stuckSince;
                    if (DateTime.UtcNow - stuckSince > TimeSpan.FromSeconds(3))
                    {
                        break;
                    }

                    await Task.Delay(200, Ct);
                }

                await Task.Delay(30, Ct);
            }
        }

        return sockets;
    }

    private static async Task WaitAsync(Func<Task<bool>> condition, TimeSpan limit, string what, FleetLab lab) =>
        Assert.True(await FleetLab.WaitAsync(condition, limit, Ct), $"timed out waiting for {what}; h1: {lab.Tail("h1")}; h2: {lab.Tail("h2")}");
}
