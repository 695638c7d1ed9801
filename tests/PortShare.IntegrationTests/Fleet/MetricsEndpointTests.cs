using System.Globalization;
using System.Net;
using System.Net.Sockets;
using PortShare.Fleet;
using PortShare.IntegrationTests.Infrastructure;

namespace PortShare.IntegrationTests.Fleet;

/// <summary>
/// <c>--metrics</c> of <c>portshare agent</c> and <c>portshare router follow</c>, scraped over HTTP on loopback as
/// Prometheus would: the built CLI runs in the background against a real etcd, the host and the router each in a
/// namespace of their own.
/// </summary>
[Trait("Category", "RequiresRoot")]
public sealed class MetricsEndpointTests : IDisposable
{
    private const string Spec = """{"unit_size": 64, "min_units": 2, "quarantine_seconds": 2, "lease_ttl_seconds": 4, "egress": [{"address": "192.0.2.1", "usable_range": "40000-40511"}]}""";
    private readonly string _dir = Directory.CreateTempSubdirectory("portshare-metrics-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Agent_and_follower_serve_their_state_at_PREFIX_metrics()
    {
        Root.Require();
        await using var etcd = await EtcdServer.StartAsync();
        var spec = Path.Combine(_dir, "spec.json");
        await File.WriteAllTextAsync(spec, Spec, TestContext.Current.CancellationToken);
        Assert.Equal(0, (await CliRunner.RunInProcessAsync("fleet", "init", spec, "--etcd", etcd.Url)).ExitCode);
        using var hostNs = TestNetns.Create();
        using var routerNs = TestNetns.Create();

        // The router: the host's link (the next hop 10.9.0.2 is on it) and an uplink where replies arrive.
        routerNs.Ip("link", "add", "d0", "type", "veth", "peer", "name", "d0p");
        routerNs.Ip("link", "add", "up0", "type", "veth", "peer", "name", "up0p");
        routerNs.Ip("addr", "add", "10.9.0.1/24", "dev", "d0");
        foreach (var dev in new[] { "d0", "d0p", "up0", "up0p" })
        {
            routerNs.Ip("link", "set", dev, "up");
        }

        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(5) };
        var agentUrl = $"http://127.0.0.1:{FreePort()}/";
        await using var agent = BackgroundCli.Start("agent", "--etcd", etcd.Url, "--host", "h1", "--next-hop", "10.9.0.2", "--netns", hostNs.Name, "--state", Path.Combine(_dir, "h1.json"), "--metrics", agentUrl);
        await agent.WaitForLineAsync("Host file: serving");

        var scrape = await ScrapeUntilAsync(http, agentUrl, m => Value(m, "portshare_agent_units", "egress=\"192.0.2.1\"") == 2 && Value(m, "portshare_agent_connected") == 1);
        Assert.Equal(128, Value(scrape, "portshare_agent_serving_ports", "egress=\"192.0.2.1\""));
        Assert.Equal(0, Value(scrape, "portshare_agent_draining_units"));
        Assert.Equal(2, Value(scrape, "portshare_agent_claims_total"));
        Assert.Equal(0, Value(scrape, "portshare_agent_refusals_total"));
        Assert.InRange(Value(scrape, "portshare_agent_deadline_seconds") ?? -1, 0.1, 3);
        Assert.Contains("# TYPE portshare_agent_units gauge", scrape, StringComparison.Ordinal);

        var followUrl = $"http://127.0.0.1:{FreePort()}/";
        await using var follow = BackgroundCli.Start("router", "follow", "--etcd", etcd.Url, "--netns", routerNs.Name, "--uplink", "up0", "--metrics", followUrl);
        await follow.WaitForLineAsync("route(s)");
        using var fleet = new EtcdFleet(etcd.Url);
        var view = await fleet.ReadAsync(TestContext.Current.CancellationToken);
        scrape = await ScrapeUntilAsync(http, followUrl, m => Value(m, "portshare_follower_revision") == view.Revision && Value(m, "portshare_follower_connected") == 1);
        Assert.Equal(view.Routes().Count, Value(scrape, "portshare_follower_routes"));
        Assert.Equal(1, Value(scrape, "portshare_follower_resyncs_total"));
        Assert.Equal(1, Value(scrape, "portshare_follower_applies_total"));

        // What the router holds is that revision.
        var show = await CliRunner.RunInProcessAsync("router", "show", "--netns", routerNs.Name, "--json");
        Assert.True(show.ExitCode == 0, show.StdErr);
        Assert.Contains($"\"generation\":{view.Revision.ToString(CultureInfo.InvariantCulture)}", show.StdOut, StringComparison.Ordinal);

        // Only PREFIX/metrics answers.
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync(followUrl + "other", TestContext.Current.CancellationToken)).StatusCode);

        Assert.Equal(0, await agent.StopAsync());
        Assert.Equal(0, await follow.StopAsync());

        // Stopping the follower leaves the routes; remove them, and the router's saved state in /run with them.
        Assert.Equal(0, (await CliRunner.RunInProcessAsync("router", "remove", "--netns", routerNs.Name)).ExitCode);
    }

    private static async Task<string> ScrapeUntilAsync(HttpClient http, string prefix, Func<string, bool> done)
    {
        var last = string.Empty;
        for (var i = 0; i < 100; i++)
        {
            try
            {
                last = await http.GetStringAsync(prefix + "metrics", TestContext.Current.CancellationToken);
                if (done(last))
                {
                    return last;
                }
            }
            catch (HttpRequestException ex)
            {
                last = ex.Message;
            }

            await Task.Delay(200, TestContext.Current.CancellationToken);
        }

        Assert.Fail($"{prefix}metrics never showed the expected values; last scrape:\n{last}");
        return last;
    }

    /// <summary>The value of the sample <paramref name="name"/> (with <paramref name="label"/> among its labels), or null.</summary>
    private static double? Value(string scrape, string name, string? label = null)
    {
        foreach (var line in scrape.Split('\n'))
        {
            if ((line.StartsWith(name + "{", StringComparison.Ordinal) || line.StartsWith(name + " ", StringComparison.Ordinal))
                && (label is null || line.Contains(label, StringComparison.Ordinal)))
            {
                // "name{labels} value" or "name{labels} value timestamp".
                var rest = line.Contains('{', StringComparison.Ordinal) ? line[(line.LastIndexOf('}') + 1)..] : line[name.Length..];
                var parts = rest.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                return double.Parse(parts[0], CultureInfo.InvariantCulture);
            }
        }

        return null;
    }

    private static int FreePort()
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)s.LocalEndPoint!).Port;
    }
}
