using System.Text.Json;
using PortShare.Cli;
using PortShare.Planning;
using Spectre.Console.Testing;

namespace PortShare.Tests.Planning;

/// <summary><c>plan update --quarantine</c> and the commands that read its plan, in-process, on a clock the test sets.</summary>
public sealed class QuarantineCommandTests : IDisposable
{
    private static readonly DateTimeOffset s_t0 = new(2026, 11, 25, 12, 0, 30, TimeSpan.Zero);
    private readonly string _dir = Directory.CreateTempSubdirectory("portshare-quarantine-cli-").FullName;
    private readonly ManualClock _clock = new(s_t0);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string P(string name) => Path.Combine(_dir, name);

    private async Task<(int Code, string Out, string Err)> Run(params string[] args)
    {
        var output = new TestConsole().Width(400);
        var error = new TestConsole().Width(400);
        var raw = new StringWriter();
        var rawError = new StringWriter();
        var code = await CliApp.RunAsync(args, new CliConsole(output, error, raw, rawError) { Clock = _clock });
        return (code, raw + output.Output, rawError + error.Output);
    }

    private async Task Update(params string[] extra)
    {
        Assert.Equal(0, (await Run("plan", "new", PlanTestData.ExamplePath("spec.json"), "-o", P("p1.json"))).Code);
        var (code, output, err) = await Run(["plan", "update", "--previous", P("p1.json"), PlanTestData.ExamplePath("spec-add-host.json"), "-o", P("p2.json"), .. extra]);
        Assert.True(code == 0, output + err);
    }

    [Fact]
    public async Task Update_records_the_quarantine_and_says_what_until_when()
    {
        var (code0, _, _) = await Run("plan", "new", PlanTestData.ExamplePath("spec.json"), "-o", P("p1.json"));
        Assert.Equal(0, code0);
        var (code, output, _) = await Run("plan", "update", "--previous", P("p1.json"), PlanTestData.ExamplePath("spec-add-host.json"), "-o", P("p2.json"), "--quarantine", "90");
        Assert.Equal(0, code);
        Assert.Contains("note: ports 40192-42495 on 192.0.2.1: quarantined for web-1 until 12:02:00Z; run router apply, then host apply on web-3, again after that to hand them to web-3", output, StringComparison.Ordinal);
        Assert.Contains("stay routed to their previous owner", output, StringComparison.Ordinal);
        var plan = PlanFile.Load(P("p2.json"));
        Assert.All(plan.Egress.SelectMany(e => e.Moves), m => Assert.Equal((s_t0, 90), (m.MovedAt, m.QuarantineSeconds)));

        // --json: the movement report lists the quarantines.
        var (jcode, json, _) = await Run("plan", "update", "--previous", P("p1.json"), PlanTestData.ExamplePath("spec-add-host.json"), "-o", P("p3.json"), "--json");
        Assert.Equal(0, jcode);
        using var doc = JsonDocument.Parse(json);
        var first = doc.RootElement.GetProperty("quarantined")[0];
        Assert.Equal("web-1", first.GetProperty("from").GetString());
        Assert.Equal("web-3", first.GetProperty("to").GetString());
    }

    [Theory]
    [InlineData("-1")]
    [InlineData("86401")]
    [InlineData("soon")]
    public async Task A_bad_quarantine_is_a_usage_error_and_nothing_is_written(string value)
    {
        Assert.Equal(0, (await Run("plan", "new", PlanTestData.ExamplePath("spec.json"), "-o", P("p1.json"))).Code);
        var (code, _, err) = await Run("plan", "update", "--previous", P("p1.json"), PlanTestData.ExamplePath("spec-add-host.json"), "-o", P("p2.json"), "--quarantine", value);
        Assert.Equal(2, code);
        Assert.Contains("--quarantine", err, StringComparison.Ordinal);
        Assert.False(File.Exists(P("p2.json")));
    }

    [Fact]
    public async Task Slice_leaves_quarantined_ports_out_until_the_quarantine_ends()
    {
        await Update("--quarantine", "60");
        var (code, output, err) = await Run("plan", "slice", P("p2.json"), "--host", "web-3", "--egress", "192.0.2.1");
        Assert.Equal(1, code);
        Assert.Empty(output);
        Assert.Contains("still routed to web-1 until 2026-11-25T12:01:30Z", err, StringComparison.Ordinal);

        // The old owner's slice is already narrowed.
        var (c1, web1, _) = await Run("plan", "slice", P("p2.json"), "--host", "web-1", "--egress", "192.0.2.1");
        Assert.Equal(0, c1);
        Assert.DoesNotContain("40192", web1, StringComparison.Ordinal);

        _clock.Now = s_t0.AddSeconds(60);
        var (c2, after, _) = await Run("plan", "slice", P("p2.json"), "--host", "web-3", "--egress", "192.0.2.1");
        Assert.Equal(0, c2);
        Assert.Contains("40192-42495", after, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Show_lists_what_is_in_quarantine_and_who_answers_for_it()
    {
        await Update("--quarantine", "60");
        var (code, output, _) = await Run("plan", "show", P("p2.json"));
        Assert.Equal(0, code);
        Assert.Contains("quarantined for web-2 until 12:01:30Z", output, StringComparison.Ordinal);
        var (jcode, json, _) = await Run("plan", "show", P("p2.json"), "--json");
        Assert.Equal(0, jcode);
        using var doc = JsonDocument.Parse(json);
        Assert.Equal(6, doc.RootElement.GetProperty("quarantined").GetArrayLength());

        var (wcode, who, _) = await Run("plan", "who", "192.0.2.1:40200", "--plan", P("p2.json"));
        Assert.Equal(0, wcode);
        Assert.Contains("host web-1", who, StringComparison.Ordinal);
        Assert.Contains("moving to web-3", who, StringComparison.Ordinal);

        _clock.Now = s_t0.AddMinutes(5);
        var (_, later, _) = await Run("plan", "show", P("p2.json"));
        Assert.DoesNotContain("quarantined for", later, StringComparison.Ordinal);
        var (_, whoLater, _) = await Run("plan", "who", "192.0.2.1:40200", "--plan", P("p2.json"));
        Assert.Contains("host web-3", whoLater, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_further_update_carries_a_running_quarantine_and_drops_an_ended_one()
    {
        await Update("--quarantine", "60");
        _clock.Now = s_t0.AddSeconds(20);
        Assert.Equal(0, (await Run("plan", "update", "--previous", P("p2.json"), PlanTestData.ExamplePath("spec-add-host.json"), "-o", P("p3.json"))).Code);
        Assert.Equal(PlanFile.Load(P("p2.json")).Egress.Select(e => e.Moves), PlanFile.Load(P("p3.json")).Egress.Select(e => e.Moves), new MovesComparer());

        _clock.Now = s_t0.AddSeconds(60);
        Assert.Equal(0, (await Run("plan", "update", "--previous", P("p3.json"), PlanTestData.ExamplePath("spec-add-host.json"), "-o", P("p4.json"))).Code);
        Assert.False(PlanFile.Load(P("p4.json")).HasMoves);
        Assert.StartsWith("{\n  \"version\": 2,", File.ReadAllText(P("p4.json")), StringComparison.Ordinal);
    }

    private sealed class MovesComparer : IEqualityComparer<IReadOnlyList<PortMove>>
    {
        public bool Equals(IReadOnlyList<PortMove>? x, IReadOnlyList<PortMove>? y) => x!.SequenceEqual(y!);

        public int GetHashCode(IReadOnlyList<PortMove> obj) => obj.Count;
    }

    /// <summary>A clock the test moves by hand.</summary>
    private sealed class ManualClock(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = now;

        public override DateTimeOffset GetUtcNow() => Now;
    }
}
