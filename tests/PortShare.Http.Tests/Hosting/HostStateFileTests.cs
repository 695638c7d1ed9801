using System.Net;

namespace PortShare.Http.Tests.Hosting;

public sealed class HostStateFileTests
{
    [Fact]
    public void Reads_the_only_slice_and_its_egress_address()
    {
        var entry = HostStateFile.Parse("""{"slices":[{"egress":"192.0.2.1","ranges":["40000-40511"]}]}""", "state.json");
        Assert.Equal(new PortRange(40000, 40511), entry.Slice);
        Assert.Equal(IPAddress.Parse("192.0.2.1"), entry.Egress);
    }

    [Fact]
    public void Reads_what_host_apply_writes()
    {
        // The format is owned by the core library's HostSliceFile (written by 'portshare host apply').
        var written = new HostSliceFile("h2", [new EgressSlice(IPAddress.Parse("192.0.2.1"), new PortRange(42178, 51589)), new EgressSlice(IPAddress.Parse("2001:db8:1::1"), new PortRange(42178, 51589))])
            .ToJson(new Dictionary<string, string> { ["restore_port_range"] = "32768 60999" });
        var entry = HostStateFile.Parse(written, "host.json", IPAddress.Parse("2001:db8:1::1"));
        Assert.Equal(new PortRange(42178, 51589), entry.Slice);
        Assert.Equal(IPAddress.Parse("2001:db8:1::1"), entry.Egress);
        Assert.Equal(HostSliceFile.Parse(written).For(IPAddress.Parse("192.0.2.1")).Range, HostStateFile.Parse(written, "host.json", IPAddress.Parse("192.0.2.1")).Slice);
    }

    [Fact]
    public void Is_tolerant_of_case_extra_properties_comments_and_a_single_range_string()
    {
        var entry = HostStateFile.Parse(
            """
            // written by portshare host apply
            { "version": 1, "host": "h1", "Slices": [ { "Egress": "2001:db8:1::1", "Range": "40512-41023", "table": 100 } ], }
            """,
            "state.json");
        Assert.Equal(new PortRange(40512, 41023), entry.Slice);
        Assert.Equal(IPAddress.Parse("2001:db8:1::1"), entry.Egress);
    }

    [Fact]
    public void Picks_the_slice_of_the_requested_egress_address()
    {
        const string text = """{"slices":[{"egress":"192.0.2.1","ranges":["40000-40511"]},{"egress":"2001:db8:1::1","ranges":["50000-50511"]}]}""";
        Assert.Equal(new PortRange(50000, 50511), HostStateFile.Parse(text, "s", IPAddress.Parse("2001:db8:1::1")).Slice);

        var ex = Assert.Throws<PortShareException>(() => HostStateFile.Parse(text, "s"));
        Assert.Contains("set PortShare:EgressAddress to choose one", ex.Message, StringComparison.Ordinal);

        ex = Assert.Throws<PortShareException>(() => HostStateFile.Parse(text, "s", IPAddress.Parse("192.0.2.9")));
        Assert.Contains("no slice for egress address 192.0.2.9", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("not json", "is not valid JSON")]
    [InlineData("""{"hosts":[]}""", "has no \"slices\" array")]
    [InlineData("""{"slices":[]}""", "lists no slice")]
    [InlineData("""{"slices":[{"egress":"x","ranges":["40000-40511"]}]}""", "slices[0].egress 'x' is not an IP address")]
    [InlineData("""{"slices":[{"ranges":["40000-4051"]}]}""", "the low port 40000 is greater than the high port 4051")]
    [InlineData("""{"slices":[{"egress":"192.0.2.1"}]}""", "neither a \"ranges\" array nor a \"range\" string")]
    [InlineData("""{"slices":[{"ranges":["40000-40255","40512-40767"]}]}""", "2 slices")]
    public void Says_what_is_wrong_with_a_bad_file(string text, string expected)
    {
        var ex = Assert.Throws<PortShareException>(() => HostStateFile.Parse(text, "/var/lib/portshare/state.json"));
        Assert.Contains("'/var/lib/portshare/state.json'", ex.Message, StringComparison.Ordinal);
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }
}
