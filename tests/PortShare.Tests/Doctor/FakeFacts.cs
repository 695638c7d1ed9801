using System.Net;
using PortShare.Cli.Doctor;
using PortShare.Routing;

namespace PortShare.Tests.Doctor;

/// <summary>Host facts as a lab host has them after 'host apply', each settable to break one condition.</summary>
internal sealed class FakeHostFacts : IHostDoctorFacts
{
    public const string HostTable = """
        table inet portshare_host {
        	chain prerouting {
        		type filter hook prerouting priority raw; policy accept;
        		ip daddr 192.0.2.1 notrack
        		ip6 daddr 2001:db8:1::1 notrack
        	}
        	chain output {
        		type filter hook output priority raw; policy accept;
        		ip saddr 192.0.2.1 notrack
        		ip6 saddr 2001:db8:1::1 notrack
        	}
        }
        """;

    public string KernelRelease { get; set; } = "6.18.0";

    public bool SupportsLocalPortRange { get; set; } = true;

    public PortRange NetnsRange { get; set; } = PortRange.Parse("32768-60999");

    public IReadOnlyList<PortRange> ReservedPorts { get; set; } = [];

    public IReadOnlyList<InterfaceAddress> Addresses { get; set; } =
    [
        new("lo", IPAddress.Loopback, 8),
        new("lo", IPAddress.Parse("192.0.2.1"), 32),
        new("lo", IPAddress.Parse("2001:db8:1::1"), 128),
        new("uplink", IPAddress.Parse("198.51.100.2"), 30),
        new("uplink", IPAddress.Parse("2001:db8:100:1::2"), 64),
    ];

    public IPAddress? Source4 { get; set; } = IPAddress.Parse("198.51.100.2");

    public IPAddress? Source6 { get; set; } = IPAddress.Parse("2001:db8:100:1::2");

    public Dictionary<string, string> Sysctls { get; } = new(StringComparer.Ordinal)
    {
        ["net/ipv4/conf/all/arp_ignore"] = "1",
        ["net/ipv4/conf/all/arp_announce"] = "2",
        ["net/ipv4/conf/uplink/arp_ignore"] = "0",
        ["net/ipv4/conf/uplink/arp_announce"] = "0",
        ["net/ipv4/conf/all/rp_filter"] = "0",
        ["net/ipv4/conf/uplink/rp_filter"] = "0",
        ["net/ipv4/ping_group_range"] = "0\t2147483647",
    };

    public string? NftRuleset { get; set; } = HostTable;

    public IReadOnlyList<long> Groups { get; set; } = [0];

    public IPAddress? SourceToward(IPAddress destination) =>
        destination.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? Source6 : Source4;

    public string? Sysctl(string key) => Sysctls.TryGetValue(key, out var v) ? v : null;
}

/// <summary>Router facts as a lab router has them after 'router apply'.</summary>
internal sealed class FakeRouterFacts : IRouterDoctorFacts
{
    public RouterOptions Options { get; } = new();

    public RouterState State { get; set; } = new(
        [new IpRule(4, 5399, "192.0.2.1", null, null, null, null), new IpRule(4, 5300, null, null, null, 0x50530001, 5301)],
        [new IpRoute(4, 5301, "192.0.2.1", "198.51.100.2")],
        new InstalledNft("e7382b8af2ad9361", [], false));

    public IReadOnlyList<string> Changes { get; set; } = [];

    public RouterBackend Backend { get; set; } = RouterBackend.Nftables;

    public IReadOnlyList<NeighbourEntry> Neighbours { get; set; } = [new(IPAddress.Parse("198.51.100.2"), "h1", ["REACHABLE"])];

    public long? Conntrack { get; set; } = 0;

    public Dictionary<string, string> Sysctls { get; } = new(StringComparer.Ordinal)
    {
        ["net/ipv4/ip_forward"] = "1",
        ["net/ipv6/conf/all/forwarding"] = "1",
        ["net/ipv4/fwmark_reflect"] = "1",
        ["net/ipv6/fwmark_reflect"] = "1",
    };

    public string? NftRuleset { get; set; } = """
        table inet portshare {
        	comment "portshare:e7382b8af2ad9361"
        	map e4_192_0_2_1 {
        		type inet_service : mark
        		flags interval
        		elements = { 32768-60999 : 0x50530001 }
        	}
        	chain prerouting {
        		type filter hook prerouting priority raw; policy accept;
        		ip saddr 192.0.2.1 notrack
        		ip daddr 192.0.2.1 meta l4proto { tcp, udp } notrack meta mark set th dport map @e4_192_0_2_1 accept
        		ip daddr 192.0.2.1 counter packets 0 bytes 0 drop comment "no slice owns it"
        	}
        }
        """;

    public PlanComparison Compare(IReadOnlyList<RouteSlice> routes) => new(Backend, Changes, State.Nft?.Hash);

    public long? ConntrackEntries(IPAddress address) => Conntrack;

    public string? Sysctl(string key) => Sysctls.TryGetValue(key, out var v) ? v : null;
}
