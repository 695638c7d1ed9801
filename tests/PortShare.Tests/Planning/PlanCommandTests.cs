using System.Net;
using PortShare.Cli;
using PortShare.Cli.Commands;
using PortShare.Planning;
using Spectre.Console.Testing;

namespace PortShare.Tests.Planning;

/// <summary>The <c>plan</c> commands run in-process against test consoles and a temporary directory.</summary>
public sealed class PlanCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("portshare-plan-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string P(string name) => Path.Combine(_dir, name);

    private static async Task<(int Code, string Out, string Err)> Run(params string[] args)
    {
        var output = new TestConsole().Width(200);
        var error = new TestConsole().Width(400);
        var raw = new StringWriter();
        var rawError = new StringWriter();
        var code = await CliApp.RunAsync(args, new CliConsole(output, error, raw, rawError));
        return (code, raw + output.Output, rawError + error.Output);
    }

    [Fact]
    public async Task An_output_that_is_an_input_or_the_other_output_is_refused_and_nothing_is_written()
    {
        File.Copy(PlanTestData.ExamplePath("spec.json"), P("spec.json"));
        var spec = File.ReadAllText(P("spec.json"));
        var (code, _, err) = await Run("plan", "new", P("spec.json"), "-o", P("spec.json"));
        Assert.Equal(1, code);
        Assert.Contains("is also an input", err, StringComparison.Ordinal);
        Assert.Equal(spec, File.ReadAllText(P("spec.json")));

        (code, _, err) = await Run("plan", "new", P("spec.json"), "-o", P("p.json"), "--history", P("p.json"));
        Assert.NotEqual(0, code);
        Assert.False(File.Exists(P("p.json")));

        Assert.Equal(0, (await Run("plan", "new", P("spec.json"), "-o", P("p1.json"))).Code);
        (code, _, err) = await Run("plan", "update", "--previous", P("p1.json"), P("spec.json"), "-o", P("p1.json"));
        Assert.Equal(1, code);
        Assert.Contains("-o", err, StringComparison.Ordinal);
        Assert.Contains("is also an input", err, StringComparison.Ordinal);
        (code, _, err) = await Run("plan", "new", P("spec.json"), "-o", _dir);
        Assert.Equal(1, code);
        Assert.Contains("is a directory", err, StringComparison.Ordinal);
        Assert.DoesNotContain(Directory.GetFiles(_dir), f => f.EndsWith(".tmp", StringComparison.Ordinal));
    }

    [Fact]
    public async Task New_writes_a_valid_plan_and_prints_the_table()
    {
        var (code, output, err) = await Run("plan", "new", PlanTestData.ExamplePath("spec.json"), "-o", P("plan.json"));
        Assert.Equal(0, code);
        Assert.Empty(err);
        Assert.Contains("web-1: 9,628", output, StringComparison.Ordinal); // the largest share
        Assert.DoesNotContain("32768-39999", output, StringComparison.Ordinal); // no per-host rows unless asked
        Assert.Empty(PlanValidator.Validate(PlanFile.Load(P("plan.json"))));

        var (showCode, show, _) = await Run("plan", "show", P("plan.json"));
        Assert.Equal(0, showCode);
        Assert.Contains("2001:db8:1::1", show, StringComparison.Ordinal);
        var (allCode, all, _) = await Run("plan", "show", P("plan.json"), "--all");
        Assert.Equal(0, allCode);
        Assert.Contains("egress 2001:db8:1::1", all, StringComparison.Ordinal);
        Assert.Contains("█", all, StringComparison.Ordinal);
    }

    [Fact]
    public async Task New_without_output_prints_the_plan_json_only()
    {
        var (code, output, _) = await Run("plan", "new", PlanTestData.ExamplePath("spec.json"));
        Assert.Equal(0, code);
        Assert.Equal(PlanJson.Serialize(Planner.Create(PlanTestData.Example())), output);
    }

    [Fact]
    public async Task Update_prints_moved_ports_and_slice_prints_lo_hi()
    {
        await Run("plan", "new", PlanTestData.ExamplePath("spec.json"), "-o", P("p1.json"));
        var (code, output, _) = await Run("plan", "update", "--previous", P("p1.json"), PlanTestData.ExamplePath("spec-add-host.json"), "-o", P("p2.json"));
        Assert.Equal(0, code);
        Assert.Contains("web-3", output, StringComparison.Ordinal);
        Assert.Contains("moved ", output, StringComparison.Ordinal);
        Assert.Equal(2, PlanFile.Load(P("p2.json")).Generation);

        var (sliceCode, slice, _) = await Run("plan", "slice", P("p2.json"), "--host", "dns-1");
        Assert.Equal(0, sliceCode);
        var expected = PlanFile.Load(P("p2.json")).GetSlice("dns-1", IPAddress.Parse("192.0.2.1"));
        Assert.Equal(string.Concat(expected.Select(r => $"{r.Low}-{r.High}\n")), slice.ReplaceLineEndings("\n"));
    }

    [Fact]
    public async Task Slice_needs_egress_when_the_host_has_several()
    {
        await Run("plan", "new", PlanTestData.ExamplePath("spec.json"), "-o", P("p.json"));
        var (code, _, err) = await Run("plan", "slice", P("p.json"), "--host", "web-1");
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("choose one with --egress", err, StringComparison.Ordinal);

        var (ok, output, _) = await Run("plan", "slice", P("p.json"), "--host", "web-1", "--egress", "2001:db8:1::1", "--json");
        Assert.Equal(0, ok);
        Assert.Contains("\"next_hop\": \"2001:db8:100::2\"", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{ nope", "not valid JSON")]
    [InlineData("{\"version\": 7}", "unsupported version 7")]
    [InlineData("{\"version\": 1, \"generation\": 1, \"min_slice_size\": 2, \"alignment\": 2, \"egress\": [], \"extra\": 1}", "extra")]
    [InlineData("{\"version\": 2, \"generation\": 1, \"min_slice_size\": 2, \"alignment\": 2, \"egress\": []}", "\"hosts\" member is missing")]
    public async Task Bad_files_give_one_line_and_exit_1(string content, string expected)
    {
        File.WriteAllText(P("bad.json"), content);
        foreach (var command in new[] { "validate", "show" })
        {
            var (code, output, err) = await Run("plan", command, P("bad.json"));
            Assert.Equal(ExitCodes.Failure, code);
            Assert.Contains(expected, err, StringComparison.Ordinal);
            Assert.Single(err.Trim().Split('\n'));
            Assert.DoesNotContain("   at ", err, StringComparison.Ordinal);
            Assert.Empty(output);
        }
    }

    [Fact]
    public async Task Validate_reports_every_problem_of_a_hand_edited_plan()
    {
        var plan = Planner.Create(PlanTestData.Example());
        var e = plan.Egress[0];
        var broken = plan with
        {
            Egress = [e with { Slices = [e.Slices[0] with { NextHop = IPAddress.Loopback }, e.Slices[1] with { Ranges = [new PortRange(32768, 33279)] }, .. e.Slices.Skip(2)] }, .. plan.Egress.Skip(1)],
        };
        File.WriteAllText(P("broken.json"), PlanJson.Serialize(broken));
        var (code, _, err) = await Run("plan", "validate", P("broken.json"));
        Assert.Equal(ExitCodes.Failure, code);
        Assert.Contains("next hop 127.0.0.1 cannot be a loopback", err, StringComparison.Ordinal);
        Assert.Contains("hosts 'web-2' (32768-33279) and 'web-1' (32768-39999) overlap on ports 32768-33279", err, StringComparison.Ordinal);
        Assert.Contains("below the minimum slice size", err, StringComparison.Ordinal);
        Assert.Contains("warning:", err, StringComparison.Ordinal); // web-2's old ports are now in no slice

        var (okCode, ok, _) = await Run("plan", "validate", PlanTestData.ExamplePath("spec.json"));
        Assert.Equal(ExitCodes.Failure, okCode); // a spec is not a plan: its required plan members are missing
        Assert.Empty(ok);
    }

    [Fact]
    public async Task A_bad_address_in_the_file_is_a_read_error_naming_it()
    {
        await Run("plan", "new", PlanTestData.ExamplePath("spec.json"), "-o", P("p.json"));
        File.WriteAllText(P("bad.json"), File.ReadAllText(P("p.json")).Replace("\"198.51.100.6\"", "\"198.51.100.600\"", StringComparison.Ordinal));
        var (code, _, err) = await Run("plan", "validate", P("bad.json"));
        Assert.Equal(ExitCodes.Failure, code);
        Assert.Contains("hosts.web-2.next_hops: '198.51.100.600' is not a valid IPv4 or IPv6 address", err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Show_summarises_and_lists_a_host_only_when_asked()
    {
        await Run("plan", "new", PlanTestData.ExamplePath("spec.json"), "-o", P("p.json"));
        var (code, summary, _) = await Run("plan", "show", P("p.json"));
        Assert.Equal(0, code);
        Assert.Contains("smallest share", summary, StringComparison.Ordinal);
        Assert.Contains("dns-1: 4,096", summary, StringComparison.Ordinal);
        Assert.Contains("slice sizes (ports: slices): 4096-8191: 2, 8192-16383: 2", summary, StringComparison.Ordinal);
        Assert.DoesNotContain("█", summary, StringComparison.Ordinal);

        var (hostCode, host, _) = await Run("plan", "show", P("p.json"), "--host", "dns-1");
        Assert.Equal(0, hostCode);
        Assert.Contains("56832-60927", host, StringComparison.Ordinal);
        Assert.DoesNotContain("51968-56831", host, StringComparison.Ordinal); // batch-1's row

        var (allCode, all, _) = await Run("plan", "show", P("p.json"), "--all");
        Assert.Equal(0, allCode);
        Assert.Contains("51968-56831", all, StringComparison.Ordinal);

        var (missing, _, err) = await Run("plan", "show", P("p.json"), "--host", "nobody");
        Assert.Equal(ExitCodes.Failure, missing);
        Assert.Contains("Host 'nobody' has no slice", err, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0.0, "0.0 %")]
    [InlineData(1.0, "100.0 %")]
    [InlineData(0.5, "50.0 %")]
    [InlineData(0.001, "0.1 %")]
    [InlineData(0.00099, "0.099 %")]
    [InlineData(2 / 64512.0, "0.0031 %")]
    [InlineData(1 / 1_032_192.0, "0.000097 %")]
    public void A_share_under_a_tenth_of_a_percent_shows_two_significant_digits_not_zero(double share, string expected) =>
        Assert.Equal(expected, PlanCommand.Percent(share));

    [Fact]
    public async Task Show_of_a_fleet_gives_tiny_shares_as_figures_not_zero()
    {
        var plan = Planner.Create(PlanTestData.Equal(10_000, new PortRange(1024, 65535)));
        PlanFile.Save(plan, P("fleet.json"));
        var smallest = plan.Egress[0].Slices.Min(s => PortSet.Count(s.Ranges));
        Assert.InRange(smallest, 2, 64); // under 0.1 % of 64,512

        var (code, summary, _) = await Run("plan", "show", P("fleet.json"));
        Assert.Equal(0, code);
        Assert.Contains($": {smallest} ({PlanCommand.Percent(smallest / 64512.0)})", summary, StringComparison.Ordinal);
        Assert.DoesNotContain("(0.0 %)", summary, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Who_names_the_owner_at_the_time_of_the_report()
    {
        var history = P("history.json");
        await Run("plan", "new", PlanTestData.ExamplePath("spec.json"), "-o", P("p1.json"), "--history", history, "--effective", "2026-01-01T00:00:00Z");
        await Run("plan", "update", "-p", P("p1.json"), PlanTestData.ExamplePath("spec-add-host.json"), "-o", P("p2.json"), "--history", history, "--effective", "2026-02-01T00:00:00Z");
        var p1 = PlanFile.Load(P("p1.json"));
        var p2 = PlanFile.Load(P("p2.json"));
        var v4 = IPAddress.Parse("192.0.2.1");
        var port = p2.GetSlice("web-3", v4)[0].Low;
        var before = p1.Owner(v4, port)!.Host;
        Assert.NotEqual("web-3", before);

        var (c1, o1, _) = await Run("plan", "who", $"192.0.2.1:{port}", "--history", history, "--at", "2026-01-15T12:00:00Z");
        Assert.Equal(0, c1);
        Assert.Contains($"host {before}", o1, StringComparison.Ordinal);
        Assert.Contains("generation 1", o1, StringComparison.Ordinal);

        var (c2, o2, _) = await Run("plan", "who", $"192.0.2.1:{port}", "--history", history, "--at", "2026-03-01", "--json");
        Assert.Equal(0, c2);
        Assert.Contains("\"host\": \"web-3\"", o2, StringComparison.Ordinal);

        var (c3, o3, _) = await Run("plan", "who", "192.0.2.1:40050", "--history", history, "--at", "2026-03-01");
        Assert.Equal(ExitCodes.Failure, c3);
        Assert.Contains("reserved", o3, StringComparison.Ordinal);

        var (c4, o4, _) = await Run("plan", "who", $"192.0.2.1:{port}", "--history", history, "--at", "2025-12-31T23:59:59Z");
        Assert.Equal(ExitCodes.Failure, c4);
        Assert.Contains("no plan was in effect", o4, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("plan", "slice", "x.json")]
    [InlineData("plan", "who", "192.0.2.1")]
    [InlineData("plan", "who", "192.0.2.1:80", "--history", "h", "--plan", "p")]
    [InlineData("plan", "who", "192.0.2.1:80", "--plan", "p", "--at", "yesterday-ish")]
    [InlineData("plan", "update", "spec.json")]
    public async Task Usage_errors_exit_2(params string[] args)
    {
        var (code, _, err) = await Run(args);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.StartsWith("error:", err.TrimStart(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task History_refuses_to_go_back_in_time()
    {
        var history = P("h.json");
        await Run("plan", "new", PlanTestData.ExamplePath("spec.json"), "-o", P("p1.json"), "--history", history, "--effective", "2026-02-01T00:00:00Z");
        var (code, _, err) = await Run("plan", "update", "-p", P("p1.json"), PlanTestData.ExamplePath("spec.json"), "-o", P("p2.json"), "--history", history, "--effective", "2026-01-01T00:00:00Z");
        Assert.Equal(ExitCodes.Failure, code);
        Assert.Contains("not after the last recorded one", err, StringComparison.Ordinal);
        Assert.Single(PlanHistory.Load(history).Entries);
    }
}
