using System.Net;
using System.Text.Json;
using PortShare.IntegrationTests.Infrastructure;

namespace PortShare.IntegrationTests.Cli;

// Exclusive: one test points PORTSHARE_HOST_FILE (process-wide) at a missing file.
[Collection(ExclusiveCollection.Name)]
public class ConnectCommandTests
{
    [Theory]
    [InlineData("5-3", "greater than the high port")]
    [InlineData("70000", "above 65535")]
    [InlineData("abc", "'abc' is not a port number")]
    [InlineData("0-100", "port 0")]
    public async Task Bad_slice_is_one_line_and_exit_2(string slice, string why)
    {
        var r = await CliRunner.RunInProcessAsync("connect", "--slice", slice, "127.0.0.1:9");
        Assert.Equal(2, r.ExitCode);
        var first = r.StdErr.Split('\n')[0];
        Assert.StartsWith("error: --slice:", first, StringComparison.Ordinal);
        Assert.Contains(why, first, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", r.StdErr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("127.0.0.1", "port is missing")]
    [InlineData("localhost:", "port is missing")]
    [InlineData("127.0.0.1:99999", "not a number from 1 to 65535")]
    [InlineData("::1:80", "[ADDRESS]:PORT")]
    public async Task Bad_destination_is_one_line_and_exit_2(string destination, string why)
    {
        var r = await CliRunner.RunInProcessAsync("connect", "--slice", "40000-40001", destination);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(why, r.StdErr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", r.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Missing_slice_source_and_unknown_option_are_clear_errors()
    {
        // No --slice and no --plan: the host's slice file is the source; when there is none, say how to make one.
        var missing = Path.Combine(Path.GetTempPath(), $"portshare-no-such-{Guid.NewGuid():N}.json");
        Environment.SetEnvironmentVariable("PORTSHARE_HOST_FILE", missing);
        CliRunner.Result r;
        try
        {
            r = await CliRunner.RunInProcessAsync("connect", "127.0.0.1:9");
        }
        finally
        {
            Environment.SetEnvironmentVariable("PORTSHARE_HOST_FILE", null);
        }

        Assert.Equal(1, r.ExitCode);
        Assert.Contains(missing, r.StdErr, StringComparison.Ordinal);
        Assert.Contains("portshare host apply", r.StdErr, StringComparison.Ordinal);
        r = await CliRunner.RunInProcessAsync("connect", "--slice", "40000-40001", "--frobnicate", "127.0.0.1:9");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--frobnicate", r.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Doctor_json_reports_this_kernel()
    {
        var r = await CliRunner.RunInProcessAsync("doctor", "--json");
        Assert.Equal(0, r.ExitCode);
        using var doc = JsonDocument.Parse(r.StdOut);
        Assert.Equal(HostFacts.KernelRelease(), doc.RootElement.GetProperty("kernel").GetString());
        Assert.Equal(HostFacts.ReadNetnsRange().ToString(), doc.RootElement.GetProperty("netns_range").GetString());
        Assert.Equal(HostFacts.SupportsLocalPortRange(), doc.RootElement.GetProperty("ip_local_port_range_supported").GetBoolean());
    }

    [Trait("Category", "RequiresRoot")]
    [Theory]
    [InlineData("kernel", "127.0.0.1")]
    [InlineData("kernel", "::1")]
    [InlineData("fallback", "127.0.0.1")]
    [InlineData("fallback", "::1")]
    public void Connect_prints_ports_inside_the_slice_then_fails_clearly_when_exhausted(string strategy, string address)
    {
        Root.Require();
        using var ns = TestNetns.Create();
        var ip = IPAddress.Parse(address);
        using var listener = ns.Listen(ip);
        var remote = (IPEndPoint)listener.LocalEndPoint!;
        var destination = ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{ip}]:{remote.Port}" : $"{ip}:{remote.Port}";

        var r = CliRunner.RunInNamespace(ns.Name, null, "connect", "--slice", "40200-40203", "--strategy", strategy, "--count", "4", "--json", destination);
        Assert.True(r.ExitCode == 0, r.StdErr);
        var lines = r.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(4, lines.Length);
        foreach (var line in lines)
        {
            using var doc = JsonDocument.Parse(line);
            Assert.InRange(doc.RootElement.GetProperty("local_port").GetInt32(), 40200, 40203);
            Assert.Equal(ip, IPAddress.Parse(doc.RootElement.GetProperty("local_address").GetString()!));
            Assert.Equal(strategy, doc.RootElement.GetProperty("strategy").GetString());
        }

        // The first run's ports are now in TIME_WAIT toward this destination; five more cannot all fit.
        r = CliRunner.RunInNamespace(ns.Name, null, "connect", "--slice", "40200-40203", "--strategy", strategy, "--count", "5", destination);
        Assert.Equal(1, r.ExitCode);
        var errors = r.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(errors);
        Assert.Contains("Port slice 40200-40203 (4 ports) is exhausted", errors[0], StringComparison.Ordinal);
    }

    [Trait("Category", "RequiresRoot")]
    [Fact]
    public void Slice_outside_the_namespace_range_and_old_kernel_are_clear_errors()
    {
        Root.Require();
        using var ns = TestNetns.Create(40000, 49999);
        var r = CliRunner.RunInNamespace(ns.Name, null, "connect", "--slice", "30000-30001", "127.0.0.1:9");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("lies outside this network namespace's ip_local_port_range 40000-49999", r.StdErr, StringComparison.Ordinal);

        // A kernel without IP_LOCAL_PORT_RANGE (simulated): a forced kernel path is an error, never a silent fallback.
        var old = new Dictionary<string, string> { ["PORTSHARE_ASSUME_NO_KERNEL_RANGE"] = "1" };
        r = CliRunner.RunInNamespace(ns.Name, old, "connect", "--slice", "40000-40001", "--strategy", "kernel", "127.0.0.1:9");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("has no IP_LOCAL_PORT_RANGE", r.StdErr, StringComparison.Ordinal);

        using var listener = ns.Listen(IPAddress.Loopback);
        r = CliRunner.RunInNamespace(ns.Name, old, "connect", "--slice", "40000-40001", "--json", $"127.0.0.1:{((IPEndPoint)listener.LocalEndPoint!).Port}");
        Assert.True(r.ExitCode == 0, r.StdErr);
        Assert.Contains("\"strategy\":\"fallback\"", r.StdOut, StringComparison.Ordinal);
    }
}

public class ConnectFromPlanTests
{
    [Fact]
    public async Task Connect_from_a_plan_binds_the_egress_address_and_says_when_it_is_not_on_the_host()
    {
        var dir = Directory.CreateTempSubdirectory("portshare-plan-");
        try
        {
            var spec = Path.Combine(FindRepoRoot(), "examples", "spec.json");
            var plan = Path.Combine(dir.FullName, "plan.json");
            var made = await CliRunner.RunInProcessAsync("plan", "new", spec, "-o", plan);
            Assert.True(made.ExitCode == 0, made.StdErr);
            using var listener = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
            listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            listener.Listen();
            var port = ((IPEndPoint)listener.LocalEndPoint!).Port;

            // web-1's egress address 192.0.2.1 is not on this host: the connect never leaves from another address.
            var r = await CliRunner.RunInProcessAsync("connect", "--plan", plan, "--host", "web-1", "--egress", "192.0.2.1", $"127.0.0.1:{port}");
            Assert.Equal(1, r.ExitCode);
            Assert.Contains("egress address 192.0.2.1 is not assigned to any interface", r.StdErr, StringComparison.Ordinal);

            // The destination's family picks web-1's IPv4 slice; an IPv4-only destination cannot use its IPv6 slice.
            r = await CliRunner.RunInProcessAsync("connect", "--plan", plan, "--host", "web-1", "--egress", "2001:db8:1::1", $"127.0.0.1:{port}");
            Assert.Equal(1, r.ExitCode);
            Assert.Contains("has no IPv6 address", r.StdErr, StringComparison.Ordinal);

            // --local-address that is not the host's egress address is refused; an unknown host is named.
            r = await CliRunner.RunInProcessAsync("connect", "--plan", plan, "--host", "web-1", "--local-address", "127.0.0.1", $"127.0.0.1:{port}");
            Assert.Equal(2, r.ExitCode);
            Assert.Contains("is not host web-1's egress address 192.0.2.1", r.StdErr, StringComparison.Ordinal);
            r = await CliRunner.RunInProcessAsync("connect", "--plan", plan, "--host", "nobody", "--egress", "192.0.2.1", $"127.0.0.1:{port}");
            Assert.Equal(1, r.ExitCode);
            Assert.Contains("nobody", r.StdErr, StringComparison.Ordinal);
            r = await CliRunner.RunInProcessAsync("connect", "--slice", "40000-40001", "--plan", plan, "--host", "web-1", $"127.0.0.1:{port}");
            Assert.Equal(2, r.ExitCode);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private static string FindRepoRoot()
    {
        var d = new DirectoryInfo(AppContext.BaseDirectory);
        while (d is not null && !File.Exists(Path.Combine(d.FullName, "PortShare.slnx")))
        {
            d = d.Parent;
        }

        return d?.FullName ?? throw new InvalidOperationException("Cannot find the repository root (PortShare.slnx).");
    }
}
