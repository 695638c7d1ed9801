using PortShare.Lab;

namespace PortShare.Tests.Lab;

public class LabPickTests
{
    [Fact]
    public void Connections_spread_over_ranges_by_size()
    {
        IReadOnlyList<PortRange> ranges = [PortRange.Parse("32768-42177"), PortRange.Parse("46882-46883")];
        var picks = Enumerable.Range(0, 100).Select(i => NetLab.Pick(ranges, i, 100)).ToList();
        Assert.True(picks.Count(p => p == 1) <= 1);
        Assert.Equal(0, NetLab.Pick([PortRange.Parse("1000-1001")], 5, 10));
        IReadOnlyList<PortRange> halves = [PortRange.Parse("1000-1099"), PortRange.Parse("2000-2099")];
        Assert.Equal(50, Enumerable.Range(0, 100).Count(i => NetLab.Pick(halves, i, 100) == 1));
    }
}
