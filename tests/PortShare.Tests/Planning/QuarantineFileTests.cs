using System.Net;
using System.Text.Json;
using PortShare.Planning;

namespace PortShare.Tests.Planning;

/// <summary>Moves in the plan file (version 3), their validation, and the quarantine in the host file.</summary>
public sealed class QuarantineFileTests : IDisposable
{
    private static readonly IPAddress s_egress = IPAddress.Parse("192.0.2.1");
    private static readonly DateTimeOffset s_t0 = new(2026, 11, 25, 12, 0, 30, TimeSpan.Zero);
    private readonly string _dir = Directory.CreateTempSubdirectory("portshare-quarantine-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>The example spec plus web-3, re-planned with a 60 s quarantine at <see cref="s_t0"/>.</summary>
    private static Plan Moved() =>
        Planner.Replan(Planner.Create(PlanTestData.Example()), PlanTestData.Example("spec-add-host.json"), ReplanStrategy.KeepPorts, s_t0, 60).Plan;

    [Fact]
    public void A_plan_with_moves_is_version_3_and_round_trips_byte_for_byte()
    {
        var plan = Moved();
        var json = PlanJson.Serialize(plan);
        Assert.StartsWith("{\n  \"version\": 3,", json, StringComparison.Ordinal);
        Assert.Contains("\"moved_at\": \"2026-11-25T12:00:30Z\"", json, StringComparison.Ordinal);
        Assert.Contains("\"quarantine_seconds\": 60", json, StringComparison.Ordinal);
        Assert.Contains("\"from_next_hop\": \"198.51.100.2\"", json, StringComparison.Ordinal);
        Assert.Equal(json, PlanJson.Serialize(PlanJson.DeserializePlan(json)));
        Assert.Equal(plan, PlanJson.DeserializePlan(json));
    }

    [Fact]
    public void The_plan_schema_describes_every_member_of_a_move()
    {
        using var schema = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "schemas", "plan.schema.json")));
        using var plan = JsonDocument.Parse(PlanJson.Serialize(Moved()));
        var move = schema.RootElement.GetProperty("properties").GetProperty("egress").GetProperty("items").GetProperty("properties").GetProperty("moves").GetProperty("items");
        Assert.False(move.GetProperty("additionalProperties").GetBoolean());
        foreach (var m in plan.RootElement.GetProperty("egress").EnumerateArray().SelectMany(e => e.GetProperty("moves").EnumerateArray()))
        {
            foreach (var p in m.EnumerateObject())
            {
                Assert.True(move.GetProperty("properties").TryGetProperty(p.Name, out _), $"plan.schema.json lacks move '{p.Name}'");
            }

            Assert.All(move.GetProperty("required").EnumerateArray(), r => Assert.True(m.TryGetProperty(r.GetString()!, out _)));
        }
    }

    [Theory]
    [InlineData("\"version\": 3", "\"version\": 2", "\"moves\" is a version 3 member")]
    [InlineData("\"quarantine_seconds\": 60", "\"quarantine_seconds\": \"60\"", "quarantine_seconds: expected a whole number")]
    [InlineData("\"moved_at\": \"2026-11-25T12:00:30Z\"", "\"moved_at\": \"noon\"", "moved_at: expected a UTC time in ISO 8601")]
    [InlineData("\"from_next_hop\": \"198.51.100.2\"", "\"from_next_hop\": \"198.51.100\"", "from_next_hop: '198.51.100' is not a valid IPv4 or IPv6 address")]
    [InlineData("\"from\": \"web-1\",", "", "the required member 'from' is missing")]
    [InlineData("\"to\": \"web-3\",", "\"to\": \"web-3\", \"why\": 1,", "unknown member 'why'")]
    public void Structural_errors_in_moves_name_where_they_are(string find, string replace, string expected)
    {
        var json = PlanJson.Serialize(Moved());
        Assert.Contains(find, json, StringComparison.Ordinal);
        var bad = new System.Text.RegularExpressions.Regex(System.Text.RegularExpressions.Regex.Escape(find)).Replace(json, replace, 1);
        var ex = Assert.Throws<PlanFileException>(() => PlanJson.DeserializePlan(bad, "p.json"));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
        Assert.Contains("moves", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_validator_checks_every_move_and_names_it()
    {
        var plan = Moved();
        var e = plan.Egress[0];
        var m = e.Moves[0];
        var web1 = e.FindSlice("web-1")!;
        PortMove[] bad =
        [
            m with { Ports = [new PortRange(1000, 1001)] },                  // outside the usable range, and not web-3's
            m with { To = "web-2" },                                          // web-2 does not own them
            m with { To = "nobody" },                                         // no such host here
            m with { From = "web-3" },                                        // from == to
            m with { QuarantineSeconds = 0 },
            m with { FromNextHop = IPAddress.Parse("2001:db8::2") },          // wrong family
            m with { FromNextHop = IPAddress.Parse("198.51.100.99") },        // web-1 has another next hop
            m with { To = null },                                             // they are in web-3's slice, not spare
            m with { From = "bad name!" },
        ];
        string[] expected =
        [
            "outside the usable range", "not in 'web-2''s slice", "'nobody' has no slice", "two different hosts", "quarantine_seconds 0",
            "next hop 2001:db8::2 is IPv6", "several IPv4 next hops", "are in a slice; name their owner", "is invalid",
        ];
        for (var i = 0; i < bad.Length; i++)
        {
            var edited = plan with { Egress = [e with { Moves = [bad[i], .. e.Moves.Skip(1)] }, .. plan.Egress.Skip(1)] };
            var errors = PlanValidator.Validate(edited).Where(x => x.Severity == IssueSeverity.Error).ToList();
            Assert.Contains(errors, x => x.Message.Contains(expected[i], StringComparison.Ordinal));
            Assert.All(errors.Where(x => x.Code == IssueCode.InvalidMove), x => Assert.Contains("egress 192.0.2.1", x.Message, StringComparison.Ordinal));
        }

        // Two moves for one port.
        var twice = plan with { Egress = [e with { Moves = [.. e.Moves, e.Moves[0] with { From = "web-2", FromNextHop = e.FindSlice("web-2")!.NextHop }] }, .. plan.Egress.Skip(1)] };
        Assert.Contains(PlanValidator.Validate(twice), x => x.Code == IssueCode.InvalidMove && x.Message.Contains("in two moves", StringComparison.Ordinal));
        Assert.NotNull(web1);
    }

    [Fact]
    public void A_saved_plan_with_moves_is_stamped_and_a_host_reads_its_moves_from_it()
    {
        var plan = Moved();
        var path = Path.Combine(_dir, "p.json");
        PlanFile.Save(plan, path);
        Assert.True(PlanJson.IsStamped(File.ReadAllBytes(path)));
        Assert.Equal(plan, PlanFile.Load(path));

        // The new owner's own reading (the stamped fast path) gives the same host file as the whole plan, at any time.
        foreach (var now in new[] { s_t0, s_t0.AddSeconds(59), s_t0.AddSeconds(60) })
        {
            foreach (var host in new[] { "web-1", "web-3", "batch-1" })
            {
                var mine = PlanFile.LoadForHost(path, host).HostFile(host, now);
                var all = plan.HostFile(host, now);
                Assert.Equal(all.ToJson(), mine.ToJson());
            }
        }
    }

    [Fact]
    public void The_host_file_keeps_the_quarantine_and_names_it_when_nothing_is_usable_yet()
    {
        var plan = Moved();
        var file = plan.HostFile("web-3", s_t0);
        Assert.Empty(file.Slices);
        Assert.NotEmpty(file.Quarantine);
        Assert.Equal(plan.Egress.Select(e => e.Address), file.EgressAddresses);

        var read = HostSliceFile.Parse(file.ToJson());
        Assert.Equal(file.ToJson(), read.ToJson());
        Assert.Equal(file.Quarantine.Select(q => (q.Egress, q.Ports, q.From, q.To, q.Until)), read.Quarantine.Select(q => (q.Egress, q.Ports, q.From, q.To, q.Until)));
        var ex = Assert.Throws<PortShareException>(() => read.For(s_egress));
        Assert.Contains("still routed to web-1 until 2026-11-25T12:01:30Z", ex.Message, StringComparison.Ordinal);
        Assert.Contains("host apply", ex.Message, StringComparison.Ordinal);

        // The old owner's file lists what it gave up (still routed to it), not as usable ports.
        var web1 = plan.HostFile("web-1", s_t0);
        Assert.Contains(web1.Quarantine, q => q.From == "web-1" && q.To == "web-3");
        Assert.DoesNotContain(web1.Slices, s => web1.Quarantine.Any(q => q.Egress.Equals(s.Egress) && q.Ports.Ranges.Any(s.Ports.Contains)));

        // A host file of a release before quarantines (no such member) reads as before.
        Assert.Empty(HostSliceFile.Parse("{\"version\": 2, \"host\": \"a\", \"slices\": [{\"egress\": \"192.0.2.1\", \"ranges\": [\"40000-40511\"]}]}").Quarantine);
    }
}
