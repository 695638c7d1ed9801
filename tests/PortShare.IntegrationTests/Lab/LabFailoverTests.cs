using PortShare.IntegrationTests.Infrastructure;
using PortShare.Lab;
using PortShare.Routing;

namespace PortShare.IntegrationTests.Lab;

/// <summary>Two routers with the same plan and ECMP both ways: removing one loses no PortShare connection.</summary>
[Trait("Category", "RequiresRoot")]
public class LabFailoverTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Removing_a_router_mid_way_loses_no_connection_and_both_routers_agree_on_the_plan()
    {
        Root.Require();
        var state = NetLab.Up(new LabOptions { Hosts = 2, Backend = RouterBackend.Netdev, Routers = 2 }, cancellationToken: TestContext.Current.CancellationToken);
        try
        {
            Assert.Equal(2, state.RouterNamespaces.Count());
            var r1 = NetLab.RouterOf(state, 1).Status();
            var r2 = NetLab.RouterOf(state, 2).Status();
            Assert.Equal(r1.Digest, r2.Digest);
            Assert.Equal(NetLab.PlanOf(state).Generation, r1.Generation);
            Assert.Equal(r1.Generation, r2.Generation);

            var report = await LabFailover.RunAsync(state, FailoverMode.PortShare, connectionsPerHost: 4, duration: TimeSpan.FromSeconds(3), cancellationToken: Ct);
            Assert.Equal(8, report.Connections);
            Assert.True(report.Survived == report.Connections, string.Join("; ", report.Hosts.Select(h => $"{h.Host}: {h.Survived}/{h.Connections}, longest stall {h.LongestStall.TotalMilliseconds:0} ms")));
            Assert.False(File.Exists(Path.Combine("/run/netns", LabTopology.RouterNs(state.Prefix, 1))), "r1 was not removed");
        }
        finally
        {
            NetLab.Down(state);
        }

        Assert.All(state.Namespaces, ns => Assert.False(File.Exists(Path.Combine("/run/netns", ns)), $"{ns} left behind"));
    }

    [Fact]
    public async Task The_snat_comparison_runs_on_two_routers_with_conntrack()
    {
        Root.Require();
        var state = NetLab.Up(new LabOptions { Hosts = 2, Backend = RouterBackend.Netdev, Routers = 2 }, cancellationToken: TestContext.Current.CancellationToken);
        try
        {
            LabFailover.UseSnat(state);
            Assert.Equal("none", NetLab.RouterOf(state, 1).Status().Backend);
            var report = await LabFailover.RunAsync(state, FailoverMode.Snat, connectionsPerHost: 4, duration: TimeSpan.FromSeconds(3), cancellationToken: Ct);
            Assert.Equal(8, report.Connections);
            // Which flows r1 carried depends on the ECMP hash: how many SNAT loses is reported, not asserted.
            Assert.InRange(report.Survived, 0, 8);
        }
        finally
        {
            NetLab.Down(state);
        }
    }

    [Fact]
    public async Task A_one_router_lab_refuses_the_failover_test()
    {
        Root.Require();
        var state = NetLab.Up(new LabOptions { Hosts = 1 }, cancellationToken: TestContext.Current.CancellationToken);
        try
        {
            var ex = await Assert.ThrowsAsync<PortShareException>(() => LabFailover.RunAsync(state, FailoverMode.PortShare, cancellationToken: Ct));
            Assert.Contains("--routers 2", ex.Message, StringComparison.Ordinal);
        }
        finally
        {
            NetLab.Down(state);
        }
    }
}
