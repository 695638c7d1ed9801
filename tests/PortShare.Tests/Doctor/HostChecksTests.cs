using System.Net;
using PortShare.Cli.Doctor;

namespace PortShare.Tests.Doctor;

public class HostChecksTests
{
    private static readonly IPAddress s_e4 = IPAddress.Parse("192.0.2.1");
    private static readonly IPAddress s_e6 = IPAddress.Parse("2001:db8:1::1");
    private const string Apply = "portshare host apply plan.json --host h1";

    private static HostSlices Slices(params string[] ranges) =>
        new("h1", new Dictionary<IPAddress, IReadOnlyList<PortRange>> { [s_e4] = ranges.Select(PortRange.Parse).ToList() });

    private static HostFileStatus FileOf(HostSlices s) => new("/run/h1.json", s, null);

    private static DoctorResult Run(FakeHostFacts facts, HostSlices? slices = null)
    {
        slices ??= Slices("32768-46883");
        return HostChecks.Run(facts, slices, FileOf(slices), "plan.json", Apply);
    }

    private static DoctorCheck Only(DoctorResult r, string id) => Assert.Single(r.Checks, c => c.Id == id);

    [Fact]
    public void A_host_as_host_apply_leaves_it_passes_every_check()
    {
        var r = Run(new FakeHostFacts());
        Assert.True(r.Passed, string.Join("\n", r.Checks.Where(c => c.Status != CheckStatus.Pass).Select(c => $"{c.Id}: {c.Detail}")));
        Assert.Equal(0, r.Warnings);
        Assert.All(r.Checks, c => Assert.Null(c.Fix));
    }

    [Fact]
    public void Missing_notrack_fails_naming_the_direction_and_host_apply()
    {
        var facts = new FakeHostFacts { NftRuleset = FakeHostFacts.HostTable.Replace("ip saddr 192.0.2.1 notrack", string.Empty, StringComparison.Ordinal) };
        var c = Only(Run(facts), "conntrack_exempt");
        Assert.Equal(CheckStatus.Fail, c.Status);
        Assert.Contains("packets from 192.0.2.1 (output)", c.Detail, StringComparison.Ordinal);
        Assert.DoesNotContain("prerouting", c.Detail, StringComparison.Ordinal);
        Assert.StartsWith(Apply, c.Fix, StringComparison.Ordinal);
    }

    [Fact]
    public void Notrack_after_conntrack_does_not_count()
    {
        var facts = new FakeHostFacts { NftRuleset = FakeHostFacts.HostTable.Replace("priority raw", "priority filter", StringComparison.Ordinal) };
        Assert.Equal(CheckStatus.Fail, Only(Run(facts), "conntrack_exempt").Status);
    }

    [Fact]
    public void Masquerade_on_the_egress_address_fails_and_says_how_to_delete_it()
    {
        var facts = new FakeHostFacts
        {
            NftRuleset = FakeHostFacts.HostTable + "\ntable ip nat {\n\tchain POSTROUTING {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\t\tip saddr 192.0.2.0/24 counter packets 0 bytes 0 masquerade\n\t}\n}\n",
        };
        var c = Only(Run(facts), "no_nat");
        Assert.Equal(CheckStatus.Fail, c.Status);
        Assert.Contains("table ip nat chain POSTROUTING", c.Detail, StringComparison.Ordinal);
        Assert.Contains("nft delete rule ip nat POSTROUTING handle", c.Fix, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(true, "Warn")]
    [InlineData(false, "Fail")]
    public void An_unscoped_nat_rule_fails_unless_the_address_is_untracked(bool notrack, string status)
    {
        var expected = Enum.Parse<CheckStatus>(status);
        var nat = "table ip nat {\n\tchain post {\n\t\ttype nat hook postrouting priority 100; policy accept;\n\t\toifname \"uplink\" xt target \"MASQUERADE\"\n\t}\n}\n";
        var facts = new FakeHostFacts { NftRuleset = (notrack ? FakeHostFacts.HostTable : string.Empty) + "\n" + nat };
        Assert.Equal(expected, Only(Run(facts), "no_nat").Status);
    }

    [Fact]
    public void Nat_on_other_addresses_or_families_passes()
    {
        var nat = "table ip nat {\n\tchain post {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\t\tip saddr 10.0.0.0/8 masquerade\n\t}\n}\ntable ip6 nat6 {\n\tchain post {\n\t\ttype nat hook postrouting priority srcnat;\n\t\tmasquerade\n\t}\n}\n";
        var facts = new FakeHostFacts { NftRuleset = FakeHostFacts.HostTable + nat };
        Assert.Equal(CheckStatus.Pass, Only(Run(facts), "no_nat").Status);
    }

    [Fact]
    public void A_range_narrower_than_the_slice_fails_with_the_sysctl_that_covers_it()
    {
        var facts = new FakeHostFacts { NetnsRange = PortRange.Parse("32770-46883") };
        var c = Only(Run(facts), "netns_port_range");
        Assert.Equal(CheckStatus.Fail, c.Status);
        Assert.Contains("32768-46883", c.Detail, StringComparison.Ordinal);
        Assert.Equal("sysctl -w net.ipv4.ip_local_port_range=\"32768 46883\" (or re-run host apply with --sysctl)", c.Fix);
    }

    [Fact]
    public void Every_range_of_a_split_slice_is_checked()
    {
        var facts = new FakeHostFacts { NetnsRange = PortRange.Parse("32768-40000") };
        var c = Only(Run(facts, Slices("32768-33279", "50000-50511")), "netns_port_range");
        Assert.Equal(CheckStatus.Fail, c.Status);
        Assert.Contains("50000-50511", c.Detail, StringComparison.Ordinal);
        Assert.DoesNotContain("32768-33279", c.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Unowned_ports_inside_the_span_pass_when_reserved_and_warn_otherwise()
    {
        var slices = Slices("40000-40511", "40520-41023");
        Assert.Equal(CheckStatus.Warn, Only(Run(new FakeHostFacts(), slices), "unowned_ports_reserved").Status);
        var reserved = Only(Run(new FakeHostFacts { ReservedPorts = [PortRange.Parse("40512-40519")] }, slices), "unowned_ports_reserved");
        Assert.Equal(CheckStatus.Pass, reserved.Status);
        var narrowed = Only(Run(new FakeHostFacts { NetnsRange = PortRange.Parse("40000-41023") }, slices), "unowned_ports_reserved");
        Assert.Equal(CheckStatus.Fail, narrowed.Status);
        Assert.Equal("sysctl -w net.ipv4.ip_local_reserved_ports=\"40512-40519\"", narrowed.Fix);
    }

    [Fact]
    public void Strict_rp_filter_fails_loose_passes()
    {
        var facts = new FakeHostFacts();
        facts.Sysctls["net/ipv4/conf/all/rp_filter"] = "1";
        var c = Only(Run(facts), "rp_filter");
        Assert.Equal(CheckStatus.Fail, c.Status);
        Assert.Contains("strict", c.Detail, StringComparison.Ordinal);
        Assert.Contains("rp_filter=2", c.Fix, StringComparison.Ordinal);
        facts.Sysctls["net/ipv4/conf/all/rp_filter"] = "2";
        Assert.Equal(CheckStatus.Pass, Only(Run(facts), "rp_filter").Status);
        // The kernel uses the larger of 'all' and the interface's value.
        facts.Sysctls["net/ipv4/conf/all/rp_filter"] = "0";
        facts.Sysctls["net/ipv4/conf/uplink/rp_filter"] = "1";
        Assert.Equal(CheckStatus.Fail, Only(Run(facts), "rp_filter").Status);
    }

    [Fact]
    public void Arp_ignore_zero_fails_on_the_routers_L2_and_warns_elsewhere()
    {
        var facts = new FakeHostFacts();
        facts.Sysctls["net/ipv4/conf/all/arp_ignore"] = "0";
        var elsewhere = Only(Run(facts), "arp_ignore");
        Assert.Equal(CheckStatus.Warn, elsewhere.Status);
        Assert.Equal("sysctl -w net.ipv4.conf.all.arp_ignore=1", elsewhere.Fix);
        facts.Addresses = [.. facts.Addresses, new InterfaceAddress("uplink", IPAddress.Parse("192.0.2.2"), 24)];
        var onLink = Only(Run(facts), "arp_ignore");
        Assert.Equal(CheckStatus.Fail, onLink.Status);
        Assert.Contains("on the router's L2", onLink.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void The_egress_address_missing_or_as_default_source_fails()
    {
        var missing = new FakeHostFacts { Addresses = [new("uplink", IPAddress.Parse("198.51.100.2"), 30)] };
        var c = Only(Run(missing), "egress_address");
        Assert.Equal(CheckStatus.Fail, c.Status);
        Assert.Contains("ip addr add 192.0.2.1/32 dev lo", c.Fix, StringComparison.Ordinal);

        var primary = new FakeHostFacts { Source4 = s_e4 };
        Assert.Equal(CheckStatus.Fail, Only(Run(primary), "default_source").Status);
        // Narrowed on purpose (host apply --sysctl): unaware programs stay in the slice.
        primary.NetnsRange = PortRange.Parse("32768-46883");
        Assert.Equal(CheckStatus.Pass, Only(Run(primary), "default_source").Status);
    }

    [Fact]
    public void Host_file_that_differs_from_the_plan_fails_and_a_missing_one_warns()
    {
        var plan = Slices("32768-46883");
        var stale = new HostFileStatus("/run/h1.json", Slices("46884-60999"), null);
        var c = Only(HostChecks.Run(new FakeHostFacts(), plan, stale, "plan.json", Apply), "host_file");
        Assert.Equal(CheckStatus.Fail, c.Status);
        Assert.Contains("46884-60999", c.Detail, StringComparison.Ordinal);
        var missing = Only(HostChecks.Run(new FakeHostFacts(), plan, new HostFileStatus("/run/h1.json", null, null), "plan.json", Apply), "host_file");
        Assert.Equal(CheckStatus.Warn, missing.Status);
        var broken = Only(HostChecks.Run(new FakeHostFacts(), plan, new HostFileStatus("/run/h1.json", null, "'host' is null."), "plan.json", Apply), "host_file");
        Assert.Equal(CheckStatus.Fail, broken.Status);
    }

    [Theory]
    [InlineData("6.5.0-1-amd64", true)]
    [InlineData("6.7.12", true)]
    [InlineData("6.8.0", false)]
    [InlineData("6.18.44-fc-v1045", false)]
    [InlineData("5.15.0", false)]
    public void Kernels_6_3_to_6_7_get_the_even_port_note(string release, bool note)
    {
        var r = Run(new FakeHostFacts { KernelRelease = release, SupportsLocalPortRange = release.StartsWith('6') });
        Assert.Equal(note, r.Checks.Any(c => c.Id == "kernel_even_port_search" && c.Status == CheckStatus.Warn));
    }

    [Fact]
    public void IPv6_egress_is_checked_without_ARP_and_ping_group_range_warns()
    {
        var slices = new HostSlices("h1", new Dictionary<IPAddress, IReadOnlyList<PortRange>> { [s_e6] = [PortRange.Parse("32768-46883")] });
        var facts = new FakeHostFacts { Groups = [1000] };
        facts.Sysctls["net/ipv4/ping_group_range"] = "1\t0";
        var r = HostChecks.Run(facts, slices, FileOf(slices), "plan.json", Apply);
        Assert.DoesNotContain(r.Checks, c => c.Id.StartsWith("arp", StringComparison.Ordinal));
        Assert.Equal(CheckStatus.Pass, Only(r, "conntrack_exempt").Status);
        Assert.Equal(CheckStatus.Warn, Only(r, "ping_group_range").Status);
        Assert.True(r.Passed);
    }
}
