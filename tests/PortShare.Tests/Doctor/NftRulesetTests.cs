using System.Net;
using PortShare.Cli.Doctor;

namespace PortShare.Tests.Doctor;

public class NftRulesetTests
{
    private static readonly IPAddress s_e4 = IPAddress.Parse("192.0.2.1");

    [Fact]
    public void Rules_carry_their_chain_hook_and_resolved_priority_and_skip_sets_and_maps()
    {
        var rules = NftRuleset.Parse("""
            table inet t {
            	set s {
            		type ipv4_addr
            		elements = { 192.0.2.1,
            			     192.0.2.2 }
            	}
            	chain pre {
            		type filter hook prerouting priority raw - 10; policy accept;
            		ip daddr { 192.0.2.1, 192.0.2.9 } meta l4proto { tcp, udp } notrack
            	}
            	chain regular {
            		ip saddr 192.0.2.1 accept
            	}
            }
            table ip nat {
            	chain POSTROUTING {
            		type nat hook postrouting priority srcnat; policy accept;
            		ip saddr != 192.0.2.1 masquerade
            	}
            }
            """);
        Assert.Equal(3, rules.Count);
        Assert.Equal(("prerouting", -310), (rules[0].Hook, rules[0].Priority!.Value));
        Assert.Null(rules[1].Hook);
        Assert.Equal(("nat", 100), (rules[2].Type, rules[2].Priority!.Value));
        Assert.NotNull(NftRuleset.Notrack(rules, s_e4, incoming: true));
        Assert.Null(NftRuleset.Notrack(rules, s_e4, incoming: false));
        // "!= 192.0.2.1" names the address's family, so the rule does not apply to it.
        Assert.Empty(NftRuleset.NatTouching(rules, s_e4));
    }

    [Theory]
    [InlineData("ip daddr 192.0.2.0/24 notrack", true)]
    [InlineData("ip daddr 192.0.3.0/24 notrack", false)]
    [InlineData("notrack", true)]
    [InlineData("ip6 daddr 2001:db8::/32 notrack", false)]
    public void Notrack_covers_prefixes_and_unconstrained_rules(string rule, bool covers)
    {
        var rules = NftRuleset.Parse($"table inet t {{\n\tchain c {{\n\t\ttype filter hook prerouting priority -300; policy accept;\n\t\t{rule}\n\t}}\n}}\n");
        Assert.Equal(covers, NftRuleset.Notrack(rules, s_e4, incoming: true) is not null);
    }
}
