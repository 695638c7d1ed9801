using System.Net;
using PortShare.Fleet;

namespace PortShare.IntegrationTests.Fleet;

/// <summary>Registration, claims, releases and the quarantine, as transactions on a real etcd started by the test.</summary>
public sealed class ClaimTests
{
    private static readonly IPAddress s_egress = IPAddress.Parse("192.0.2.1");
    private static readonly PortRange s_unit0 = new(40000, 40063);
    private static readonly PortRange s_unit1 = new(40064, 40127);
    private static readonly UnitOwner s_h1 = new("h1", [IPAddress.Parse("198.51.100.2")]);
    private static readonly UnitOwner s_h2 = new("h2", [IPAddress.Parse("198.51.100.3")]);

    private static readonly PoolSpec s_pool = PoolSpec.Parse(
        """{"unit_size": 64, "quarantine_seconds": 2, "lease_ttl_seconds": 3, "egress": [{"address": "192.0.2.1", "usable_range": "40000-40255"}]}""",
        "spec");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<EtcdFleet> PoolOnAsync(EtcdServer etcd)
    {
        var fleet = new EtcdFleet(etcd.Url);
        await fleet.InitAsync(s_pool, Ct);
        return fleet;
    }

    private static Task<ClaimedUnit?> Claim(EtcdFleet fleet, UnitOwner owner, AgentLeases leases, PortRange unit) =>
        fleet.ClaimAsync(owner, leases, s_egress, unit, cancellationToken: Ct);

    [Fact]
    public async Task The_same_host_name_twice_is_a_clear_error()
    {
        await using var etcd = await EtcdServer.StartAsync();
        using var fleet = await PoolOnAsync(etcd);
        await fleet.RegisterAsync(s_h1, await fleet.GrantAsync(s_pool, Ct), Ct);

        var ex = await Assert.ThrowsAsync<FleetException>(async () => await fleet.RegisterAsync(s_h1, await fleet.GrantAsync(s_pool, Ct), Ct));
        Assert.Contains("Host name 'h1' is already registered", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Claims_are_exclusive_and_a_dead_owner_s_unit_stays_quarantined_to_it_until_it_comes_back()
    {
        await using var etcd = await EtcdServer.StartAsync();
        using var fleet = await PoolOnAsync(etcd);
        var (l1, l2) = (await fleet.GrantAsync(s_pool, Ct), await fleet.GrantAsync(s_pool, Ct));

        var c1 = await Claim(fleet, s_h1, l1, s_unit0);
        Assert.NotNull(c1);
        Assert.Null(await Claim(fleet, s_h2, l2, s_unit0));
        var c2 = await Claim(fleet, s_h2, l2, s_unit1);
        Assert.NotNull(c2);
        Assert.True(c2.Epoch > c1.Epoch);

        var owned = await fleet.StatusAsync(Ct);
        Assert.Equal(("h1", "owned", c1.Epoch), (owned[0].Owner, owned[0].State, owned[0].Epoch));
        Assert.Equal(["h1", "h2"], (await fleet.ReadAsync(Ct)).Routes().Select(r => r.Host));

        // h1's owner lease ends (as when it dies): its unit is quarantined, still routed to h1, and h2 cannot take it.
        await fleet.RevokeAsync(l1.Owner, Ct);
        var view = await fleet.ReadAsync(Ct);
        Assert.True(view.Units()[0].IsQuarantined);
        Assert.Equal("h1", Assert.Single(view.Routes(), r => r.Range.Low == 40000).Host);
        Assert.Equal("quarantined", (await fleet.StatusAsync(Ct))[0].State);
        Assert.Null(await Claim(fleet, s_h2, l2, s_unit0));

        // h1 comes back and takes back its own unit, still routed to it: nothing moves.
        var again = await fleet.GrantAsync(s_pool, Ct);
        var back = await fleet.ClaimAsync(s_h1, again, s_egress, s_unit0, view.Units()[0].HoldValue, Ct);
        Assert.NotNull(back);
        Assert.True(back.Epoch > c2.Epoch);
    }

    [Fact]
    public async Task A_released_unit_is_quarantined_then_claimable_and_a_stale_epoch_cannot_release()
    {
        await using var etcd = await EtcdServer.StartAsync();
        using var fleet = await PoolOnAsync(etcd);
        var (l1, l2) = (await fleet.GrantAsync(s_pool, Ct), await fleet.GrantAsync(s_pool, Ct));
        var c2 = await Claim(fleet, s_h2, l2, s_unit1);
        Assert.NotNull(c2);

        Assert.False(await fleet.ReleaseAsync(s_h2, c2 with { Epoch = c2.Epoch - 1 }, await fleet.GrantQuarantineAsync(s_pool, Ct), Ct));
        Assert.True(await fleet.ReleaseAsync(s_h2, c2, await fleet.GrantQuarantineAsync(s_pool, Ct), Ct));

        var status = await fleet.StatusAsync(Ct);
        Assert.Equal(("h2", "quarantined"), (status[1].Owner, status[1].State));
        Assert.Null(await Claim(fleet, s_h1, l1, s_unit1));

        // The quarantine ends by its lease in etcd, not by a clock here: wait until etcd says free, then claim.
        for (var i = 0; (await fleet.StatusAsync(Ct))[1].State != "free"; i++)
        {
            Assert.True(i < 200, "the quarantine lease never ended");
            await Task.Delay(100, Ct);
        }

        Assert.NotNull(await Claim(fleet, s_h1, l1, s_unit1));
    }
}
