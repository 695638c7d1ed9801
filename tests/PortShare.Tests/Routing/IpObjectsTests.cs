using System.Net;
using PortShare.Routing;

namespace PortShare.Tests.Routing;

public class IpObjectsTests
{
    private static readonly RouterOptions s_options = new();

    [Fact]
    public void Rules_render_as_ip_batch_lines()
    {
        Assert.Equal("rule add pref 5300 to 192.0.2.1 ipproto tcp dport 40000-40511 lookup 5301 protocol 83",
            new IpRule(4, 5300, "192.0.2.1", "tcp", PortRange.Parse("40000-40511"), null, 5301).BatchLine(add: true, 83));
        Assert.Equal("rule del pref 5300 fwmark 0x50530001 lookup 5301 protocol 83",
            new IpRule(4, 5300, null, null, null, 0x50530001, 5301).BatchLine(add: false, 83));
        Assert.Equal("rule add pref 5399 to 2001:db8:1::1 blackhole protocol 83",
            new IpRule(6, 5399, "2001:db8:1::1", null, null, null, null).BatchLine(add: true, 83));
        Assert.Equal("route replace 192.0.2.1 via 198.51.100.2 table 5301 proto 83", new IpRoute(4, 5301, "192.0.2.1", "198.51.100.2").ReplaceLine(83));
        Assert.Equal("route del 192.0.2.1 table 5301", new IpRoute(4, 5301, "192.0.2.1", "198.51.100.2").DeleteLine());
    }

    [Fact]
    public void Rule_json_keeps_only_the_owned_priority_range_and_parses_back_to_equal_records()
    {
        const string json = """
            [{"priority":0,"src":"all","table":"local"},
             {"priority":5300,"src":"all","dst":"192.0.2.1","ipproto":"tcp","dport_start":40000,"dport_end":40511,"table":"5301","protocol":"83"},
             {"priority":5300,"src":"all","dst":"192.0.2.1","ipproto":"udp","dport":41000,"table":"5302","protocol":"83"},
             {"priority":5300,"src":"all","fwmark":"0x50530001","table":"5301","protocol":"83"},
             {"priority":5399,"src":"all","dst":"192.0.2.1","action":"blackhole","protocol":"83"},
             {"priority":5399,"src":"all","dst":"192.0.2.9","action":"blackhole"},
             {"priority":32766,"src":"all","table":"main"}]
            """;
        var foreign = new List<string>();
        var rules = IpStateReader.ParseRules(json, 4, s_options, foreign);
        // Someone else's blackhole in PortShare's range is not PortShare's: reported, never taken for its own.
        Assert.Equal("ip -4 rule: priority 5399 src all dst 192.0.2.9 action blackhole", Assert.Single(foreign));
        Assert.Equal(
            [
                new IpRule(4, 5300, "192.0.2.1", "tcp", PortRange.Parse("40000-40511"), null, 5301),
                new IpRule(4, 5300, "192.0.2.1", "udp", PortRange.Parse("41000"), null, 5302),
                new IpRule(4, 5300, null, null, null, 0x50530001, 5301),
                new IpRule(4, 5399, "192.0.2.1", null, null, null, null),
            ],
            rules);
    }

    [Fact]
    public void Route_json_keeps_only_owned_tables()
    {
        const string json = """
            [{"dst":"192.0.2.1","gateway":"198.51.100.2","dev":"d0","table":"5301","protocol":"83","flags":[]},
             {"dst":"10.0.0.0/8","gateway":"198.51.100.9","dev":"d0","table":"100","flags":[]},
             {"type":"local","dst":"127.0.0.1","dev":"lo","table":"local","flags":[]}]
            """;
        Assert.Equal([new IpRoute(4, 5301, "192.0.2.1", "198.51.100.2")], IpStateReader.ParseRoutes(json, 4, s_options));
    }
}
