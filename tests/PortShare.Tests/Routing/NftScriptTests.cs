using System.Net;
using PortShare.Routing;

namespace PortShare.Tests.Routing;

public class NftScriptTests
{
    private static readonly RouterOptions s_options = new();
    private static readonly IPAddress s_e4 = IPAddress.Parse("192.0.2.1");
    private static readonly IPAddress s_e6 = IPAddress.Parse("2001:db8:1::1");

    private static List<MarkedSlice> Slices() =>
    [
        new(s_e4, PortRange.Parse("40512-41023"), 0x50530002),
        new(s_e4, PortRange.Parse("40000-40511"), 0x50530001),
        new(s_e6, PortRange.Parse("40000-40511"), 0x50530001),
    ];

    [Fact]
    public void Script_replaces_the_table_atomically_and_maps_ports_to_marks_sorted()
    {
        var script = NftScript.Build(Slices(), s_options);
        var lines = script.Split('\n');
        Assert.Equal("table inet portshare", lines[0]);
        Assert.Equal("delete table inet portshare", lines[1]);
        Assert.StartsWith("table inet portshare {", lines[2], StringComparison.Ordinal);
        Assert.Contains("elements = { 40000-40511 : 0x50530001, 40512-41023 : 0x50530002 }", script, StringComparison.Ordinal);
        Assert.Contains("map e4_192_0_2_1 {", script, StringComparison.Ordinal);
        Assert.Contains("map e6_20010db8000100000000000000000001 {", script, StringComparison.Ordinal);
        Assert.Contains("type filter hook prerouting priority raw;", script, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_egress_gets_notrack_steering_icmp_and_a_drop_for_unowned_ports()
    {
        var script = NftScript.Build(Slices(), s_options);
        Assert.Contains("ip daddr 192.0.2.1 meta l4proto { tcp, udp } notrack meta mark set th dport map @e4_192_0_2_1 accept", script, StringComparison.Ordinal);
        Assert.Contains("ip saddr 192.0.2.1 notrack", script, StringComparison.Ordinal);
        Assert.Contains("@th,64,8 0x45 @th,136,8 { 6, 17 } notrack meta mark set @th,224,16 map @e4_192_0_2_1_icmp", script, StringComparison.Ordinal);
        Assert.Contains("icmp type echo-reply notrack meta mark set @th,32,16 map @e4_192_0_2_1_icmp", script, StringComparison.Ordinal);
        Assert.Contains("ip daddr 192.0.2.1 counter drop", script, StringComparison.Ordinal);
        Assert.Contains("icmpv6 type { destination-unreachable, packet-too-big, time-exceeded, parameter-problem } @th,64,4 6 @th,112,8 { 6, 17 } notrack meta mark set @th,384,16", script, StringComparison.Ordinal);
        Assert.Contains("ip6 daddr 2001:db8:1::1 counter drop", script, StringComparison.Ordinal);
        Assert.DoesNotContain("ct state", script, StringComparison.Ordinal);
        Assert.Contains("ct state", NftScript.Build(Slices(), s_options with { Reassemble = true }), StringComparison.Ordinal);
    }

    [Fact]
    public void Hash_is_order_independent_and_changes_with_content()
    {
        var a = NftScript.Hash(Slices(), s_options);
        var reversed = Slices();
        reversed.Reverse();
        Assert.Equal(a, NftScript.Hash(reversed, s_options));
        Assert.NotEqual(a, NftScript.Hash(Slices()[..2], s_options));
        Assert.Contains($"comment \"portshare:{a}\"", NftScript.Build(Slices(), s_options), StringComparison.Ordinal);
        Assert.Equal(a, NftScript.HashFromText(NftScript.Build(Slices(), s_options)));
    }

    [Theory]
    [InlineData("192.0.2.1")]
    [InlineData("2001:db8:1::1")]
    [InlineData("203.0.113.255")]
    public void Map_names_round_trip(string address)
    {
        var ip = IPAddress.Parse(address);
        Assert.Equal(ip, NftScript.ParseMapName(NftScript.MapName(ip)));
        Assert.Null(NftScript.ParseMapName("other"));
    }

    [Fact]
    public void Installed_json_parses_ranges_single_ports_and_skips_icmp_twins()
    {
        const string json = """
            {"nftables": [{"metainfo": {"version": "1.0.6"}},
             {"table": {"family": "inet", "name": "portshare", "handle": 1}},
             {"map": {"family": "inet", "name": "e4_192_0_2_1", "table": "portshare", "type": "inet_service", "map": "mark", "flags": ["interval"],
                      "elem": [[{"range": [40000, 40511]}, 1347616769], [41000, 1347616770]]}},
             {"map": {"family": "inet", "name": "e4_192_0_2_1_icmp", "table": "portshare", "type": "integer", "map": "mark", "flags": ["interval"],
                      "elem": [[{"range": [40000, 40511]}, 1347616769]]}}]}
            """;
        var installed = NftScript.ParseInstalled(json);
        Assert.Equal(
            [new MarkedSlice(s_e4, PortRange.Parse("40000-40511"), 0x50530001), new MarkedSlice(s_e4, PortRange.Parse("41000"), 0x50530002)],
            installed.Slices);
        Assert.False(installed.Reassemble);
    }
}
