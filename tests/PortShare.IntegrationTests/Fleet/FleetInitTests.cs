using PortShare.Fleet;
using PortShare.IntegrationTests.Infrastructure;

namespace PortShare.IntegrationTests.Fleet;

/// <summary><c>fleet init</c> and <c>fleet status</c> against a real etcd started by the test.</summary>
public sealed class FleetInitTests : IDisposable
{
    private const string Spec = """{"unit_size": 64, "min_units": 2, "quarantine_seconds": 5, "lease_ttl_seconds": 3, "egress": [{"address": "192.0.2.1", "usable_range": "40000-40511"}]}""";
    private readonly string _dir = Directory.CreateTempSubdirectory("portshare-fleet-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Init_creates_the_pool_once_and_status_lists_every_unit_free()
    {
        await using var etcd = await EtcdServer.StartAsync();
        var spec = Write("spec.json", Spec);

        var first = await CliRunner.RunInProcessAsync("fleet", "init", spec, "--etcd", etcd.Url);
        Assert.True(first.ExitCode == 0, first.StdErr);
        Assert.Contains("8 units of 64 ports", first.StdOut, StringComparison.Ordinal);

        var again = await CliRunner.RunInProcessAsync("fleet", "init", spec, "--etcd", etcd.Url);
        Assert.True(again.ExitCode == 0, again.StdErr);
        Assert.Contains("already exists", again.StdOut, StringComparison.Ordinal);

        var status = await CliRunner.RunInProcessAsync("fleet", "status", "--etcd", etcd.Url, "--json");
        Assert.True(status.ExitCode == 0, status.StdErr);
        Assert.Equal(8, CountOf(status.StdOut, "\"state\":\"free\""));
        Assert.Contains("\"unit\":\"40448-40511\",\"owner\":null,\"state\":\"free\",\"lease_ttl_left\":null,\"epoch\":null", status.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Status_watch_prints_one_line_per_sample_with_units_per_host_and_waiting_hosts()
    {
        await using var etcd = await EtcdServer.StartAsync();
        Assert.Equal(0, (await CliRunner.RunInProcessAsync("fleet", "init", Write("spec.json", Spec), "--etcd", etcd.Url)).ExitCode);
        using var fleet = new EtcdFleet(etcd.Url);
        var pool = (await fleet.ReadAsync(TestContext.Current.CancellationToken)).Pool!;
        var owner = new UnitOwner("h1", [System.Net.IPAddress.Parse("198.51.100.2")]);
        var leases = await fleet.GrantAsync(pool, TestContext.Current.CancellationToken);
        await fleet.RegisterAsync(owner, leases, TestContext.Current.CancellationToken);
        Assert.NotNull(await fleet.ClaimAsync(owner, leases, pool.Egress[0].Address, pool.UnitsOf(pool.Egress[0])[0], cancellationToken: TestContext.Current.CancellationToken));
        await fleet.SetWantAsync(owner, leases, pool.Egress[0].Address, present: true, TestContext.Current.CancellationToken);

        var text = await CliRunner.RunInProcessAsync("fleet", "status", "--etcd", etcd.Url, "--watch", "0.2", "--samples", "3");
        Assert.True(text.ExitCode == 0, text.StdErr);
        var lines = text.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        Assert.All(lines, l => Assert.Matches(@"^\d\d:\d\d:\d\d  h1 1  \| free 7  quarantined 0  \| waiting: h1@192\.0\.2\.1$", l));

        var json = await CliRunner.RunInProcessAsync("fleet", "status", "--etcd", etcd.Url, "--watch", "--samples", "1", "--json");
        Assert.True(json.ExitCode == 0, json.StdErr);
        Assert.Contains("\"hosts\":{\"h1\":1},\"free\":7,\"quarantined\":0,\"wants\":[\"h1@192.0.2.1\"]", json.StdOut, StringComparison.Ordinal);

        var table = await CliRunner.RunInProcessAsync("fleet", "status", "--etcd", etcd.Url);
        Assert.Contains("h1 waits for a unit on 192.0.2.1", table.StdOut.ReplaceLineEndings(" "), StringComparison.Ordinal);
        Assert.Equal(2, (await CliRunner.RunInProcessAsync("fleet", "status", "--etcd", etcd.Url, "--samples", "2")).ExitCode);
    }

    [Fact]
    public async Task A_conflicting_spec_is_refused_and_the_pool_is_left_as_it_was()
    {
        await using var etcd = await EtcdServer.StartAsync();
        Assert.Equal(0, (await CliRunner.RunInProcessAsync("fleet", "init", Write("spec.json", Spec), "--etcd", etcd.Url)).ExitCode);

        var conflict = await CliRunner.RunInProcessAsync("fleet", "init", Write("other.json", Spec.Replace("\"unit_size\": 64", "\"unit_size\": 32", StringComparison.Ordinal)), "--etcd", etcd.Url);
        Assert.Equal(1, conflict.ExitCode);
        Assert.Contains("conflicts with the pool", conflict.StdErr, StringComparison.Ordinal);
        Assert.Contains("unit_size 64 (pool) vs 32 (spec)", conflict.StdErr, StringComparison.Ordinal);

        using var fleet = new EtcdFleet(etcd.Url);
        var view = await fleet.ReadAsync(TestContext.Current.CancellationToken);
        Assert.Equal(64, view.Pool?.UnitSize);
    }

    [Fact]
    public async Task Bad_input_is_one_clear_line_and_nothing_is_written()
    {
        await using var etcd = await EtcdServer.StartAsync();

        var tooSmall = await CliRunner.RunInProcessAsync("fleet", "init", Write("one.json", Spec.Replace("\"unit_size\": 64", "\"unit_size\": 1", StringComparison.Ordinal)), "--etcd", etcd.Url);
        Assert.Equal(1, tooSmall.ExitCode);
        Assert.Contains("even-port rule", tooSmall.StdErr, StringComparison.Ordinal);

        // Nothing was written: there is still no pool.
        var missing = await CliRunner.RunInProcessAsync("fleet", "status", "--etcd", etcd.Url);
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("There is no pool at /portshare/", missing.StdErr, StringComparison.Ordinal);

        var noFile = await CliRunner.RunInProcessAsync("fleet", "init", Path.Combine(_dir, "absent.json"), "--etcd", etcd.Url);
        Assert.Equal(2, noFile.ExitCode);
        Assert.Contains("absent.json", noFile.StdErr, StringComparison.Ordinal);

        var badUrl = await CliRunner.RunInProcessAsync("fleet", "status", "--etcd", "127.0.0.1:2379");
        Assert.Equal(2, badUrl.ExitCode);
        Assert.Contains("is not an http:// or https:// URL", badUrl.StdErr, StringComparison.Ordinal);

        foreach (var r in new[] { tooSmall, missing, noFile })
        {
            Assert.Equal(1, CountOf(r.StdErr.TrimEnd(), "\n") + 1);
        }

        // A parse error is its line and the usage hint.
        Assert.StartsWith("error: --etcd '127.0.0.1:2379'", badUrl.StdErr, StringComparison.Ordinal);
        Assert.Equal(2, CountOf(badUrl.StdErr.TrimEnd(), "\n") + 1);
    }

    [Fact]
    public async Task Drain_orders_show_the_owner_s_units_as_draining_and_can_be_cancelled()
    {
        await using var etcd = await EtcdServer.StartAsync();
        Assert.Equal(0, (await CliRunner.RunInProcessAsync("fleet", "init", Write("spec.json", Spec), "--etcd", etcd.Url)).ExitCode);
        using var fleet = new EtcdFleet(etcd.Url);
        var pool = (await fleet.ReadAsync(TestContext.Current.CancellationToken)).Pool!;
        var h1 = new UnitOwner("h1", [System.Net.IPAddress.Parse("198.51.100.2")]);
        var leases = await fleet.GrantAsync(pool, TestContext.Current.CancellationToken);
        Assert.NotNull(await fleet.ClaimAsync(h1, leases, pool.Egress[0].Address, pool.UnitsOf(pool.Egress[0])[0], cancellationToken: TestContext.Current.CancellationToken));

        var drain = await CliRunner.RunInProcessAsync("fleet", "drain", "h1", "--etcd", etcd.Url);
        Assert.True(drain.ExitCode == 0, drain.StdErr);
        var status = await CliRunner.RunInProcessAsync("fleet", "status", "--etcd", etcd.Url, "--json");
        Assert.Contains("\"unit\":\"40000-40063\",\"owner\":\"h1\",\"state\":\"draining\"", status.StdOut, StringComparison.Ordinal);

        Assert.Equal(0, (await CliRunner.RunInProcessAsync("fleet", "drain", "h1", "--cancel", "--etcd", etcd.Url)).ExitCode);
        status = await CliRunner.RunInProcessAsync("fleet", "status", "--etcd", etcd.Url, "--json");
        Assert.Contains("\"owner\":\"h1\",\"state\":\"owned\"", status.StdOut, StringComparison.Ordinal);

        var badEgress = await CliRunner.RunInProcessAsync("fleet", "drain", "--egress", "192.0.2.9", "--etcd", etcd.Url);
        Assert.Equal(1, badEgress.ExitCode);
        Assert.Contains("--egress 192.0.2.9 is not an egress address of the pool", badEgress.StdErr, StringComparison.Ordinal);
        var both = await CliRunner.RunInProcessAsync("fleet", "drain", "h1", "--egress", "192.0.2.1", "--etcd", etcd.Url);
        Assert.Equal(2, both.ExitCode);
        Assert.Equal(0, (await CliRunner.RunInProcessAsync("fleet", "drain", "--egress", "192.0.2.1", "--etcd", etcd.Url)).ExitCode);
        Assert.Equal(8, CountOf((await CliRunner.RunInProcessAsync("fleet", "status", "--etcd", etcd.Url, "--json")).StdOut, "\"state\":\"free\"") + 1);
    }

    [Fact]
    public async Task Unreachable_etcd_is_a_clear_error()
    {
        string url;
        await using (var etcd = await EtcdServer.StartAsync())
        {
            url = etcd.Url;
        }

        var r = await CliRunner.RunInProcessAsync("fleet", "init", Write("spec.json", Spec), "--etcd", url);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains($"etcd at {url} is unreachable", r.StdErr, StringComparison.Ordinal);
    }

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    private static int CountOf(string text, string what)
    {
        var n = 0;
        for (var i = text.IndexOf(what, StringComparison.Ordinal); i >= 0; i = text.IndexOf(what, i + what.Length, StringComparison.Ordinal))
        {
            n++;
        }

        return n;
    }
}
