using System.Net;
using PortShare.Diagnostics;
using PortShare.IntegrationTests.Infrastructure;

namespace PortShare.IntegrationTests.Diagnostics;

/// <summary>SlicePinger against the real kernel's ping sockets, in a fresh namespace (loopback only).</summary>
[Trait("Category", "RequiresRoot")]
public class SlicePingerTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static TestNetns PingNamespace()
    {
        var ns = TestNetns.Create();
        ns.Sysctl("net/ipv4/ping_group_range", "0 2147483647");
        return ns;
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("::1")]
    public async Task Replies_come_back_to_an_echo_id_inside_the_slice(string address)
    {
        Root.Require();
        using var ns = PingNamespace();
        var ip = IPAddress.Parse(address);
        IReadOnlyList<PortRange> slice = [PortRange.Parse("40000-40001"), PortRange.Parse("45000-45001")];
        using var pinger = new SlicePinger(slice, ip, ns.Ns);
        Assert.Contains(slice, r => r.Contains(pinger.Id));
        for (ushort seq = 1; seq <= 3; seq++)
        {
            var reply = await pinger.PingAsync(ip, seq, TimeSpan.FromSeconds(2), Ct);
            Assert.NotNull(reply);
            Assert.Equal(seq, reply.Sequence);
            Assert.Equal(ip, reply.From);
            Assert.True(reply.RoundTrip > TimeSpan.Zero);
        }
    }

    [Fact]
    public void Taken_ids_are_skipped_and_a_full_slice_says_so()
    {
        Root.Require();
        using var ns = PingNamespace();
        IReadOnlyList<PortRange> slice = [PortRange.Parse("40000-40001")];
        using var a = new SlicePinger(slice, IPAddress.Loopback, ns.Ns);
        using var b = new SlicePinger(slice, IPAddress.Loopback, ns.Ns);
        Assert.NotEqual(a.Id, b.Id);
        var full = Assert.Throws<PortShareException>(() => new SlicePinger(slice, IPAddress.Loopback, ns.Ns));
        Assert.Contains("40000-40001", full.Message, StringComparison.Ordinal);
        Assert.Contains("held by another ping socket", full.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task No_reply_within_the_timeout_is_null()
    {
        Root.Require();
        using var ns = PingNamespace();
        ns.Sysctl("net/ipv4/icmp_echo_ignore_all", "1");
        using var pinger = new SlicePinger([PortRange.Parse("40000-40001")], IPAddress.Loopback, ns.Ns);
        Assert.Null(await pinger.PingAsync(IPAddress.Loopback, 1, TimeSpan.FromMilliseconds(200), Ct));
    }

    [Fact]
    public void Without_ping_group_range_or_the_address_the_error_says_what_to_fix()
    {
        Root.Require();
        using var ns = TestNetns.Create();
        ns.Sysctl("net/ipv4/ping_group_range", "1 0");
        var denied = Assert.Throws<PortShareException>(() => new SlicePinger([PortRange.Parse("40000-40001")], IPAddress.Loopback, ns.Ns));
        Assert.Contains("ping_group_range", denied.Message, StringComparison.Ordinal);
        ns.Sysctl("net/ipv4/ping_group_range", "0 2147483647");
        var absent = Assert.Throws<PortShareException>(() => new SlicePinger([PortRange.Parse("40000-40001")], IPAddress.Parse("192.0.2.1"), ns.Ns));
        Assert.Contains("not on this host", absent.Message, StringComparison.Ordinal);
    }
}
