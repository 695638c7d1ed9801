using System.Net;
using PortShare.Routing;

namespace PortShare.Tests.Routing;

public class NetdevScriptTests
{
    private static readonly IPAddress s_e4 = IPAddress.Parse("192.0.2.1");
    private static readonly IPAddress s_e6 = IPAddress.Parse("2001:db8:1::1");
    private static readonly RouterOptions s_options = new() { Backend = RouterBackend.Netdev };

    private static NetdevState State(long generation, params (string Host, string Range)[] slices) => new(
        ["eth0"],
        [.. slices.Select(s => s.Host).Distinct().Select((h, i) => new NetdevTarget(h, 4, IPAddress.Parse($"198.51.100.{i + 2}"), "h" + h))],
        [.. slices.Select(s => new NetdevSlice(s_e4, PortRange.Parse(s.Range), "h4_" + s.Host))],
        generation);

    [Fact]
    public void The_table_dispatches_on_the_address_then_one_single_field_map_per_egress_and_forwards_per_host()
    {
        var state = State(3, ("a", "40000-40511"), ("b", "40512-41023")) with
        {
            Targets = [new NetdevTarget("a", 4, IPAddress.Parse("198.51.100.2"), "ha"), new NetdevTarget("b", 6, IPAddress.Parse("2001:db8:100::2"), "hb")],
        };
        var script = NetdevScript.Build(state, s_options);
        Assert.Contains("type filter hook ingress device \"eth0\" priority filter;", script, StringComparison.Ordinal);
        Assert.Contains("meta protocol ip ip daddr vmap @egress4", script, StringComparison.Ordinal);
        Assert.Contains("192.0.2.1 : jump c_e4_192_0_2_1", script, StringComparison.Ordinal);
        Assert.Contains("elements = { 40000-40511 : goto h4_a, 40512-41023 : goto h4_b }", script, StringComparison.Ordinal);
        Assert.Contains("counter fwd ip to 198.51.100.2 device \"ha\"", script, StringComparison.Ordinal);
        Assert.Contains("counter fwd ip6 to 2001:db8:100::2 device \"hb\"", script, StringComparison.Ordinal);
        Assert.Contains("@th,224,16 vmap @e4_192_0_2_1_icmp", script, StringComparison.Ordinal);
        Assert.Contains("counter name \"unowned\" drop", script, StringComparison.Ordinal);
        Assert.Contains("ip saddr 192.0.2.1 notrack", script, StringComparison.Ordinal);
        Assert.Contains($"chain {NetdevScript.Stamp(state)}", script, StringComparison.Ordinal);
        Assert.DoesNotContain("concat", script, StringComparison.Ordinal);
        Assert.DoesNotContain(" . ", script, StringComparison.Ordinal);
    }

    [Fact]
    public void An_update_touches_only_what_differs_and_nothing_when_nothing_does()
    {
        var before = State(1, ("a", "40000-40511"), ("b", "40512-41023"));
        var after = State(2, ("a", "40000-40255"), ("b", "40512-41023"), ("c", "40256-40511"));
        var update = NetdevScript.Update(before, after, s_options);
        Assert.NotNull(update);
        Assert.Equal(
            [
                "add chain netdev portshare h4_c",
                "add rule netdev portshare h4_c counter fwd ip to 198.51.100.4 device \"hc\"",
                "delete element netdev portshare e4_192_0_2_1 { 40000-40511 }",
                "delete element netdev portshare e4_192_0_2_1_icmp { 40000-40511 }",
                "add element netdev portshare e4_192_0_2_1 { 40000-40255 : goto h4_a, 40256-40511 : goto h4_c }",
                "add element netdev portshare e4_192_0_2_1_icmp { 40000-40255 : goto h4_a, 40256-40511 : goto h4_c }",
                "flush set netdev portshare generation",
                "add element netdev portshare generation { 2 }",
                $"delete chain netdev portshare {NetdevScript.Stamp(before)}",
                $"add chain netdev portshare {NetdevScript.Stamp(after)}",
            ],
            update.TrimEnd('\n').Split('\n'));
        Assert.Equal(string.Empty, NetdevScript.Update(after, after, s_options));
        // Another egress address or uplink needs the whole table.
        Assert.Null(NetdevScript.Update(before, before with { Uplinks = ["eth1"] }, s_options));
        Assert.Null(NetdevScript.Update(before, before with { Slices = [.. before.Slices, new NetdevSlice(s_e6, PortRange.Parse("40000-40511"), "h6_a")] }, s_options));
    }

    [Fact]
    public void The_saved_state_reads_back_equal_and_the_digest_ignores_the_generation()
    {
        var state = State(9, ("a", "40000-40511"), ("b", "40512"));
        var back = NetdevScript.Deserialize(NetdevScript.Serialize(state));
        Assert.NotNull(back);
        Assert.Equal(state.Digest(), back.Digest());
        Assert.Equal(9, back.Generation);
        Assert.Equal(state.Slices, back.Slices);
        Assert.Equal(state.Digest(), (state with { Generation = 10 }).Digest());
        Assert.NotEqual(state.Digest(), State(9, ("a", "40000-40511"), ("b", "40512-40513")).Digest());
        Assert.Null(NetdevScript.Deserialize("not a state"));
    }
}
