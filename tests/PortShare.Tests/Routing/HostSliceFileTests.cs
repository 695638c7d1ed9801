using System.Net;

namespace PortShare.Tests.Routing;

public class HostSliceFileTests
{
    [Fact]
    public void Round_trips_and_finds_the_slice_of_an_egress_address()
    {
        var file = new HostSliceFile("h1", [new EgressSlice(IPAddress.Parse("192.0.2.1"), PortRange.Parse("40000-40511")), new EgressSlice(IPAddress.Parse("2001:db8:1::1"), PortRange.Parse("41000-41001"))]);
        var back = HostSliceFile.Parse(file.ToJson(new Dictionary<string, string> { ["previousPortRange"] = "32768 60999" }));
        Assert.Equal("h1", back.Host);
        Assert.Equal(file.Slices, back.Slices);
        Assert.Equal(PortRange.Parse("41000-41001"), back.For(IPAddress.Parse("2001:db8:1::1")).Range);
        Assert.Throws<PortShareException>(() => back.For(IPAddress.Parse("192.0.2.99")));
    }

    [Fact]
    public void Gives_a_connector_for_the_slice()
    {
        var netns = HostFacts.ReadNetnsRange();
        var range = new PortRange(netns.Low, (ushort)(netns.Low + 63));
        var file = new HostSliceFile("h1", [new EgressSlice(IPAddress.Loopback, range)]);
        var connector = file.Connector(strategy: Connect.ConnectStrategy.Fallback);
        Assert.Equal(range, connector.Slice);
        Assert.Equal(IPAddress.Loopback, connector.LocalAddress);
    }

    [Fact]
    public void A_missing_file_says_how_to_create_it()
    {
        var ex = Assert.Throws<PortShareException>(() => HostSliceFile.Load("/nonexistent/portshare/host.json"));
        Assert.Contains("host apply", ex.Message, StringComparison.Ordinal);
    }
}
