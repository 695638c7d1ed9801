using PortShare.Cli;
using PortShare.Planning;
using PortShare.Tests.Planning;

namespace PortShare.Tests.Cli;

/// <summary>
/// plan update's previous plan, read while the process starts: found in the raw arguments only where the parser would
/// find it, taken only for the same file, and its errors are the ones reading it then would give.
/// </summary>
public sealed class PrefetchTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("portshare-prefetch-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("plan update spec.json --previous p.json -o n.json", "p.json")]
    [InlineData("plan update spec.json -p p.json", "p.json")]
    [InlineData("plan update --previous=p.json spec.json", "p.json")]
    [InlineData("plan update --previous:p.json spec.json", "p.json")]
    [InlineData("plan update spec.json --previous a.json --previous p.json", "p.json")]
    [InlineData("plan update spec.json --previous p.json -- --previous x.json", "p.json")]
    [InlineData("plan update spec.json --previous", null)]
    [InlineData("plan update spec.json --previous --json", null)]
    [InlineData("plan update spec.json @args.rsp", null)]
    [InlineData("plan update spec.json", null)]
    public void The_previous_plan_is_found_where_the_parser_finds_it(string line, string? expected) =>
        Assert.Equal(expected, Prefetch.PreviousOf(line.Split(' ')));

    [Fact]
    public void A_started_read_is_taken_for_the_same_file_and_else_the_file_is_read()
    {
        var plan = Planner.Create(PlanTestData.Example());
        var a = Path.Combine(_dir, "a.json");
        var b = Path.Combine(_dir, "b.json");
        PlanFile.Save(plan, a);
        PlanFile.Save(plan with { Generation = 7 }, b);

        Assert.True(Prefetch.Start(["plan", "update", "spec.json", "--previous", a]));
        Assert.Equal(plan, Prefetch.LoadPrevious(a));

        // Started for a, asked for b: b is read, and a's read is not handed out later either.
        Assert.True(Prefetch.Start(["plan", "update", "spec.json", "--previous", a]));
        Assert.Equal(7, Prefetch.LoadPrevious(b).Generation);
        Assert.Equal(plan, Prefetch.LoadPrevious(a));

        Assert.False(Prefetch.Start(["plan", "update", "spec.json", "--previous", Path.Combine(_dir, "missing.json")]));
        Assert.False(Prefetch.Start(["plan", "new", a]));
    }

    [Fact]
    public void A_bad_previous_plan_fails_as_reading_it_would()
    {
        var bad = Path.Combine(_dir, "bad.json");
        File.WriteAllText(bad, "{bad");
        var expected = Assert.Throws<PlanFileException>(() => PlanFile.Load(bad));

        Assert.True(Prefetch.Start(["plan", "update", "spec.json", "-p", bad]));
        var actual = Assert.Throws<PlanFileException>(() => Prefetch.LoadPrevious(bad));
        Assert.Equal(expected.Message, actual.Message);
    }
}
