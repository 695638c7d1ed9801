using System.Net;
using System.Net.Sockets;

namespace PortShare.Tests;

public class HostSliceFileTests
{
    private static readonly IPAddress s_v4 = IPAddress.Parse("192.0.2.1");
    private static readonly IPAddress s_v6 = IPAddress.Parse("2001:db8:1::1");

    private static HostSliceFile Example() => new()
    {
        Host = "h1",
        PlanGeneration = 3,
        Slices =
        [
            new EgressSlice(s_v4, PortSlice.Parse("39680-39999,40100-46847")),
            new EgressSlice(s_v6, PortSlice.Parse("41000-41001")),
        ],
        Applied = new HostChanges
        {
            Addresses = [s_v4],
            Sysctls = [new SysctlChange("net/ipv4/conf/all/arp_ignore", "0", "1")],
            NftTable = "portshare_host",
        },
    };

    [Fact]
    public void Round_trips_every_range_and_what_host_apply_changed()
    {
        var file = Example();
        var back = HostSliceFile.Parse(file.ToJson());
        Assert.Equal("h1", back.Host);
        Assert.Equal(3, back.PlanGeneration);
        Assert.Equal(file.Slices, back.Slices);
        Assert.Equal(2, back.For(s_v4).Ports.Ranges.Count);
        Assert.Equal(file.Applied!.Addresses, back.Applied!.Addresses);
        Assert.Equal(file.Applied.Sysctls, back.Applied.Sysctls);
        Assert.Equal("portshare_host", back.Applied.NftTable);
    }

    [Fact]
    public void Is_snake_case_json_with_a_version()
    {
        var json = Example().ToJson();
        Assert.Contains("\"version\": 2", json, StringComparison.Ordinal);
        Assert.Contains("\"plan_generation\": 3", json, StringComparison.Ordinal);
        Assert.Contains("\"nft_table\"", json, StringComparison.Ordinal);
        Assert.Contains("\"39680-39999\"", json, StringComparison.Ordinal);
    }

    [Fact]
    public void Reads_the_previous_release_format()
    {
        var v1 = """{"host":"h2","slices":[{"egress":"192.0.2.1","range":"42178-51589"}],"previousPortRange":"32768 60999"}""";
        var file = HostSliceFile.Parse(v1);
        Assert.Equal(PortSlice.Parse("42178-51589"), file.For(s_v4).Ports);
        Assert.Equal("32768 60999", Assert.Single(file.Applied!.Sysctls).Previous);
    }

    [Fact]
    public void Chooses_a_slice_by_address_or_family_and_names_what_it_has()
    {
        var file = Example();
        Assert.Equal(s_v6, file.For(family: AddressFamily.InterNetworkV6).Egress);
        Assert.Equal(s_v4, file.For(IPAddress.Parse("::ffff:192.0.2.1")).Egress);
        var ex = Assert.Throws<PortShareException>(() => file.For());
        Assert.Contains("2 egress addresses", ex.Message, StringComparison.Ordinal);
        ex = Assert.Throws<PortShareException>(() => file.For(IPAddress.Parse("192.0.2.99")));
        Assert.Contains("39680-39999,40100-46847 on 192.0.2.1", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("", "not valid JSON")]
    [InlineData("null", "empty")]
    [InlineData("""{"version":9,"host":"h","slices":[]}""", "version 9")]
    [InlineData("""{"slices":[]}""", "names no \"host\"")]
    [InlineData("""{"host":"h"}""", "no \"slices\"")]
    [InlineData("""{"host":"h","slices":[null]}""", "slices[0] is null")]
    [InlineData("""{"host":"h","slices":[{"egress":"x","ranges":["1-2"]}]}""", "'x' is not an IP address")]
    [InlineData("""{"host":"h","slices":[{"egress":"192.0.2.1","ranges":[]}]}""", "has no \"ranges\"")]
    [InlineData("""{"host":"h","slices":[{"egress":"192.0.2.1","ranges":["5-3"]}]}""", "greater than the high port")]
    [InlineData("""{"host":"h","slices":[{"egress":"192.0.2.1","ranges":["1-10","5-20"]}]}""", "overlap")]
    [InlineData("""{"host":"h","slices":[{"egress":"192.0.2.1","ranges":["1-2"]},{"egress":"192.0.2.1","ranges":["3-4"]}]}""", "listed twice")]
    public void A_bad_file_is_one_clear_error(string json, string expected)
    {
        var ex = Assert.Throws<PortShareException>(() => HostSliceFile.Parse(json, "host.json"));
        Assert.StartsWith("host.json is not a usable PortShare host file", ex.Message, StringComparison.Ordinal);
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Saves_atomically_and_leaves_no_temporary_file()
    {
        var dir = Directory.CreateTempSubdirectory("portshare-hostfile-");
        try
        {
            var path = Path.Combine(dir.FullName, "sub", "host.json");
            Example().Save(path);
            Example().Save(path);
            Assert.Equal(Example().Slices, HostSliceFile.Load(path).Slices);
            Assert.Equal(["host.json"], Directory.GetFiles(Path.GetDirectoryName(path)!).Select(Path.GetFileName));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void A_missing_file_or_a_directory_says_what_to_do()
    {
        var ex = Assert.Throws<PortShareException>(() => HostSliceFile.Load("/nonexistent/portshare/host.json"));
        Assert.Contains("does not exist", ex.Message, StringComparison.Ordinal);
        Assert.Contains("host apply", ex.Message, StringComparison.Ordinal);
        ex = Assert.Throws<PortShareException>(() => HostSliceFile.Load(Path.GetTempPath()));
        Assert.Contains("is a directory", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_path_is_the_argument_else_the_environment_else_the_default()
    {
        Assert.Equal("/x/host.json", HostSliceFile.ResolvePath("/x/host.json"));
        var env = Environment.GetEnvironmentVariable(HostSliceFile.PathVariable);
        Assert.Equal(string.IsNullOrEmpty(env) ? HostSliceFile.DefaultPath : env, HostSliceFile.ResolvePath());
    }
}
