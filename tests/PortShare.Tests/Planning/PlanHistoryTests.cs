using System.Net;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using PortShare.Planning;

namespace PortShare.Tests.Planning;

public class PlanHistoryTests
{
    private static readonly IPAddress s_v4 = IPAddress.Parse("192.0.2.1");
    private static readonly DateTimeOffset s_jan = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset s_feb = new(2026, 2, 1, 0, 0, 0, TimeSpan.Zero);

    private static (PlanHistory History, Plan First, Plan Second) TwoGenerations()
    {
        var first = Planner.Create(PlanTestData.Example());
        var second = Planner.Replan(first, PlanTestData.Example("spec-add-host.json")).Plan;
        return (PlanHistory.Empty.Append(first, s_jan).Append(second, s_feb), first, second);
    }

    [Fact]
    public void Who_answers_with_the_plan_in_effect_at_the_time()
    {
        var (history, first, second) = TwoGenerations();
        var port = second.GetSlice("web-3", s_v4)[0].Low;
        var before = history.Who(s_v4, port, s_jan.AddDays(10));
        Assert.Equal(OwnerStatus.Owned, before.Status);
        Assert.Equal(first.Owner(s_v4, port)!.Host, before.Host);
        Assert.Equal(first.Owner(s_v4, port)!.NextHop, before.NextHop);
        Assert.Equal((1L, s_jan), (before.Generation!.Value, before.EffectiveFrom!.Value));

        var after = history.Who(s_v4, port, s_feb); // the instant it takes effect
        Assert.Equal(("web-3", 2L), (after.Host, after.Generation!.Value));
    }

    [Theory]
    [InlineData("192.0.2.1", 40050, OwnerStatus.Reserved)]
    [InlineData("192.0.2.1", 80, OwnerStatus.Outside)]
    [InlineData("192.0.2.1", 60990, OwnerStatus.Spare)]
    [InlineData("192.0.2.9", 40000, OwnerStatus.UnknownEgress)]
    public void Who_says_why_nobody_owned_a_port(string egress, int port, OwnerStatus status)
    {
        var (history, _, _) = TwoGenerations();
        var answer = history.Who(IPAddress.Parse(egress), (ushort)port, s_feb.AddDays(1));
        Assert.Equal(status, answer.Status);
        Assert.Null(answer.Host);
    }

    [Fact]
    public void Who_before_the_first_plan_finds_no_plan()
    {
        var (history, _, _) = TwoGenerations();
        var answer = history.Who(s_v4, 40000, s_jan.AddTicks(-1));
        Assert.Equal(OwnerStatus.NoPlan, answer.Status);
        Assert.Null(answer.Generation);
    }

    [Fact]
    public void History_round_trips_as_version_2_and_a_version_1_history_is_read()
    {
        var (history, first, _) = TwoGenerations();
        var json = PlanJson.Serialize(history with { Version = PlanHistory.CurrentVersion });
        var read = PlanJson.DeserializeHistory(json);
        Assert.Equal(history.Entries.Select(e => e.Plan), read.Entries.Select(e => e.Plan));
        Assert.Contains("\"version\": 2", json, StringComparison.Ordinal);

        // A version 1 history (as the previous release wrote it) holds version 1 plans.
        var slice = first.Egress[0].Slices[0];
        var v1 = $$$"""
            {"version": 1, "entries": [{"generation": 1, "effective_from": "2026-01-01T00:00:00+00:00", "plan":
              {"version": 1, "generation": 1, "min_slice_size": 2, "alignment": 2, "egress": [{"address": "192.0.2.1", "usable_range": "32768-60999",
                "slices": [{"host": "{{{slice.Host}}}", "next_hop": "{{{slice.NextHop}}}", "ranges": ["32768-32769"]}]}]}}]}
            """;
        var old = PlanJson.DeserializeHistory(v1);
        Assert.Equal(slice.Host, old.Who(s_v4, 32769, s_feb).Host);
    }

    private static PlanHistory ThreeGenerations()
    {
        var first = Planner.Create(PlanTestData.Example());
        var second = Planner.Replan(first, PlanTestData.Example("spec-add-host.json")).Plan;
        var third = Planner.Replan(second, PlanTestData.Example()).Plan;
        return PlanHistory.Empty.Append(first, s_jan).Append(second, s_feb).Append(third, s_feb.AddDays(28));
    }

    [Property(MaxTest = 60)]
    public Property Who_gives_the_same_answer_for_any_order_of_the_entries(int seed, ushort port, byte day)
    {
        var history = ThreeGenerations();
        var shuffled = history with { Entries = [.. history.Entries.OrderBy(_ => new Random(seed).Next())] };
        var read = PlanHistory.Checked(PlanJson.DeserializeHistory(PlanJson.Serialize(shuffled)), "history");
        var at = s_jan.AddDays(-5 + (day % 100));
        var expected = history.Who(s_v4, port, at);
        var got = read.Who(s_v4, port, at);
        var also = shuffled.Who(s_v4, port, at);
        return (expected == got && expected == also && read.Entries.Select(e => e.Generation).SequenceEqual(history.Entries.Select(e => e.Generation))).ToProperty();
    }

    [Fact]
    public void A_history_with_an_invalid_plan_or_ambiguous_times_is_refused()
    {
        var history = ThreeGenerations();
        var tie = history with { Entries = [history.Entries[0], history.Entries[1] with { EffectiveFrom = s_jan }] };
        var ex = Assert.Throws<PlanFileException>(() => PlanHistory.Checked(tie, "h.json"));
        Assert.Contains("both take effect at", ex.Message, StringComparison.Ordinal);

        var backwards = history with { Entries = [history.Entries[0] with { EffectiveFrom = s_feb.AddDays(60) }, history.Entries[1]] };
        ex = Assert.Throws<PlanFileException>(() => PlanHistory.Checked(backwards, "h.json"));
        Assert.Contains("generations must rise with time", ex.Message, StringComparison.Ordinal);

        var broken = history.Entries[1].Plan with { Egress = [] };
        var invalid = history with { Entries = [history.Entries[0], history.Entries[1] with { Plan = broken }] };
        ex = Assert.Throws<PlanFileException>(() => PlanHistory.Checked(invalid, "h.json"));
        Assert.Contains("entries[1] (generation 2)", ex.Message, StringComparison.Ordinal);
    }
}
