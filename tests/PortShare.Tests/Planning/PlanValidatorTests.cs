using System.Net;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using PortShare.Planning;

namespace PortShare.Tests.Planning;

/// <summary>Every kind of corruption, made by mutating a good plan, is reported with its host, IP and ports.</summary>
public class PlanValidatorTests
{
    private static readonly Plan s_good = Planner.Create(PlanTestData.Example());

    private static Plan MutateSlice(Plan plan, int egress, int slice, Func<HostSlice, HostSlice> change)
    {
        var e = plan.Egress[egress];
        var slices = e.Slices.ToList();
        slices[slice] = change(slices[slice]);
        var all = plan.Egress.ToList();
        all[egress] = e with { Slices = slices };
        return plan with { Egress = all };
    }

    private static Plan MutateEgress(Plan plan, int egress, Func<EgressPlan, EgressPlan> change)
    {
        var all = plan.Egress.ToList();
        all[egress] = change(all[egress]);
        return plan with { Egress = all };
    }

    public static TheoryData<string, IssueCode, string> Corruptions => new()
    {
        { "overlap", IssueCode.Overlap, "overlap on ports" },
        { "outside", IssueCode.OutsideUsableRange, "outside the usable range 32768-60999" },
        { "reserved", IssueCode.ReservedPortInSlice, "reserved port(s) 50000" },
        { "parity", IssueCode.ParityMisaligned, "even port" },
        { "small", IssueCode.BelowMinimumSize, "below the minimum slice size 1024" },
        { "duplicate-host", IssueCode.DuplicateHost, "more than one slice" },
        { "mapped-egress", IssueCode.InvalidAddress, "no IPv4-mapped or scoped address" },
        { "loopback-next-hop", IssueCode.InvalidNextHop, "cannot be a loopback or unspecified address" },
        { "wrong-family", IssueCode.InvalidNextHop, "is IPv6 but the egress IP is IPv4" },
        { "two-next-hops", IssueCode.NextHopConflict, "several IPv4 next hops" },
        { "shared-next-hop", IssueCode.NextHopConflict, "is given for several hosts" },
        { "bad-name", IssueCode.InvalidHostName, "'bad name'" },
        { "null-name", IssueCode.InvalidHostName, "host name '' is invalid" },
        { "duplicate-egress", IssueCode.DuplicateEgress, "listed twice" },
        { "empty", IssueCode.EmptySlice, "no ranges" },
        { "spare", IssueCode.SpareConflict, "also in a slice" },
        { "alignment", IssueCode.InvalidSettings, "alignment 3" },
        { "generation", IssueCode.InvalidSettings, "generation is 0" },
        { "no-slices", IssueCode.NoSlices, "no slices" },
    };

    private static Plan Corrupt(string kind) => kind switch
    {
        "overlap" => MutateSlice(s_good, 0, 0, s => s with { Ranges = [new PortRange(s.Ranges[0].Low, (ushort)(s.Ranges[^1].High + 256))] }),
        "outside" => MutateSlice(s_good, 0, 0, s => s with { Ranges = [new PortRange(30000, 30511), .. s.Ranges] }),
        "reserved" => MutateSlice(s_good, 0, 1, s => s with { Ranges = [new PortRange(42496, 49999), new PortRange(50000, 51967)] }),
        "parity" => MutateSlice(s_good, 0, 2, s => s with { Ranges = [new PortRange((ushort)(s.Ranges[0].Low + 1), s.Ranges[0].High)] }),
        "small" => MutateSlice(s_good, 0, 2, s => s with { Ranges = [new PortRange(s.Ranges[0].Low, (ushort)(s.Ranges[0].Low + 1))] }),
        "duplicate-host" => MutateSlice(s_good, 0, 1, s => s with { Host = "web-1" }),
        "mapped-egress" => MutateEgress(s_good, 0, e => e with { Address = IPAddress.Parse("::ffff:192.0.2.1") }),
        "loopback-next-hop" => MutateSlice(s_good, 0, 0, s => s with { NextHop = IPAddress.Loopback }),
        "wrong-family" => MutateSlice(s_good, 0, 0, s => s with { NextHop = IPAddress.Parse("2001:db8::9") }),
        // web-1 reached at another IPv4 address on a second IPv4 egress IP; dns-1 given web-1's next hop.
        "two-next-hops" => s_good with { Egress = [.. s_good.Egress, SecondV4(s => s.Host == "web-1" ? s with { NextHop = IPAddress.Parse("198.51.100.99") } : s)] },
        "shared-next-hop" => MutateSlice(s_good, 0, 3, s => s with { NextHop = s_good.Egress[0].Slices[0].NextHop }),
        "no-slices" => s_good with { Egress = [.. s_good.Egress.Select(e => e with { Slices = [] })] },
        "bad-name" => MutateSlice(s_good, 0, 0, s => s with { Host = "bad name" }),
        "null-name" => MutateSlice(s_good, 0, 0, s => s with { Host = null! }),
        "duplicate-egress" => s_good with { Egress = [.. s_good.Egress, s_good.Egress[0]] },
        "empty" => MutateSlice(s_good, 0, 0, s => s with { Ranges = [] }),
        "spare" => MutateEgress(s_good, 0, e => e with { Spare = [.. e.Spare, e.Slices[0].Ranges[0]] }),
        "alignment" => s_good with { Alignment = 3 },
        "generation" => s_good with { Generation = 0 },
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    // The first egress IP again under another IPv4 address, its slices changed by change.
    private static EgressPlan SecondV4(Func<HostSlice, HostSlice> change) =>
        s_good.Egress[0] with { Address = IPAddress.Parse("192.0.2.2"), Slices = [.. s_good.Egress[0].Slices.Select(change)] };

    [Fact]
    public void A_planned_plan_has_no_issues() => Assert.Empty(PlanValidator.Validate(s_good));

    [Fact]
    public void A_host_on_two_egress_ips_with_the_same_next_hop_is_fine() =>
        Assert.Empty(PlanValidator.Validate(s_good with { Egress = [.. s_good.Egress, SecondV4(s => s)] }));

    [Theory]
    [InlineData("a b", false)]
    [InlineData("-x", false)]
    [InlineData("x\n", false)]
    [InlineData("web-1.example_2", true)]
    [InlineData("", false)]
    public void Host_names_follow_one_rule(string name, bool valid)
    {
        Assert.Equal(valid, PlanValidator.IsValidHostName(name));
        Assert.False(PlanValidator.IsValidHostName(new string('a', 64)));
        Assert.True(PlanValidator.IsValidHostName(new string('a', 63)));
    }

    [Fact]
    public void Routes_are_checked_with_the_routers_rules()
    {
        var e = IPAddress.Parse("192.0.2.1");
        RouteEntry R(string host, string hop, string range) => new(e, host, IPAddress.Parse(hop), PortRange.Parse(range));
        var issues = PlanValidator.ValidateRoutes([
            R("a b", "198.51.100.2", "40000-40511"),
            R("c", "2001:db8::2", "40500-40999"),
            R("d", "127.0.0.1", "50000-50001"),
            R("e", "198.51.100.7", "50002-50003"),
            R("f", "198.51.100.7", "50004-50005"),
        ]);
        Assert.Contains(issues, i => i.Code == IssueCode.InvalidHostName && i.Message.Contains("'a b'", StringComparison.Ordinal));
        Assert.Contains(issues, i => i.Code == IssueCode.InvalidNextHop && i.Message.Contains("same family", StringComparison.Ordinal));
        Assert.Contains(issues, i => i.Code == IssueCode.InvalidNextHop && i.Message.Contains("loopback", StringComparison.Ordinal));
        Assert.Contains(issues, i => i.Code == IssueCode.NextHopConflict && i.Message.Contains("198.51.100.7", StringComparison.Ordinal));
        Assert.Single(issues, i => i.Code == IssueCode.Overlap);
        Assert.Equal(IssueCode.NoSlices, Assert.Single(PlanValidator.ValidateRoutes([])).Code);
        Assert.Empty(PlanValidator.ValidateRoutes([R("a", "198.51.100.2", "40000-40511"), R("a", "198.51.100.2", "41000-41001")]));
    }

    [Theory]
    [MemberData(nameof(Corruptions))]
    public void Each_corruption_is_reported(string kind, IssueCode code, string text)
    {
        var issues = PlanValidator.Validate(Corrupt(kind));
        var issue = Assert.Single(issues, i => i.Code == code && i.Severity == IssueSeverity.Error);
        Assert.Contains(text, issue.Message, StringComparison.Ordinal);
        if (issue.Egress is not null)
        {
            Assert.Contains(issue.Egress, issue.Message, StringComparison.Ordinal);
        }
        if (issue.Host is not null)
        {
            Assert.Contains($"'{issue.Host}'", issue.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void All_violations_are_reported_at_once()
    {
        var plan = MutateSlice(MutateSlice(s_good, 0, 0, s => s with { NextHop = IPAddress.Loopback }), 1, 2, s => s with { Ranges = [new PortRange(1023, 1200)] });
        var codes = PlanValidator.Validate(plan with { Alignment = 3 }).Select(i => i.Code).ToHashSet();
        Assert.Superset(new HashSet<IssueCode> { IssueCode.InvalidNextHop, IssueCode.OutsideUsableRange, IssueCode.ParityMisaligned, IssueCode.BelowMinimumSize, IssueCode.InvalidSettings }, codes);
    }

    [Fact]
    public void Loading_a_corrupt_plan_lists_every_error()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, PlanJson.Serialize(Corrupt("overlap") with { Alignment = 3 }));
            var ex = Assert.Throws<PlanFileException>(() => PlanFile.Load(path));
            // The widened slice overlaps web-2 and swallows the reserved 40000-40099; the alignment is invalid.
            Assert.Equal(3, ex.Problems.Count);
            Assert.Contains(ex.Problems, p => p.Contains("overlap on ports 42496-42751", StringComparison.Ordinal));
            Assert.Contains(ex.Problems, p => p.Contains("reserved port(s) 40000-40099", StringComparison.Ordinal));
            Assert.Contains(ex.Problems, p => p.Contains("alignment 3", StringComparison.Ordinal));
        }
        finally
        {
            File.Delete(path);
        }
    }

    // Random plans, random victim: moving one host's first port into another host's slice is always caught.
    [Property(MaxTest = 150)]
    public Property Any_stolen_port_is_reported_as_an_overlap(int seed, PositiveInt pick)
    {
        var plan = Planner.Create(PlanTestData.Random(seed));
        var e = plan.Egress[pick.Get % plan.Egress.Count];
        if (e.Slices.Count < 2)
        {
            return true.ToProperty();
        }

        var thief = pick.Get % e.Slices.Count;
        var victim = e.Slices[(thief + 1) % e.Slices.Count];
        var stolen = new PortRange(victim.Ranges[0].Low, (ushort)(victim.Ranges[0].Low + 1));
        var index = plan.Egress.ToList().IndexOf(e);
        var bad = MutateSlice(plan, index, thief, s => s with { Ranges = [.. s.Ranges, stolen] });
        return PlanValidator.Validate(bad).Any(i => i.Code == IssueCode.Overlap && i.Message.Contains(victim.Host, StringComparison.Ordinal)).ToProperty();
    }

    // The sweep sorts an egress IP's ranges when they are out of order (a re-planned fleet's split slices): what it
    // reports does not depend on the order the slices are listed in, nor on the kind of list holding them.
    [Property(MaxTest = 100)]
    public Property Overlaps_are_reported_alike_whatever_the_order_of_the_slices(int seed, PositiveInt pick)
    {
        var plan = Planner.Create(PlanTestData.Random(seed));
        var index = pick.Get % plan.Egress.Count;
        var e = plan.Egress[index];
        var thief = pick.Get % e.Slices.Count;
        var victim = e.Slices[(thief + 1) % e.Slices.Count];
        if (e.Slices.Count < 2 || victim.Ranges[0].Count < 2)
        {
            return true.ToProperty();
        }

        var stolen = new PortRange(victim.Ranges[0].Low, victim.Ranges[0].Low);
        var bad = MutateSlice(plan, index, thief, s => s with { Ranges = [.. s.Ranges, stolen] });
        var reversed = MutateEgress(bad, index, x => x with { Slices = x.Slices.Reverse().ToList().AsReadOnly() });
        static string[] Overlaps(Plan p) => [.. PlanValidator.Validate(p).Where(i => i.Code == IssueCode.Overlap).Select(i => i.Message)];
        var expected = Overlaps(bad);
        var message = $"hosts '{e.Slices[thief].Host}' ({stolen}) and '{victim.Host}' ({victim.Ranges[0]}) overlap on ports {stolen}";
        return (expected.Length == 1 && expected[0].Contains(message, StringComparison.Ordinal) && expected.SequenceEqual(Overlaps(reversed)))
            .Label($"{string.Join(" | ", expected)} vs {string.Join(" | ", Overlaps(reversed))}");
    }

    [Property(MaxTest = 150)]
    public Property Any_newly_reserved_port_inside_a_slice_is_reported(int seed, PositiveInt pick)
    {
        var plan = Planner.Create(PlanTestData.Random(seed));
        var e = plan.Egress[pick.Get % plan.Egress.Count];
        var slice = e.Slices[pick.Get % e.Slices.Count];
        var range = slice.Ranges[pick.Get % slice.Ranges.Count];
        var port = (ushort)(range.Low + (pick.Get % range.Count));
        var bad = MutateEgress(plan, plan.Egress.ToList().IndexOf(e), x => x with { Reserved = [.. x.Reserved, new PortRange(port, port)] });
        return PlanValidator.Validate(bad).Any(i => i.Code == IssueCode.ReservedPortInSlice && i.Host == slice.Host).ToProperty();
    }
}
