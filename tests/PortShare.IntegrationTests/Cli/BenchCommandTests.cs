using System.Text.Json;
using PortShare.IntegrationTests.Infrastructure;

namespace PortShare.IntegrationTests.Cli;

[Trait("Category", "RequiresRoot")]
public class BenchCommandTests
{
    [Fact]
    public void Capacity_fills_every_port_and_shares_ports_across_destinations()
    {
        Root.Require();
        using var ns = TestNetns.Create();
        var r = CliRunner.RunInNamespace(ns.Name, null, "bench", "capacity", "--here", "--json");
        Assert.True(r.ExitCode == 0, r.StdErr);
        using var doc = JsonDocument.Parse(r.StdOut);
        var rows = doc.RootElement.EnumerateArray().ToList();
        Assert.Equal(8, rows.Count);

        // TCP (kernel and fallback) and UDP shared: N from one destination, N × 4 from four (ports shared);
        // UDP unique: N in all. Every row reaches its theoretical capacity.
        Assert.All(rows, row => Assert.Equal(1.0, row.GetProperty("ratio").GetDouble()));
        Assert.Equal(3, rows.Count(row => row.GetProperty("connections").GetInt64() == 64 * 4));
        Assert.Contains(rows, row => row.GetProperty("mode").GetString() == "unique" && row.GetProperty("scenario").GetString()!.Contains("4 destination", StringComparison.Ordinal) && row.GetProperty("connections").GetInt64() == 64);
    }

    [Fact]
    public void Connect_smoke_prints_a_ratio_for_every_scenario()
    {
        Root.Require();
        using var ns = TestNetns.Create();
        var r = CliRunner.RunInNamespace(ns.Name, null, "bench", "connect", "--here", "--seconds", "0.2", "--json");
        Assert.True(r.ExitCode == 0, r.StdErr);
        using var doc = JsonDocument.Parse(r.StdOut);
        var scenarios = doc.RootElement.EnumerateArray().Where(e => !e.GetProperty("scenario").GetString()!.StartsWith("plain", StringComparison.Ordinal)).ToList();
        Assert.Equal(9, scenarios.Count);
        Assert.All(scenarios, s => Assert.True(s.GetProperty("ratio").GetDouble() > 0));
    }

    [Fact]
    public void Route_smoke_prints_a_ratio_for_every_scenario_and_removes_its_lab()
    {
        Root.Require();
        var dll = Path.Combine(AppContext.BaseDirectory, "PortShare.Cli.dll");
        var r = Proc.Run("dotnet", [dll, "bench", "route", "--seconds", "0.2", "--json"]);
        Assert.True(r.ExitCode == 0, r.StdErr);
        using var doc = JsonDocument.Parse(r.StdOut);
        var rows = doc.RootElement.EnumerateArray().ToList();

        // (a) SNAT once, then (b) iprule and (c) nftables at 3, 100 and 1,000 slices.
        Assert.Equal(7, rows.Count);
        Assert.All(rows, row => Assert.True(row.GetProperty("ratio").GetDouble() > 0, row.ToString()));
        Assert.Equal(1.0, rows[0].GetProperty("ratio").GetDouble());
        Assert.Equal([3, 100, 1000], rows.Where(row => row.GetProperty("scenario").GetString()!.Contains("nftables", StringComparison.Ordinal)).Select(row => row.GetProperty("slices").GetInt32()));

        // The stateless backends leave no conntrack entry on the router; SNAT does.
        Assert.True(rows[0].GetProperty("conntrack").GetInt64() > 0);
        Assert.All(rows.Skip(1), row => Assert.Equal(0, row.GetProperty("conntrack").GetInt64()));

        // Every namespace of the run is gone.
        var prefix = System.Text.RegularExpressions.Regex.Match(r.StdErr, @"building the lab (psl-[0-9a-f]+-)").Groups[1].Value;
        Assert.NotEmpty(prefix);
        Assert.DoesNotContain(prefix, Proc.Run("ip", ["netns", "list"]).StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public void Udp_smoke_prints_a_ratio_for_every_mode_and_fill()
    {
        Root.Require();
        using var ns = TestNetns.Create();
        var r = CliRunner.RunInNamespace(ns.Name, null, "bench", "udp", "--here", "--seconds", "0.2", "--json");
        Assert.True(r.ExitCode == 0, r.StdErr);
        using var doc = JsonDocument.Parse(r.StdOut);
        var scenarios = doc.RootElement.EnumerateArray().Where(e => !e.GetProperty("scenario").GetString()!.Contains("baseline", StringComparison.Ordinal)).ToList();
        Assert.Equal(5, scenarios.Count); // unique at 0 %; shared at 0, 50, 90 %; shared with every port carrying another flow
        Assert.All(scenarios, s => Assert.True(s.GetProperty("ratio").GetDouble() > 0));
    }
}
