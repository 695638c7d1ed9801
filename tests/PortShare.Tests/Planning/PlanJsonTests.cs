using System.Net;
using System.Text;
using System.Text.Json;
using PortShare.Planning;

namespace PortShare.Tests.Planning;

public sealed class PlanJsonTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("portshare-json-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

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
        Assert.Contains("\"web-1\": {\"next_hops\": [\"198.51.100.2\", \"2001:db8:100::2\"]}", json, StringComparison.Ordinal);
        Assert.Contains("\"web-1\": \"32768-39999,40100-42495\"", json, StringComparison.Ordinal);
        Assert.Equal(plan, PlanJson.DeserializePlan(json));
    }

    // The CLI warms the JSON reading up on a pool thread while a command starts (PlanJson.WarmUp): running it beside
    // reads of a stamped plan and of a spec changes neither, and it is harmless to run again.
    [Fact]
    public async Task Warming_up_beside_reads_changes_nothing()
    {
        var spec = PlanTestData.Example();
        var plan = Planner.Create(spec);
        var path = Path.Combine(_dir, "plan.json");
        PlanFile.Save(plan, path);
        var specJson = PlanJson.Serialize(spec);
        for (var round = 0; round < 3; round++)
        {
            var withSpec = round != 1;
            var warm = Task.Run(() => PlanJson.WarmUp(withSpec), TestContext.Current.CancellationToken);
            Assert.Equal(plan, PlanFile.Load(path));
            Assert.Equal(specJson, PlanJson.Serialize(PlanJson.DeserializeSpec(specJson)));
            await warm;
        }
    }

    [Fact]
    public void A_version_1_plan_is_still_read_with_typed_addresses()
    {
        var plan = Planner.Create(PlanTestData.Example());
        var v1 = new System.Text.StringBuilder("{\"version\": 1, \"generation\": 1, \"min_slice_size\": 1024, \"alignment\": 256, \"egress\": [");
        v1.AppendJoin(", ", plan.Egress.Select(e =>
            $"{{\"address\": \"{e.Address}\", \"usable_range\": \"{e.UsableRange}\", \"reserved\": [{string.Join(", ", e.Reserved.Select(r => $"\"{r}\""))}], " +
            $"\"slices\": [{string.Join(", ", e.Slices.Select(s => $"{{\"host\": \"{s.Host}\", \"next_hop\": \"{s.NextHop}\", \"ranges\": [{string.Join(", ", s.Ranges.Select(r => $"\"{r}\""))}]}}"))}], " +
            $"\"spare\": [{string.Join(", ", e.Spare.Select(r => $"\"{r}\""))}]}}"));
        v1.Append("]}");
        var read = PlanJson.DeserializePlan(v1.ToString(), "v1.json");
        Assert.Equal(1, read.Version);
        Assert.Equal(plan.Egress, read.Egress);
        Assert.Equal(System.Net.IPAddress.Parse("2001:db8:100::2"), read.FindSlice("web-1", System.Net.IPAddress.Parse("2001:db8:1::1"))!.NextHop);
        Assert.StartsWith("{\n  \"version\": 2,", PlanJson.Serialize(read), StringComparison.Ordinal); // written back as version 2
    }

    [Theory]
    [InlineData("\"hosts\": {", "\"hosts\": {\"web-1\": {\"next_hops\": []}, ", "hosts.web-1: the host is listed twice")]
    [InlineData("\"198.51.100.14\"", "\"2001:db8::14\"", "host 'dns-1' has no IPv4 next hop in \"hosts\", but egress 192.0.2.1 is IPv4")]
    [InlineData("\"198.51.100.14\"", "\"198.51.100.14\", \"198.51.100.15\"", "next hops 198.51.100.14 and 198.51.100.15 are both IPv4")]
    [InlineData("\"batch-1\": \"51968-56831\"", "\"batch-1\": \"51968-56831,70000\"", "egress[0].slices.batch-1: Port range '70000' is invalid")]
    [InlineData("\"batch-1\": \"51968-56831\"", "\"batch-1\": \"56831-51968\"", "greater than the high port")]
    [InlineData("\"batch-1\": \"51968-56831\"", "\"batch-1\": 7", "expected a port range string")]
    [InlineData("\"batch-1\": \"51968-56831\"", "\"batch-2\": \"51968-56831\"", "host 'batch-2' is not listed in \"hosts\"")]
    [InlineData("\"address\": \"192.0.2.1\"", "\"address\": \"192.0.2\"", "egress[0].address: '192.0.2' is not a valid IPv4 or IPv6 address")]
    public void Structural_errors_name_where_they_are(string find, string replace, string expected)
    {
        var json = PlanJson.Serialize(Planner.Create(PlanTestData.Example()));
        Assert.Contains(find, json, StringComparison.Ordinal);
        var bad = new System.Text.RegularExpressions.Regex(System.Text.RegularExpressions.Regex.Escape(find)).Replace(json, replace, 1);
        var ex = Assert.Throws<PlanFileException>(() => PlanJson.DeserializePlan(bad, "p.json"));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("\n", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{ not json", "not valid JSON")]
    [InlineData("[]", "expected a JSON object")]
    [InlineData("{\"generation\": 1}", "\"version\" field is missing")]
    [InlineData("{\"version\": 4}", "unsupported version 4 (this portshare reads versions 1 to 3)")]
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
        var json = PlanJson.Serialize(Planner.Create(PlanTestData.Example())).Replace("\"address\": \"2001:db8:1::1\"", "\"address\": \"2001:db8:1::1\", \"colour\": \"red\"", StringComparison.Ordinal);
        var ex = Assert.Throws<PlanFileException>(() => PlanJson.DeserializePlan(json, "p.json"));
        Assert.Contains("egress[1]: unknown member 'colour'", ex.Message, StringComparison.Ordinal);
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

    [Fact]
    public void The_spec_schema_describes_every_member_the_serializer_writes()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "schemas", "plan-spec.schema.json")));
        var info = PlanningJsonContext.Default.GetTypeInfo(typeof(PlanSpec))!;
        var top = doc.RootElement.GetProperty("properties");
        foreach (var p in info.Properties)
        {
            Assert.True(top.TryGetProperty(p.Name, out _), $"plan-spec.schema.json lacks '{p.Name}'");
        }

        Assert.False(doc.RootElement.GetProperty("additionalProperties").GetBoolean());
    }

    // The plan is written by hand (PlanJsonConverter): check the schema against what it writes, level by level.
    [Fact]
    public void The_plan_schema_describes_every_member_the_writer_writes()
    {
        using var schema = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "schemas", "plan.schema.json")));
        var spec = PlanTestData.Example() with { Map = null };
        using var plan = JsonDocument.Parse(PlanJson.Serialize(Planner.Create(spec)));
        var top = schema.RootElement.GetProperty("properties");
        Assert.Equal([2, 3], top.GetProperty("version").GetProperty("enum").EnumerateArray().Select(v => v.GetInt32()));
        foreach (var p in plan.RootElement.EnumerateObject())
        {
            Assert.True(top.TryGetProperty(p.Name, out _), $"plan.schema.json lacks '{p.Name}'");
        }

        var egress = top.GetProperty("egress").GetProperty("items").GetProperty("properties");
        foreach (var p in plan.RootElement.GetProperty("egress")[0].EnumerateObject())
        {
            Assert.True(egress.TryGetProperty(p.Name, out _), $"plan.schema.json lacks egress '{p.Name}'");
        }

        var host = top.GetProperty("hosts").GetProperty("additionalProperties").GetProperty("properties");
        foreach (var p in plan.RootElement.GetProperty("hosts").EnumerateObject().First().Value.EnumerateObject())
        {
            Assert.True(host.TryGetProperty(p.Name, out _), $"plan.schema.json lacks host '{p.Name}'");
        }

        var ranges = new System.Text.RegularExpressions.Regex(egress.GetProperty("slices").GetProperty("additionalProperties").GetProperty("pattern").GetString()!);
        Assert.All(plan.RootElement.GetProperty("egress").EnumerateArray().SelectMany(e => e.GetProperty("slices").EnumerateObject()), s => Assert.Matches(ranges, s.Value.GetString()!));
        Assert.False(schema.RootElement.GetProperty("additionalProperties").GetBoolean());
    }

    [Fact]
    public void A_saved_valid_plan_is_stamped_and_an_edit_breaks_the_stamp()
    {
        var plan = Planner.Create(PlanTestData.Example());
        var path = Path.Combine(_dir, "p.json");
        PlanFile.Save(plan, path);
        var bytes = File.ReadAllBytes(path);
        Assert.True(PlanJson.IsStamped(bytes));
        Assert.Matches("\"validated\": \"xxh128:[0-9a-f]{32}\"\n}\n$", File.ReadAllText(path));

        // An earlier release's SHA-256 stamp is not recognised: the plan is read and validated in full.
        var old = System.Text.RegularExpressions.Regex.Replace(File.ReadAllText(path), "xxh128:[0-9a-f]{32}", "sha256:" + new string('0', 64));
        File.WriteAllText(path, old);
        Assert.False(PlanJson.IsStamped(File.ReadAllBytes(path)));
        Assert.Equal(PlanJson.Serialize(PlanJson.DeserializePlan(File.ReadAllBytes(path), path)), PlanJson.Serialize(PlanFile.Load(path)));
        Assert.Equal(plan, PlanFile.Load(path));

        // One port moved by hand: the digest no longer matches, so the plan is validated (and here rejected).
        var edited = File.ReadAllText(path).Replace("\"dns-1\": \"56832-60927\"", "\"dns-1\": \"56832-60928\"", StringComparison.Ordinal);
        Assert.False(PlanJson.IsStamped(System.Text.Encoding.UTF8.GetBytes(edited)));
        File.WriteAllText(path, edited);
        var ex = Assert.Throws<PlanFileException>(() => PlanFile.Load(path));
        Assert.Contains(ex.Problems, p => p.Contains("dns-1", StringComparison.Ordinal));

        // An invalid plan is written without a stamp.
        var bad = plan with { Generation = 0 };
        PlanFile.Save(bad, path);
        Assert.False(PlanJson.IsStamped(File.ReadAllBytes(path)));
    }

    [Fact]
    public void A_fleet_plan_validated_while_it_is_written_is_stamped_only_when_valid()
    {
        // Above Fanout.MinParallelSlices the validator runs beside the writer; the file must be what validating first and
        // writing after gives: stamped when valid, the same body either way.
        var spec = new PlanSpec
        {
            Version = 1,
            UsableRange = new PortRange(1024, 65535),
            Alignment = 2,
            MinSliceSize = 2,
            Egress = [.. Enumerable.Range(1, 4).Select(i => new SpecEgress { Address = $"192.0.2.{i}" })],
            Hosts = [.. Enumerable.Range(0, 6_000).Select(i => PlanTestData.Host(PlanTestData.Name(i), 1, null, $"10.1.{i >> 8}.{i & 255}"))],
        };
        var plan = Planner.Create(spec);
        Assert.True(Fanout.SliceCount(plan.Egress) >= Fanout.MinParallelSlices);
        var path = Path.Combine(_dir, "fleet.json");
        PlanFile.Save(plan, path);
        Assert.Equal(PlanJson.SerializeToUtf8(plan, stamp: true).ToArray(), File.ReadAllBytes(path));
        Assert.True(PlanJson.IsStamped(File.ReadAllBytes(path)));

        // Two hosts on one port range: an error, so no stamp, and the body as written unstamped.
        var e = plan.Egress[2];
        var overlapping = plan with { Egress = [.. plan.Egress.Take(2), e with { Slices = [.. e.Slices.Take(10), e.Slices[10] with { Ranges = e.Slices[9].Ranges }, .. e.Slices.Skip(11)] }, .. plan.Egress.Skip(3)] };
        Assert.Contains(PlanValidator.Validate(overlapping), i => i.Code == IssueCode.Overlap);
        PlanFile.Save(overlapping, path);
        Assert.Equal(PlanJson.SerializeToUtf8Bytes(overlapping), File.ReadAllBytes(path));
        Assert.False(PlanJson.IsStamped(File.ReadAllBytes(path)));
    }

    [Fact]
    public void Reading_one_host_s_slice_lines_of_a_stamped_plan_gives_the_same_plan_as_reading_every_line()
    {
        // The example (several egress IPs, reserved and spare ports), and a re-plan with quarantined moves.
        var example = Planner.Create(PlanTestData.Example());
        var spec = new PlanSpec
        {
            Version = 1,
            UsableRange = new PortRange(40000, 40511),
            Alignment = 16,
            Egress = [new SpecEgress { Address = "192.0.2.1" }, new SpecEgress { Address = "192.0.2.2" }],
            Hosts = [.. new[] { "h1", "h2", "h3" }.Select(h => PlanTestData.Host(h))],
        };
        var before = Planner.Create(spec);
        var grown = spec with { Hosts = [.. spec.Hosts, PlanTestData.Host("h4")] };
        var (moved, _) = Planner.Replan(before, grown, ReplanStrategy.KeepPorts, DateTimeOffset.UtcNow, 60);
        Assert.Contains(moved.Egress, e => e.Moves.Count > 0);

        foreach (var plan in new[] { example, moved })
        {
            var path = Path.Combine(_dir, "p.json");
            PlanFile.Save(plan, path);
            var bytes = File.ReadAllBytes(path);
            Assert.True(PlanJson.IsStamped(bytes));
            foreach (var host in plan.Egress.SelectMany(e => e.Slices).Select(s => s.Host).Distinct().Append("nobody"))
            {
                var filtered = PlanJson.OnlySlicesOf(bytes, host);
                Assert.NotNull(filtered);
                Assert.True(filtered.Length < bytes.Length || host == "nobody");
                var fast = PlanJson.DeserializePlanFor(filtered, host, path);
                var full = PlanJson.DeserializePlanFor(bytes, host, path);
                Assert.Equal(PlanJson.Serialize(full), PlanJson.Serialize(fast));
            }
        }

        // Not the writer's layout: nothing is left out (the document is read whole), or no shortcut at all.
        var other = "{\"egress\": [{\"slices\": {\n        \"h1\": \"1-2\"}]}"u8;
        Assert.Equal(other.ToArray(), PlanJson.OnlySlicesOf(other, "h1"));
        Assert.Null(PlanJson.OnlySlicesOf("{\"egress\": [{\n      \"slices\": {\n        \"h1\": \"1-2\"}]}"u8, "h1"));
    }

    [Fact]
    public void Reading_a_stamped_plan_s_slice_lines_from_the_bytes_gives_the_same_plan_as_the_json_reader()
    {
        // The example (several egress IPs, reserved and spare ports); a dual-stack spec where one host uses only one egress
        // IP (so the egress IPs have different hosts) and one egress IP has no slices ("slices": {}); a re-plan with
        // quarantined moves and split slices.
        var example = Planner.Create(PlanTestData.Example());
        var spec = new PlanSpec
        {
            Version = 1,
            UsableRange = new PortRange(40000, 40511),
            Alignment = 16,
            Egress = [new SpecEgress { Address = "192.0.2.1" }, new SpecEgress { Address = "192.0.2.77" }, new SpecEgress { Address = "2001:db8::1" }, new SpecEgress { Address = "192.0.2.9" }],
            Hosts =
            [
                PlanTestData.Host("h1", 1, null, "198.51.100.1", "2001:db8:100::1") with { Egress = ["192.0.2.1", "2001:db8::1"] },
                PlanTestData.Host("h2", 1, null, "198.51.100.2", "2001:db8:100::2") with { Egress = ["192.0.2.1"] },
                PlanTestData.Host("h3", 1, null, "198.51.100.3", "2001:db8:100::3") with { Egress = ["2001:db8::1", "192.0.2.9"] },
            ],
        };
        var dual = Planner.Create(spec);
        Assert.Empty(dual.FindEgress(IPAddress.Parse("192.0.2.77"))!.Slices);
        var grown = spec with { Hosts = [.. spec.Hosts, PlanTestData.Host("h4", 1, null, "198.51.100.4", "2001:db8:100::4") with { Weight = 5 }] };
        var (moved, _) = Planner.Replan(dual, grown, ReplanStrategy.KeepPorts, DateTimeOffset.UtcNow, 60);
        Assert.Contains(moved.Egress, e => e.Moves.Count > 0);
        Assert.Contains(moved.Egress.SelectMany(e => e.Slices), s => s.Ranges.Count > 1);

        foreach (var plan in new[] { example, dual, moved })
        {
            var path = Path.Combine(_dir, "p.json");
            PlanFile.Save(plan, path);
            var bytes = File.ReadAllBytes(path);
            Assert.True(PlanJson.IsStamped(bytes));
            var fast = PlanJson.DeserializeStamped(bytes, path);
            Assert.NotNull(fast);
            Assert.Equal(PlanJson.Serialize(PlanJson.DeserializePlan(bytes, path)), PlanJson.Serialize(fast));
            Assert.Equal(PlanJson.Serialize(plan), PlanJson.Serialize(PlanFile.Load(path)));
        }

        // Not the writer's layout (a slices object not closed on its own line, an escaped name): no shortcut.
        Assert.Null(PlanJson.DeserializeStamped("{\"version\": 2, \"egress\": [{\n      \"slices\": {\n        \"h1\": \"1-2\"}]}"u8.ToArray(), "x"));
        var escaped = PlanJson.SerializeToUtf8Bytes(example);
        var text = Encoding.UTF8.GetString(escaped).Replace("        \"web-1\": ", "        \"web\\u002d1\": ", StringComparison.Ordinal);
        Assert.Null(PlanJson.DeserializeStamped(Encoding.UTF8.GetBytes(text), "x"));
        Assert.Equal(PlanJson.Serialize(example), PlanJson.Serialize(PlanJson.DeserializePlan(Encoding.UTF8.GetBytes(text), "x")));
    }

    /// <summary>A fleet's plan is written and read egress IP by egress IP side by side (above <see cref="Fanout.MinParallelSlices"/>
    /// slices): each egress IP's slices object is what writing that egress IP alone gives, and reading the lines back gives
    /// the plan the JSON reader gives.</summary>
    [Fact]
    public void A_fleet_plan_written_and_read_side_by_side_is_each_egress_ip_written_alone()
    {
        var spec = new PlanSpec
        {
            Version = 1,
            UsableRange = new PortRange(1024, 65535),
            Reserved = [new PortRange(8080, 8080)],
            Egress = [.. Enumerable.Range(1, 16).Select(i => new SpecEgress { Address = i % 2 == 0 ? $"192.0.2.{i}" : $"2001:db8:1::{i}" })],
            Hosts = [.. Enumerable.Range(0, 1_600).Select(i => PlanTestData.Host(PlanTestData.Name(i), 1 + (i % 3)))],
        };
        var plan = Planner.Create(spec);
        Assert.True(plan.Egress.Sum(e => e.Slices.Count) >= Fanout.MinParallelSlices);

        var whole = Encoding.UTF8.GetString(PlanJson.SerializeToUtf8Bytes(plan));
        var blocks = SlicesBlocks(whole);
        Assert.Equal(plan.Egress.Count, blocks.Count);
        for (var e = 0; e < plan.Egress.Count; e++)
        {
            var alone = Encoding.UTF8.GetString(PlanJson.SerializeToUtf8Bytes(plan with { Egress = [plan.Egress[e]] }));
            Assert.Equal(Assert.Single(SlicesBlocks(alone)), blocks[e]);
        }

        var path = Path.Combine(_dir, "fleet.json");
        PlanFile.Save(plan, path);
        var bytes = File.ReadAllBytes(path);
        var fast = PlanJson.DeserializeStamped(bytes, path);
        Assert.NotNull(fast);
        Assert.Equal(PlanJson.Serialize(PlanJson.DeserializePlan(bytes, path)), PlanJson.Serialize(fast));
        Assert.Equal(whole, PlanJson.Serialize(fast));

        static List<string> SlicesBlocks(string json)
        {
            var found = new List<string>();
            for (var at = json.IndexOf("\"slices\": {", StringComparison.Ordinal); at >= 0; at = json.IndexOf("\"slices\": {", at + 1, StringComparison.Ordinal))
            {
                found.Add(json[at..json.IndexOf("\n      }", at, StringComparison.Ordinal)]);
            }

            return found;
        }
    }

    [Theory]
    [InlineData("{\"name\": \"a\", \"next_hops\": [\"10.0.0.1\"], \"bogus\": 1}", "The JSON property 'bogus' could not be mapped to any .NET member of 'SpecHost' (at $.hosts[0], line 1).")]
    [InlineData("{\"name\": null, \"next_hops\": [\"10.0.0.1\"]}", "'name': a required value is null (at $.hosts[0], line 1).")]
    [InlineData("{\"next_hops\": [\"10.0.0.1\"]}", "missing required properties including: 'name' (at $.hosts[0], line 1).")]
    [InlineData("{\"name\": \"a\"}", "missing required properties including: 'next_hops' (at $.hosts[0], line 1).")]
    [InlineData("{\"name\": \"a\", \"weight\": 1.5, \"next_hops\": [\"10.0.0.1\"]}", "'weight': the value is not a whole number (at $.hosts[0], line 1).")]
    [InlineData("{\"name\": \"a\", \"next_hops\": \"10.0.0.1\"}", "'next_hops': the value is not a list (at $.hosts[0], line 1).")]
    [InlineData("{\"name\": \"a\", \"next_hops\": [1]}", "'next_hops': the value is not a list of strings (at $.hosts[0], line 1).")]
    [InlineData("\"x\"", "the value is not of the expected kind (an object) (at $.hosts[0], line 1).")]
    public void A_bad_host_in_a_spec_is_a_read_error_naming_where_it_is(string host, string message)
    {
        var json = $"{{\"version\": 1, \"egress\": [{{\"address\": \"192.0.2.1\"}}], \"hosts\": [{host}]}}";

        var error = Assert.Throws<PlanFileException>(() => PlanJson.DeserializeSpec(json, "spec.json"));

        Assert.EndsWith(message, error.Message, StringComparison.Ordinal);
        Assert.StartsWith("spec.json: ", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_spec_s_hosts_are_written_as_they_are_read()
    {
        var spec = PlanTestData.Example() with
        {
            Hosts = [PlanTestData.Host("a", 3, 64, "10.0.0.1", "2001:db8::a") with { Egress = ["192.0.2.1"] }, PlanTestData.Host("b")],
        };

        var json = PlanJson.Serialize(spec);
        var back = PlanJson.DeserializeSpec(json);

        Assert.Equal(json, PlanJson.Serialize(back));
        Assert.Equal(["10.0.0.1", "2001:db8::a"], back.Hosts[0].NextHops);
        Assert.Equal((3, 64, "192.0.2.1"), (back.Hosts[0].Weight, back.Hosts[0].SliceSize, back.Hosts[0].Egress![0]));
        Assert.Equal((1, null, null), (back.Hosts[1].Weight, back.Hosts[1].SliceSize, back.Hosts[1].Egress));
        Assert.DoesNotContain("slice_size\": null", json, StringComparison.Ordinal);
    }

    [Fact]
    public void Loading_for_one_host_keeps_its_slices_and_every_egress_ip()
    {
        var plan = Planner.Create(PlanTestData.Example());
        var path = Path.Combine(_dir, "p.json");
        PlanFile.Save(plan, path);
        foreach (var stamped in new[] { true, false })
        {
            if (!stamped)
            {
                // Without the stamp the whole plan is loaded and validated: the same answers.
                File.WriteAllText(path, PlanJson.Serialize(plan));
            }

            var mine = PlanFile.LoadForHost(path, "web-2");
            Assert.Equal(plan.Egress.Select(e => e.Address), mine.Egress.Select(e => e.Address));
            Assert.Equal(plan.GetSlices("web-2").Select(a => (a.Egress, a.NextHop, string.Join(",", a.Ranges))), mine.GetSlices("web-2").Select(a => (a.Egress, a.NextHop, string.Join(",", a.Ranges))));
            Assert.Equal(plan.Egress[0].Reserved, mine.Egress[0].Reserved);
            if (stamped)
            {
                Assert.All(mine.Egress, e => Assert.Equal("web-2", Assert.Single(e.Slices).Host));
            }
        }

        // A host that is not there: the whole plan, so that the caller can list the hosts there are.
        Assert.Equal(4, PlanFile.LoadForHost(path, "nobody").Egress[0].Slices.Count);
    }
}
