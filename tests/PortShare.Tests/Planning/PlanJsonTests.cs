using System.Text.Json;
using PortShare.Planning;

namespace PortShare.Tests.Planning;

public class PlanJsonTests
{
    [Fact]
    public void Example_spec_loads_with_defaults_for_missing_members()
    {
        var spec = PlanTestData.Example();
        Assert.Equal(2, spec.Egress.Count);
        Assert.Equal(new PortRange(32768, 60999), spec.UsableRange);
        Assert.Equal(new PortRange(1024, 65535), spec.Egress[1].UsableRange);
        Assert.Empty(spec.Egress[0].Reserved);
        var dns = spec.Hosts.Single(h => h.Name == "dns-1");
        Assert.Equal(1, dns.Weight); // absent in the file: the default, not 0
        Assert.Equal(4096, dns.SliceSize);
    }

    [Fact]
    public void Plan_round_trips_byte_for_byte()
    {
        var plan = Planner.Create(PlanTestData.Example());
        var json = PlanJson.Serialize(plan);
        Assert.Equal(json, PlanJson.Serialize(PlanJson.DeserializePlan(json)));
        Assert.Contains("\"usable_range\": \"32768-60999\"", json, StringComparison.Ordinal);
        Assert.Contains("\"next_hop\": \"198.51.100.2\"", json, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{ not json", "not valid JSON")]
    [InlineData("[]", "expected a JSON object")]
    [InlineData("{\"generation\": 1}", "\"version\" field is missing")]
    [InlineData("{\"version\": 2}", "unsupported version 2")]
    [InlineData("{\"version\": \"1\"}", "unsupported version \"1\"")]
    public void Bad_files_give_one_clear_message(string json, string expected)
    {
        var ex = Assert.Throws<PlanFileException>(() => PlanJson.DeserializePlan(json, "p.json"));
        Assert.StartsWith("p.json: ", ex.Message, StringComparison.Ordinal);
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("\n", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_fields_are_rejected_naming_the_field()
    {
        var json = PlanJson.Serialize(Planner.Create(PlanTestData.Example())).Replace("\"host\": \"web-1\"", "\"host\": \"web-1\", \"colour\": \"red\"", StringComparison.Ordinal);
        var ex = Assert.Throws<PlanFileException>(() => PlanJson.DeserializePlan(json, "p.json"));
        Assert.Contains("colour", ex.Message, StringComparison.Ordinal);
        Assert.Contains("$.egress[0].slices[0]", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_required_members_and_bad_ranges_are_named()
    {
        var missing = Assert.Throws<PlanFileException>(() => PlanJson.DeserializeSpec("{\"version\": 1, \"egress\": []}", "s.json"));
        Assert.Contains("hosts", missing.Message, StringComparison.Ordinal);

        var badRange = "{\"version\":1,\"usable_range\":\"60000-50000\",\"egress\":[],\"hosts\":[]}";
        var ex = Assert.Throws<PlanFileException>(() => PlanJson.DeserializeSpec(badRange, "s.json"));
        Assert.Contains("greater than", ex.Message, StringComparison.Ordinal);
        Assert.Contains("$.usable_range", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Invalid_spec_reports_every_problem()
    {
        var spec = PlanTestData.Example() with
        {
            Alignment = 3,
            Hosts = [PlanTestData.Host("a", weight: 0), PlanTestData.Host("a"), PlanTestData.Host("b", 1, null, "not-an-ip")],
        };
        var problems = SpecValidator.Validate(spec);
        Assert.Contains(problems, p => p.Contains("alignment 3", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("host 'a': weight 0", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("host 'a': listed twice", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("'not-an-ip' is not a valid IP", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("host 'b': uses an IPv4 egress IP but has no IPv4 next hop", StringComparison.Ordinal));
        var ex = Assert.Throws<PlanningException>(() => Planner.Create(spec));
        Assert.Equal(problems.Count, ex.Problems.Count);
    }

    [Theory]
    [InlineData("plan-spec.schema.json", typeof(PlanSpec))]
    [InlineData("plan.schema.json", typeof(Plan))]
    public void Schemas_describe_every_member_the_serializer_writes(string schema, Type type)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "schemas", schema)));
        var info = PlanningJsonContext.Default.GetTypeInfo(type)!;
        var top = doc.RootElement.GetProperty("properties");
        foreach (var p in info.Properties)
        {
            Assert.True(top.TryGetProperty(p.Name, out _), $"{schema} lacks '{p.Name}'");
        }

        Assert.False(doc.RootElement.GetProperty("additionalProperties").GetBoolean());
    }
}
