using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace PortShare.Tests;

public class PortRangeTests
{
    [Theory]
    [InlineData("40000-40511", 40000, 40511)]
    [InlineData("40000", 40000, 40000)]
    [InlineData(" 1 - 65535 ", 1, 65535)]
    [InlineData("65535", 65535, 65535)]
    public void Parse_accepts_ranges_and_single_ports(string text, int lo, int hi)
    {
        var r = PortRange.Parse(text);
        Assert.Equal((ushort)lo, r.Low);
        Assert.Equal((ushort)hi, r.High);
        Assert.Equal(hi - lo + 1, r.Count);
    }

    [Theory]
    [InlineData("5-3", "greater than")]
    [InlineData("70000", "above 65535")]
    [InlineData("abc", "not a port number")]
    [InlineData("", "empty")]
    [InlineData("0-10", "port 0")]
    [InlineData("10-", "missing")]
    [InlineData("-10", "missing")]
    [InlineData("1-2-3", "not a port number")]
    [InlineData("99999999999", "above 65535")]
    public void Parse_rejects_bad_text_naming_the_input(string text, string why)
    {
        var ex = Assert.Throws<FormatException>(() => PortRange.Parse(text));
        Assert.Contains(why, ex.Message, StringComparison.Ordinal);
        if (text.Length > 0)
        {
            Assert.Contains($"'{text}'", ex.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Pack_matches_the_kernel_abi()
    {
        // A11: hi << 16 | lo; hi >= 32768 sets bit 31.
        Assert.Equal(0xD431_3039u, new PortRange(12345, 54321).Pack());
        Assert.Equal((ushort)12345, PortRange.UnpackRaw(0xD431_3039u).Low);
        Assert.Equal((ushort)54321, PortRange.UnpackRaw(0xD431_3039u).High);
        Assert.Equal(0u, PortRange.PackRaw(0, 0));
    }

    [Theory]
    // The B table of CONFORMANCE.md, netns 40000-49999.
    [InlineData(45000, 45000, 45000, 45000)] // B1
    [InlineData(0, 40000, 40000, 40000)] // B2
    [InlineData(49999, 0, 49999, 49999)] // B3
    [InlineData(30000, 39999, 40000, 49999)] // B4 fallback
    [InlineData(50000, 59999, 40000, 49999)] // B5 fallback
    [InlineData(30000, 40003, 40000, 40003)] // B6
    [InlineData(49996, 59999, 49996, 49999)] // B7
    [InlineData(45000, 0, 45000, 49999)] // B8
    [InlineData(0, 0, 40000, 49999)] // B9
    [InlineData(12345, 54321, 40000, 49999)] // B10
    public void Effective_follows_the_kernel_clamp_rule(int lo, int hi, int effLo, int effHi)
    {
        var eff = PortRange.Effective(new PortRange(40000, 49999), (ushort)lo, (ushort)hi);
        Assert.Equal(new PortRange((ushort)effLo, (ushort)effHi), eff);
    }

    [Fact]
    public void Effective_is_evaluated_against_the_current_netns_range()
    {
        // B11: the option stays, the netns range moves under it.
        Assert.Equal(new PortRange(43004, 43009), PortRange.Effective(new PortRange(43004, 49999), 43000, 43009));
    }

    [Fact]
    public void Set_operations()
    {
        var a = new PortRange(100, 199);
        var b = new PortRange(150, 300);
        Assert.True(a.Overlaps(b));
        Assert.Equal(new PortRange(150, 199), a.Intersect(b));
        Assert.Null(a.Intersect(new PortRange(200, 300)));
        Assert.False(a.Overlaps(new PortRange(200, 300)));
        Assert.True(a.Contains(new PortRange(100, 199)));
        Assert.False(a.Contains(b));
        Assert.True(a.Contains(100) && a.Contains(199) && !a.Contains(200));
        Assert.True(new PortRange(40000, 40511).IsParityAligned);
        Assert.False(new PortRange(40001, 40511).IsParityAligned);
        Assert.Equal("40000-40511", new PortRange(40000, 40511).ToString());
        Assert.Equal("7", new PortRange(7, 7).ToString());
    }

    [Property(MaxTest = 2000)]
    public Property Pack_round_trips(ushort lo, ushort hi)
    {
        var (l, h) = PortRange.UnpackRaw(PortRange.PackRaw(lo, hi));
        return (l == lo && h == hi).ToProperty();
    }

    [Property(MaxTest = 2000)]
    public Property Parse_round_trips_ToString(ushort a, ushort b)
    {
        var lo = (ushort)Math.Max((ushort)1, Math.Min(a, b));
        var hi = (ushort)Math.Max((ushort)1, Math.Max(a, b));
        var r = new PortRange(lo, hi);
        return (PortRange.Parse(r.ToString()) == r).ToProperty();
    }

    [Property(MaxTest = 5000)]
    public Property Effective_is_always_inside_the_netns_range_and_honours_in_range_bounds(ushort nl, ushort nh, ushort lo, ushort hi)
    {
        var netLo = (ushort)Math.Max((ushort)1, Math.Min(nl, nh));
        var netHi = (ushort)Math.Max((ushort)1, Math.Max(nl, nh));
        var netns = new PortRange(netLo, netHi);

        // The kernel refuses lo > hi when both are set; model only what it accepts.
        if (lo != 0 && hi != 0 && lo > hi)
        {
            (lo, hi) = (hi, lo);
        }

        var eff = PortRange.Effective(netns, lo, hi);
        var inside = netns.Contains(eff);
        var loHonoured = !netns.Contains(lo) || eff.Low == lo;
        var hiHonoured = !netns.Contains(hi) || eff.High == hi;
        var slice = lo != 0 && hi != 0 ? new PortRange(lo, hi) : (PortRange?)null;
        var subsetWhenInside = slice is not { } s || !netns.Contains(s) || eff == s;
        return (inside && loHonoured && hiHonoured && subsetWhenInside).ToProperty();
    }
}
