using System.Net;
using System.Net.Sockets;
using PortShare.Fleet;
using PortShare.IntegrationTests.Infrastructure;

namespace PortShare.IntegrationTests.Fleet;

/// <summary>
/// What <c>portshare agent</c>, <c>portshare router follow</c> and <c>fleet init</c> say about bad input: one clear line
/// and exit 2 for a wrong command line, exit 1 for an etcd or pool that is not there or a second agent, never a stack
/// trace, and nothing written. The CLI runs in-process; a running first agent is the built CLI in the background.
/// Every agent and follower that could get as far as the host or the router acts inside a namespace of its own.
/// </summary>
public sealed class AgentCliTests : IDisposable
{
    private const string Spec = """{"unit_size": 64, "min_units": 2, "quarantine_seconds": 2, "lease_ttl_seconds": 4, "egress": [{"address": "192.0.2.1", "usable_range": "40000-40511"}]}""";
    private readonly string _dir = Directory.CreateTempSubdirectory("portshare-agentcli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    [Trait("Category", "RequiresRoot")]
    public async Task Unreachable_etcd_is_exit_1_and_one_line_naming_the_url()
    {
        Root.Require();
        using var ns = TestNetns.Create();
        var url = $"http://127.0.0.1:{FreePort()}";

        var agent = await Run("agent", "--etcd", url, "--host", "h1", "--next-hop", "10.9.0.2", "--netns", ns.Name, "--state", State("h1.json"));
        var follow = await Run("router", "follow", "--etcd", url, "--netns", ns.Name);

        foreach (var r in new[] { agent, follow })
        {
            Assert.Equal(1, r.ExitCode);
            var line = OneLine(r);
            Assert.StartsWith($"error: etcd at {url} is unreachable (Connection refused)", line, StringComparison.Ordinal);
            Assert.Contains("check --etcd and that etcd is running", line, StringComparison.Ordinal);
        }

        Assert.False(File.Exists(State("h1.json")), "the agent wrote a host file without a pool");
    }

    [Fact]
    [Trait("Category", "RequiresRoot")]
    public async Task A_pool_that_does_not_exist_says_to_run_fleet_init()
    {
        Root.Require();
        await using var etcd = await EtcdServer.StartAsync();
        using var ns = TestNetns.Create();

        var agent = await Run("agent", "--etcd", etcd.Url, "--host", "h1", "--next-hop", "10.9.0.2", "--netns", ns.Name, "--state", State("h1.json"));
        var follow = await Run("router", "follow", "--etcd", etcd.Url, "--prefix", "/other/", "--netns", ns.Name);

        Assert.Equal(1, agent.ExitCode);
        Assert.Equal($"error: There is no pool at /portshare/ on {etcd.Url}: create it with 'portshare fleet init SPEC.json --etcd {etcd.Url}'.", OneLine(agent));
        Assert.Equal(1, follow.ExitCode);
        Assert.Equal($"error: There is no pool at /other/ on {etcd.Url}: create it with 'portshare fleet init SPEC.json --etcd {etcd.Url} --prefix /other/'.", OneLine(follow));
        Assert.False(File.Exists(State("h1.json")));
    }

    public static TheoryData<string[], string> BadFlags => new()
    {
        { ["agent", "--next-hop", "10.9.0.300"], "error: --next-hop '10.9.0.300' is not an IPv4 or IPv6 address." },
        { ["agent", "--next-hop", "10.9.0.2", "10.9.0.3"], "error: --next-hop: give one address per family, not two IPv4 addresses (10.9.0.2 and 10.9.0.3)." },
        { ["agent", "--next-hop", "10.9.0.2", "--next-hop", "10.9.0.3"], "error: --next-hop: give one address per family, not two IPv4 addresses (10.9.0.2 and 10.9.0.3)." },
        { ["agent", "--next-hop", "10.9.0.2", "--metrics", "127.0.0.1:9464"], "error: --metrics '127.0.0.1:9464' is not an http:// URL prefix" },
        { ["agent", "--next-hop", "10.9.0.2", "--metrics", "http://127.0.0.1:9464/metrics"], "error: --metrics 'http://127.0.0.1:9464/metrics': give the prefix without /metrics" },
        { ["agent", "--next-hop", "10.9.0.2", "--metrics", "http://0.0.0.0:9464/"], "error: --metrics 'http://0.0.0.0:9464/': HttpListener cannot listen on 0.0.0.0; use http://+:9464/" },
        { ["agent", "--next-hop", "10.9.0.2", "--metrics", "http://[::1]:9464/"], "error: --metrics 'http://[::1]:9464/': .NET's HttpListener on Linux cannot listen on an IPv6 address" },
        { ["agent", "--next-hop", "10.9.0.2", "--drain-timeout", "-1"], "error: --drain-timeout must be 0-3600 seconds, not -1." },
        { ["agent", "--next-hop", "10.9.0.2", "--drain-timeout", "soon"], "error: --drain-timeout: 'soon' is not a whole number in range." },
        { ["agent", "--next-hop", "10.9.0.2", "--margin", "0"], "error: --margin must be more than 0 seconds, not 0." },
        { ["agent", "--next-hop", "10.9.0.2", "--host", "web 1"], "error: --host 'web 1' is not a valid host name" },
        { ["agent", "--next-hop", "10.9.0.2", "--etcd", "127.0.0.1:2379"], "error: --etcd '127.0.0.1:2379': '127.0.0.1:2379' is not an http:// or https:// URL with a port" },
        { ["agent", "--next-hop", "10.9.0.2", "--etcd", "http://127.0.0.1"], "error: --etcd 'http://127.0.0.1': 'http://127.0.0.1' has no port" },
        { ["agent", "--next-hop", "10.9.0.2", "--etcd", ""], "error: --etcd is empty" },
        { ["agent", "--next-hop", "10.9.0.2", "--prefix", ""], "error: --prefix '' is not a key prefix" },
        { ["router", "follow", "--metrics", "https://127.0.0.1:9464/"], "error: --metrics 'https://127.0.0.1:9464/' is not an http:// URL prefix" },
        { ["router", "follow", "--etcd", "http://127.0.0.1:2379,etcd-2"], "error: --etcd 'http://127.0.0.1:2379,etcd-2': 'etcd-2' is not an http:// or https:// URL with a port" },
        { ["router", "follow", "--etcd", "http://127.0.0.1:2379/v3"], "error: --etcd 'http://127.0.0.1:2379/v3': 'http://127.0.0.1:2379/v3' has a path" },
    };

    [Theory]
    [MemberData(nameof(BadFlags))]
    public async Task A_bad_flag_is_exit_2_with_the_reason_and_nothing_runs(string[] args, string message)
    {
        // Good values for the required flags the case does not give (etcd is never asked: parsing fails first).
        var verb = args[0] == "agent" ? 1 : 2;
        var defaults = new List<string> { "--etcd", "http://127.0.0.1:1", "--netns", "portshare-never-made" };
        defaults.AddRange(verb == 1 ? ["--host", "h1", "--state", State("h1.json")] : []);
        var command = args[..verb].ToList();
        for (var i = 0; i < defaults.Count; i += 2)
        {
            if (!args.Contains(defaults[i]))
            {
                command.AddRange(defaults.Skip(i).Take(2));
            }
        }

        var r = await Run([.. command, .. args[verb..]]);

        Assert.True(r.ExitCode == 2, $"exit {r.ExitCode}: {r.StdErr}");
        var lines = r.StdErr.TrimEnd().Split('\n');
        Assert.StartsWith(message, lines[0], StringComparison.Ordinal);
        Assert.Equal(["run 'portshare --help' (or 'portshare COMMAND --help') for usage."], lines[1..]);
        Assert.Empty(Directory.GetFileSystemEntries(_dir));
    }

    [Fact]
    [Trait("Category", "RequiresRoot")]
    public async Task While_an_agent_runs_a_second_one_with_its_host_name_or_its_state_file_is_refused()
    {
        Root.Require();
        await using var etcd = await EtcdServer.StartAsync();
        Assert.Equal(0, (await Run("fleet", "init", Write("spec.json", Spec), "--etcd", etcd.Url)).ExitCode);
        using var ns1 = TestNetns.Create();
        using var ns2 = TestNetns.Create();
        await using var first = BackgroundCli.Start("agent", "--etcd", etcd.Url, "--host", "h1", "--next-hop", "10.9.0.2", "--netns", ns1.Name, "--state", State("h1.json"));
        await first.WaitForLineAsync("Host file: serving");

        // The same host name elsewhere (its own namespace and files): etcd refuses the registration.
        var sameName = await Run("agent", "--etcd", etcd.Url, "--host", "h1", "--next-hop", "10.9.0.3", "--netns", ns2.Name, "--state", State("other.json"));
        Assert.Equal(1, sameName.ExitCode);
        Assert.StartsWith("error: Host name 'h1' is already registered in the pool at /portshare/ by a live agent", OneLine(sameName), StringComparison.Ordinal);

        // Another name on the first agent's files: the state file's lock refuses it before etcd is asked.
        var sameHostFile = await Run("agent", "--etcd", etcd.Url, "--host", "h2", "--next-hop", "10.9.0.3", "--netns", ns2.Name, "--state", State("h1.json"));
        var sameAgentState = await Run("agent", "--etcd", etcd.Url, "--host", "h2", "--next-hop", "10.9.0.3", "--netns", ns2.Name, "--state", State("other.json"), "--agent-state", State("h1.json.agent"));
        foreach (var r in new[] { sameHostFile, sameAgentState })
        {
            Assert.Equal(1, r.ExitCode);
            Assert.Equal($"error: Another agent is running with the state file {State("h1.json.agent")} (its lock {State("h1.json.agent.lock")} is held): run one agent per host.", OneLine(r));
        }

        // The first agent noticed nothing: it still owns its two units, and nobody else registered.
        using var fleet = new EtcdFleet(etcd.Url);
        var status = await fleet.StatusAsync(TestContext.Current.CancellationToken);
        Assert.Equal(2, status.Count(u => u.Owner == "h1" && u.State == "owned"));
        Assert.DoesNotContain(status, u => u.Owner == "h2");
        Assert.False(first.HasExited);
        Assert.Equal(0, await first.StopAsync());
        Assert.Contains("Released every unit and left the pool.", first.StdErr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(6)]
    public async Task Fleet_init_refuses_a_unit_size_that_breaks_the_even_port_rule_and_writes_nothing(int unitSize)
    {
        await using var etcd = await EtcdServer.StartAsync();
        var spec = Write("spec.json", Spec.Replace("\"unit_size\": 64", $"\"unit_size\": {unitSize}", StringComparison.Ordinal));

        var r = await Run("fleet", "init", spec, "--etcd", etcd.Url);

        Assert.Equal(1, r.ExitCode);
        var line = OneLine(r);
        Assert.Contains($"unit_size {unitSize} is not usable: it must be a power of two from 2 to 32768", line, StringComparison.Ordinal);
        Assert.Contains("the kernel's even-port rule", line, StringComparison.Ordinal);
        using var fleet = new EtcdFleet(etcd.Url);
        Assert.Empty(await fleet.KeysUnderAsync("/", TestContext.Current.CancellationToken));
    }

    // An agent that wrongly started would run until cancelled: fail the test instead of hanging it.
    private static Task<CliRunner.Result> Run(params string[] args) =>
        CliRunner.RunInProcessAsync(args).WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);

    /// <summary>The one line on stderr (failing if there are more, or a stack trace).</summary>
    private static string OneLine(CliRunner.Result r)
    {
        Assert.DoesNotContain("   at ", r.StdErr, StringComparison.Ordinal);
        Assert.DoesNotContain("unexpected", r.StdErr, StringComparison.Ordinal);
        var lines = r.StdErr.TrimEnd().Split('\n');
        Assert.True(lines.Length == 1, $"more than one line on stderr: {r.StdErr}");
        return lines[0];
    }

    private string State(string name) => Path.Combine(_dir, name);

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    private static int FreePort()
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)s.LocalEndPoint!).Port;
    }
}
