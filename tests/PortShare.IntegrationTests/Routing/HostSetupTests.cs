using System.Net;
using PortShare.IntegrationTests.Infrastructure;
using PortShare.Routing;

namespace PortShare.IntegrationTests.Routing;

/// <summary><c>host apply</c> / <c>host remove</c> in a fresh namespace: a transaction that remove undoes exactly.</summary>
[Trait("Category", "RequiresRoot")]
public sealed class HostSetupTests
{
    private static readonly IPAddress s_v4 = IPAddress.Parse("192.0.2.1");
    private static readonly IPAddress s_v6 = IPAddress.Parse("2001:db8:1::1");

    private static HostSliceFile Slices() => new()
    {
        Host = "h1",
        Slices = [new EgressSlice(s_v4, PortSlice.Parse("40000-40099,40200-40299")), new EgressSlice(s_v6, PortSlice.Parse("40000-40099,40200-40299"))],
    };

    [Fact]
    public void Remove_restores_every_sysctl_apply_changed_and_only_the_addresses_it_added()
    {
        Root.Require();
        using var ns = TestNetns.Create(32768, 60999);
        ns.SetReservedPorts("50000");
        ns.Ip("-6", "addr", "add", $"{s_v6}/128", "dev", "lo", "nodad");
        var dir = Directory.CreateTempSubdirectory("portshare-hostsetup-");
        try
        {
            var path = Path.Combine(dir.FullName, "host.json");
            var before = Sysctls(ns);
            var setup = new HostSetup(new NetTools(ns.Name), new NetnsSysctl(new NetTools(ns.Name)), new HostOptions { StatePath = path, NarrowPortRange = true });
            setup.Apply(Slices());
            setup.Apply(Slices()); // idempotent: the values before the first apply are kept

            Assert.Equal("40000\t40299", Read(ns, "net/ipv4/ip_local_port_range"));
            Assert.Equal("40100-40199,50000", Read(ns, "net/ipv4/ip_local_reserved_ports"));
            Assert.Equal("1", Read(ns, "net/ipv4/conf/all/arp_ignore"));
            Assert.Equal("2", Read(ns, "net/ipv4/conf/all/arp_announce"));
            Assert.Contains("192.0.2.1/32", ns.Ip("addr", "show", "dev", "lo"), StringComparison.Ordinal);
            var applied = HostSliceFile.Load(path).Applied!;
            Assert.Equal([s_v4], applied.Addresses);
            Assert.Equal("0", applied.Sysctls.Single(c => c.Key == "net/ipv4/conf/all/arp_ignore").Previous);

            var removal = setup.Remove();
            Assert.True(removal.HadHostFile);
            Assert.Equal(before, Sysctls(ns));
            var lo = ns.Ip("addr", "show", "dev", "lo");
            Assert.DoesNotContain("192.0.2.1", lo, StringComparison.Ordinal);
            Assert.Contains("2001:db8:1::1/128", lo, StringComparison.Ordinal); // not PortShare's: it stays
            Assert.NotEqual(0, Proc.Run("ip", "netns", "exec", ns.Name, "nft", "list", "table", "inet", "portshare_host").ExitCode);
            Assert.False(File.Exists(path));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void An_unwritable_host_file_path_fails_before_anything_changes()
    {
        Root.Require();
        using var ns = TestNetns.Create(32768, 60999);
        var dir = Directory.CreateTempSubdirectory("portshare-hostsetup-");
        try
        {
            var before = Sysctls(ns);
            var setup = new HostSetup(new NetTools(ns.Name), new NetnsSysctl(new NetTools(ns.Name)), new HostOptions { StatePath = dir.FullName, NarrowPortRange = true });
            var ex = Assert.Throws<RoutingException>(() => setup.Apply(Slices()));
            Assert.Contains("is a directory", ex.Message, StringComparison.Ordinal);
            Assert.Equal(before, Sysctls(ns));
            Assert.DoesNotContain("192.0.2.1", ns.Ip("addr", "show", "dev", "lo"), StringComparison.Ordinal);
            Assert.NotEqual(0, Proc.Run("ip", "netns", "exec", ns.Name, "nft", "list", "table", "inet", "portshare_host").ExitCode);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void Remove_without_a_host_file_removes_what_is_recognisably_portshares()
    {
        Root.Require();
        using var ns = TestNetns.Create(32768, 60999);
        var dir = Directory.CreateTempSubdirectory("portshare-hostsetup-");
        try
        {
            var path = Path.Combine(dir.FullName, "host.json");
            var setup = new HostSetup(new NetTools(ns.Name), new NetnsSysctl(new NetTools(ns.Name)), new HostOptions { StatePath = path });
            setup.Apply(Slices());
            File.Delete(path);
            var removal = setup.Remove();
            Assert.False(removal.HadHostFile);
            Assert.Contains("deleted nftables table inet portshare_host", removal.Undone);
            Assert.NotEqual(0, Proc.Run("ip", "netns", "exec", ns.Name, "nft", "list", "table", "inet", "portshare_host").ExitCode);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void Narrowing_needs_the_same_slice_on_every_egress_address()
    {
        Root.Require();
        using var ns = TestNetns.Create(32768, 60999);
        var setup = new HostSetup(new NetTools(ns.Name), new NetnsSysctl(new NetTools(ns.Name)), new HostOptions { StatePath = "/nonexistent/never-written.json", NarrowPortRange = true });
        var differing = Slices() with { Slices = [new EgressSlice(s_v4, PortSlice.Parse("40000-40099")), new EgressSlice(s_v6, PortSlice.Parse("41000-41099"))] };
        var ex = Assert.Throws<RoutingException>(() => setup.Apply(differing));
        Assert.Contains("owns different ports on its egress addresses", ex.Message, StringComparison.Ordinal);
    }

    private static string Read(TestNetns ns, string key) => ns.Ns.Run(() => File.ReadAllText(Path.Combine("/proc/sys", key)).Trim());

    private static string Sysctls(TestNetns ns) => string.Join(
        "; ",
        new[] { "net/ipv4/ip_local_port_range", "net/ipv4/ip_local_reserved_ports", "net/ipv4/conf/all/arp_ignore", "net/ipv4/conf/all/arp_announce" }.Select(k => $"{k}={Read(ns, k)}"));
}
