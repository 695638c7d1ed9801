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
        Assert.Equal(4, rows.Count);

        // One destination: N connections from an N-port slice; four destinations: N × 4 (ports shared).
        Assert.All(rows, row => Assert.Equal(1.0, row.GetProperty("Ratio").GetDouble()));
        Assert.Contains(rows, row => row.GetProperty("Connections").GetInt64() == 64 * 4);
    }

    [Fact]
    public void Connect_smoke_prints_a_ratio_for_every_scenario()
    {
        Root.Require();
        using var ns = TestNetns.Create();
        var r = CliRunner.RunInNamespace(ns.Name, null, "bench", "connect", "--here", "--seconds", "0.2", "--json");
        Assert.True(r.ExitCode == 0, r.StdErr);
        using var doc = JsonDocument.Parse(r.StdOut);
        var scenarios = doc.RootElement.EnumerateArray().Where(e => !e.GetProperty("Scenario").GetString()!.StartsWith("plain", StringComparison.Ordinal)).ToList();
        Assert.Equal(9, scenarios.Count);
        Assert.All(scenarios, s => Assert.True(s.GetProperty("Ratio").GetDouble() > 0));
    }
}
