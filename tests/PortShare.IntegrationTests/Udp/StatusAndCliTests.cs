using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using PortShare.Cli;
using PortShare.Cli.Commands;
using PortShare.Connect;
using PortShare.Diagnostics;
using PortShare.IntegrationTests.Infrastructure;
using Spectre.Console;

namespace PortShare.IntegrationTests.Udp;

/// <summary><c>portshare status</c> and <c>connect --udp</c> against sockets the test opened in its own namespace.</summary>
[Trait("Category", "RequiresRoot")]
// Exclusive: one test points PORTSHARE_HOST_FILE (process-wide) at its own file.
[Collection(ExclusiveCollection.Name)]
public class StatusAndCliTests
{
    private static readonly PortRange s_udpSlice = new(40000, 40063);
    private static readonly PortRange s_tcpSlice = new(40064, 40127);

    [Fact]
    public async Task Status_counts_match_the_sockets_the_test_opened()
    {
        Root.Require();
        using var ns = TestNetns.Create();
        var ct = TestContext.Current.CancellationToken;
        using var udpA = ns.UdpListen(IPAddress.Loopback, 5353);
        using var udpB = ns.UdpListen(IPAddress.Parse("127.0.0.2"), 5353);
        using var tcp = ns.Listen(IPAddress.Loopback, 8080); // a fixed port: an ephemeral one could fall in a slice
        var open = new List<Socket>();
        try
        {
            using var udp = new UdpSliceConnector(s_udpSlice, IPAddress.Loopback, UdpPortMode.Shared, ns.Ns);
            for (var i = 0; i < 10; i++)
            {
                open.Add(await udp.ConnectAsync(udpA.Endpoint(), ct));
            }

            for (var i = 0; i < 5; i++)
            {
                open.Add(await udp.ConnectAsync(udpB.Endpoint(), ct));
            }

            var tcpConnector = new SliceConnector(s_tcpSlice, IPAddress.Loopback, ConnectStrategy.Auto, ns.Ns);
            for (var i = 0; i < 3; i++)
            {
                open.Add(await tcpConnector.ConnectAsync(tcp.Endpoint(), ct));
                open.Add(await tcp.AcceptAsync(ct)); // server side: local port is the listener's, never "outside"
            }

            // A program that ignores PortShare: a UDP flow on the egress address from a port in no slice.
            var stray = ns.Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            open.Add(stray);
            stray.Bind(new IPEndPoint(IPAddress.Loopback, 45000));
            stray.Connect(udpA.Endpoint());

            var report = SliceStatusReader.Read([s_udpSlice, s_tcpSlice], IPAddress.Loopback, ns.Ns);
            var u = report.Slices[0];
            Assert.Equal((0, 15, 2, true), (u.TcpSockets, u.UdpSockets, u.Destinations, u.InsideNetnsRange));
            Assert.Equal(new DestinationUsage("udp", udpA.Endpoint(), 10, 10.0 / 64), u.Fullest);
            var t = report.Slices[1];
            Assert.Equal((3, 0, 1), (t.TcpSockets, t.UdpSockets, t.Destinations));
            Assert.Equal(new DestinationUsage("tcp", tcp.Endpoint(), 3, 3.0 / 64), t.Fullest);
            var outside = Assert.Single(report.OutsideSlices);
            Assert.Equal(45000, outside.Local.Port);

            // Without an egress address: every local address, no "outside" check.
            var any = SliceStatusReader.Read([s_udpSlice], null, ns.Ns);
            Assert.Equal(15, any.Slices[0].UdpSockets);
            Assert.Empty(any.OutsideSlices);

            // The command's JSON carries the same numbers, and the stray flow is a warning on stderr.
            var (console, stdout, stderr) = TestConsole();
            var code = await StatusCommand.RunAsync(console, [s_udpSlice, s_tcpSlice], IPAddress.Loopback, json: true, watch: null, ns.Ns, ct);
            Assert.Equal(ExitCodes.Success, code);
            using var doc = JsonDocument.Parse(stdout.ToString());
            var slices = doc.RootElement.GetProperty("slices");
            Assert.Equal(15, slices[0].GetProperty("udp").GetInt32());
            Assert.Equal(2, slices[0].GetProperty("destinations").GetInt32());
            Assert.Equal(10, slices[0].GetProperty("fullest").GetProperty("ports_in_use").GetInt32());
            Assert.Equal(3, slices[1].GetProperty("tcp").GetInt32());
            Assert.Equal(1, doc.RootElement.GetProperty("outside_slices").GetArrayLength());
            Assert.Contains("outside every slice", stderr.ToString(), StringComparison.Ordinal);

            // The table shows the slice and its fill.
            (console, stdout, _) = TestConsole();
            Assert.Equal(ExitCodes.Success, await StatusCommand.RunAsync(console, [s_udpSlice], null, json: false, watch: null, ns.Ns, ct));
            Assert.Contains("40000-40063", stdout.ToString(), StringComparison.Ordinal);
            Assert.Contains("16%", stdout.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            open.ForEach(s => s.Dispose());
        }
    }

    [Fact]
    public async Task Status_warns_about_a_slice_outside_the_netns_range()
    {
        Root.Require();
        using var ns = TestNetns.Create(40000, 40099);
        var (console, stdout, stderr) = TestConsole();
        var code = await StatusCommand.RunAsync(console, [new PortRange(40096, 40111)], null, json: true, watch: null, ns.Ns, TestContext.Current.CancellationToken);
        Assert.Equal(ExitCodes.Success, code);
        using var doc = JsonDocument.Parse(stdout.ToString());
        Assert.False(doc.RootElement.GetProperty("slices")[0].GetProperty("inside_netns_range").GetBoolean());
        Assert.Contains("not inside ip_local_port_range 40000-40099", stderr.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new[] { "status", "--plan", "p.json" }, "--plan and --host go together")]
    [InlineData(new[] { "status", "--slice", "40000-40063", "--plan", "p.json", "--host", "h1" }, "either --slice or --plan")]
    [InlineData(new[] { "status", "--slice", "5-3" }, "greater than")]
    [InlineData(new[] { "status", "--slice", "40000-40063", "--slice", "40060-40100" }, "overlap")]
    [InlineData(new[] { "status", "--slice", "40000-40063", "--watch", "0" }, "between 1 and 3600")]
    [InlineData(new[] { "status", "--slice", "40000-40063", "--local-address", "nope" }, "'nope' is not an IPv4 or IPv6 address")]
    public async Task Status_rejects_bad_input_with_one_clear_error_and_exit_2(string[] args, string message)
    {
        // (Without --slice or --plan, status reads the host's slice file: see Status_reads_the_slices_of_a_plan_host.)
        var (console, _, stderr) = TestConsole();
        var code = await CliApp.RunAsync(args, console);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains(message, stderr.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Status_reads_the_slices_of_a_plan_host_or_of_the_host_file()
    {
        var dir = Directory.CreateTempSubdirectory("portshare-status-");
        try
        {
            var plan = Path.Combine(dir.FullName, "plan.json");
            var spec = Path.Combine(dir.FullName, "spec.json");
            File.WriteAllText(spec, """
                {"version": 1, "usable_range": "40000-40511", "min_slice_size": 64, "alignment": 2, "egress": [{"address": "192.0.2.1"}],
                 "hosts": [{"name": "h1", "next_hops": ["198.51.100.2"]}, {"name": "h2", "next_hops": ["198.51.100.6"]}]}
                """);
            var (console, stdout, stderr) = TestConsole();
            Assert.True(await CliApp.RunAsync(["plan", "new", spec, "-o", plan], console) == ExitCodes.Success, stderr.ToString());
            var h2 = Planning.PlanFile.Load(plan).GetAssignment("h2", IPAddress.Parse("192.0.2.1")).Ranges[0];

            (console, stdout, stderr) = TestConsole();
            Assert.True(await CliApp.RunAsync(["status", "--plan", plan, "--host", "h2", "--json"], console) == ExitCodes.Success, stderr.ToString());
            Assert.Contains(h2.ToString(), stdout.ToString(), StringComparison.Ordinal);

            var hostFile = Path.Combine(dir.FullName, "host.json");
            File.WriteAllText(hostFile, new HostSliceFile { Host = "h2", Slices = [new EgressSlice(IPAddress.Parse("192.0.2.1"), h2)] }.ToJson());
            Environment.SetEnvironmentVariable("PORTSHARE_HOST_FILE", hostFile);
            try
            {
                (console, stdout, stderr) = TestConsole();
                Assert.True(await CliApp.RunAsync(["status", "--json"], console) == ExitCodes.Success, stderr.ToString());
                Assert.Contains(h2.ToString(), stdout.ToString(), StringComparison.Ordinal);
            }
            finally
            {
                Environment.SetEnvironmentVariable("PORTSHARE_HOST_FILE", null);
            }
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("::1")]
    public async Task Udp_connect_sends_a_datagram_per_flow_and_prints_each_reply(string address)
    {
        Root.Require();
        using var ns = TestNetns.Create();
        var ip = IPAddress.Parse(address);
        using var server = ns.UdpListen(ip, 7007);
        var echo = Task.Run(() => EchoSenders(server), TestContext.Current.CancellationToken);
        var (console, stdout, stderr) = TestConsole();
        var code = await CommandRunner.RunAsync(console, () => UdpConnect.RunAsync(console, s_udpSlice, null, "shared", 3, json: true, server.Endpoint(), "hi", TimeSpan.FromSeconds(1), ns.Ns, TestContext.Current.CancellationToken), TestContext.Current.CancellationToken);
        Assert.True(code == ExitCodes.Success, stderr.ToString());
        var lines = stdout.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        foreach (var line in lines)
        {
            using var doc = JsonDocument.Parse(line);
            var local = new IPEndPoint(IPAddress.Parse(doc.RootElement.GetProperty("local_address").GetString()!), doc.RootElement.GetProperty("local_port").GetInt32());
            Assert.InRange(local.Port, s_udpSlice.Low, s_udpSlice.High);
            Assert.Equal("udp", doc.RootElement.GetProperty("protocol").GetString());
            Assert.Equal(server.Endpoint().ToString(), doc.RootElement.GetProperty("remote").GetString());

            // The server replies with the source it saw: the printed endpoint is the real one.
            Assert.Equal($"hi from {local}", doc.RootElement.GetProperty("reply").GetString());
        }

        server.Dispose();
        await Assert.ThrowsAnyAsync<Exception>(() => echo);
    }

    [Fact]
    public async Task Udp_connect_without_a_listener_reports_refused_and_bad_mode_is_a_usage_error()
    {
        Root.Require();
        using var ns = TestNetns.Create();
        var (console, stdout, refusedErr) = TestConsole();
        var code = await CommandRunner.RunAsync(console, () => UdpConnect.RunAsync(console, s_udpSlice, IPAddress.Loopback, "unique", 1, json: false, new IPEndPoint(IPAddress.Loopback, 9), null, TimeSpan.FromSeconds(1), ns.Ns, TestContext.Current.CancellationToken), TestContext.Current.CancellationToken);
        Assert.Equal(ExitCodes.Failure, code);
        Assert.Contains("refused", stdout.ToString(), StringComparison.Ordinal);
        Assert.Contains("1 of 1 flow(s) to 127.0.0.1:9 were refused", refusedErr.ToString(), StringComparison.Ordinal);

        var (console2, _, stderr) = TestConsole();
        code = await CommandRunner.RunAsync(console2, () => UdpConnect.RunAsync(console2, s_udpSlice, null, "sharded", 1, json: false, new IPEndPoint(IPAddress.Loopback, 9), null, TimeSpan.FromSeconds(1), ns.Ns, TestContext.Current.CancellationToken), TestContext.Current.CancellationToken);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("--mode 'sharded'", stderr.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Udp_connect_from_a_slice_outside_the_netns_range_fails_closed_with_exit_1()
    {
        Root.Require();
        using var ns = TestNetns.Create(45000, 49999);
        var (console, _, stderr) = TestConsole();
        var code = await CommandRunner.RunAsync(console, () => UdpConnect.RunAsync(console, s_udpSlice, null, "shared", 1, json: false, new IPEndPoint(IPAddress.Loopback, 9), null, TimeSpan.FromSeconds(1), ns.Ns, TestContext.Current.CancellationToken), TestContext.Current.CancellationToken);
        Assert.Equal(ExitCodes.Failure, code);
        var lines = stderr.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains("lies outside this network namespace's ip_local_port_range", Assert.Single(lines), StringComparison.Ordinal);
    }

    private static void EchoSenders(Socket server)
    {
        var buffer = new byte[512];
        while (true)
        {
            EndPoint from = new IPEndPoint(server.AddressFamily == AddressFamily.InterNetwork ? IPAddress.Any : IPAddress.IPv6Any, 0);
            var n = server.ReceiveFrom(buffer, ref from);
            server.SendTo(System.Text.Encoding.UTF8.GetBytes($"{System.Text.Encoding.UTF8.GetString(buffer, 0, n)} from {from}"), from);
        }
    }

    private static (CliConsole Console, StringWriter Out, StringWriter Err) TestConsole()
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        IAnsiConsole Make(TextWriter w)
        {
            var c = AnsiConsole.Create(new AnsiConsoleSettings
            {
                Out = new AnsiConsoleOutput(w),
                Ansi = AnsiSupport.No,
                ColorSystem = ColorSystemSupport.NoColors,
                Interactive = InteractionSupport.No,
            });
            c.Profile.Width = 400; // one message, one line: no wrapping at 80 columns
            return c;
        }

        return (new CliConsole(Make(stdout), Make(stderr), stdout, stderr), stdout, stderr);
    }
}
