using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace PortShare.Tests;

public class PortSliceTests
{
    [Theory]
    [InlineData("40000-40511", "40000-40511", 512)]
    [InlineData("40200-40299,40000-40099", "40000-40099,40200-40299", 200)]
    [InlineData("40000-40099,40100-40199", "40000-40199", 200)]
    [InlineData("5,7,6", "5-7", 3)]
    public void Parse_sorts_and_merges_adjacent_ranges(string text, string expected, int count)
    {
        var slice = PortSlice.Parse(text);
        Assert.Equal(expected, slice.ToString());
        Assert.Equal(count, slice.Count);
        Assert.Equal(slice, PortSlice.Parse(slice.ToString()));
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("40000-40099,", "In port slice '40000-40099,'")]
    [InlineData("5-3", "greater than the high port")]
    [InlineData("40000-40100,40050-40200", "40000-40100 and 40050-40200 overlap")]
    [InlineData("1-2,x", "'x' is not a port number")]
    public void Parse_names_what_is_wrong(string text, string expected)
    {
        Assert.False(PortSlice.TryParse(text, out _, out var error));
        Assert.Contains(expected, error, StringComparison.Ordinal);
        Assert.Throws<FormatException>(() => PortSlice.Parse(text));
    }

    [Fact]
    public void Ports_are_indexed_in_order_across_ranges()
    {
        var slice = PortSlice.Parse("100-101,200-202,300");
        Assert.Equal([100, 101, 200, 201, 202, 300], Enumerable.Range(0, slice.Count).Select(i => (int)slice.PortAt(i)));
        Assert.Equal(2, slice.IndexOf(200));
        Assert.Equal(-1, slice.IndexOf(150));
        Assert.Equal(-1, slice.IndexOf(99));
        Assert.Equal(1, slice.RangeIndexOfIndex(4));
        Assert.Equal(new PortRange(100, 300), slice.Span);
        Assert.Equal([new PortRange(102, 199), new PortRange(203, 299)], slice.Gaps());
        Assert.True(slice.Contains(new PortRange(200, 202)));
        Assert.False(slice.Contains(new PortRange(200, 203)));
        Assert.Equal("200-202", slice.Intersect(new PortRange(150, 250))!.ToString());
        Assert.Null(slice.Intersect(new PortRange(150, 160)));
    }

    [Fact]
    public void PickRange_weights_ranges_by_size()
    {
        var slice = PortSlice.Parse("1000-1099,2000-2899");
        var random = new Random(42);
        var big = Enumerable.Range(0, 10_000).Count(_ => slice.PickRange(random) == 1);
        Assert.InRange(big, 8_700, 9_300);
    }

    [Property(MaxTest = 300)]
    public Property Index_and_port_are_inverse_and_cover_exactly_the_ranges(ushort[] lows)
    {
        // Disjoint, gapped ranges from arbitrary lows: every 200 ports, a range of 1-100 ports.
        var ranges = lows.Distinct().Take(20).Select(l => (ushort)(l % 300)).Distinct()
            .Select(k => new PortRange((ushort)(1 + (k * 200)), (ushort)(1 + (k * 200) + (k % 100)))).ToList();
        if (ranges.Count == 0)
        {
            return true.ToProperty();
        }

        var slice = PortSlice.From(ranges);
        var ports = Enumerable.Range(0, slice.Count).Select(slice.PortAt).ToList();
        var expected = ranges.OrderBy(r => r.Low).SelectMany(r => Enumerable.Range(r.Low, r.Count)).Select(p => (ushort)p).ToList();
        return (ports.SequenceEqual(expected)
            && ports.Select((p, i) => slice.IndexOf(p) == i).All(x => x)
            && slice.Gaps().All(g => !slice.Contains(g.Low) && !slice.Contains(g.High))).ToProperty();
    }
}
