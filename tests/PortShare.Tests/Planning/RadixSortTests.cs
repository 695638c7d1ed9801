using FsCheck.Xunit;
using PortShare.Planning;

namespace PortShare.Tests.Planning;

/// <summary>The planner's radix sort orders as a stable comparison sort does, for ports, wide keys and every length.</summary>
public class RadixSortTests
{
    [Property(MaxTest = 300)]
    public void Sorts_port_keys_with_their_items_stably(ushort[] ports)
    {
        var keys = ports.Select(p => (int)p).ToArray();
        var items = Enumerable.Range(0, keys.Length).Select(i => $"item {i}").ToArray();
        var expected = keys.Zip(items).OrderBy(p => p.First).ToArray(); // OrderBy is stable

        RadixSort.Sort(keys, items, keys.Length);

        Assert.Equal(expected.Select(p => p.First), keys);
        Assert.Equal(expected.Select(p => p.Second), items);
    }

    [Property(MaxTest = 300)]
    public void Sorts_non_negative_long_keys(long[] values)
    {
        var keys = values.Select(v => v == long.MinValue ? 0 : Math.Abs(v)).ToArray();
        var expected = keys.Order().ToArray();

        RadixSort.Sort(keys, keys.Length);

        Assert.Equal(expected, keys);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(32)]
    [InlineData(33)]
    [InlineData(10_000)]
    public void Sorts_only_the_first_count_keys_and_leaves_the_rest(int count)
    {
        var random = new Random(count);
        var keys = Enumerable.Range(0, count + 5).Select(_ => random.Next(0, 65536)).ToArray();
        var items = Enumerable.Range(0, keys.Length).ToArray();
        var tail = keys[count..];
        var expected = keys[..count].Zip(items[..count]).OrderBy(p => p.First).ToArray();

        RadixSort.Sort(keys, items, count);

        Assert.Equal(expected.Select(p => p.First), keys[..count]);
        Assert.Equal(expected.Select(p => p.Second), items[..count]);
        Assert.Equal(tail, keys[count..]);
        Assert.Equal(Enumerable.Range(count, 5), items[count..]);
    }

    [Fact]
    public void Run_keys_of_capacity_and_start_sort_by_capacity_then_start()
    {
        var random = new Random(7);
        var keys = Enumerable.Range(0, 5000).Select(i => RunSet.Key(random.Next(1, 65536), i)).OrderBy(_ => random.Next()).ToArray();
        var expected = keys.OrderBy(RunSet.CapacityOf).ThenBy(RunSet.StartOf).ToArray();

        RadixSort.Sort(keys, keys.Length);

        Assert.Equal(expected, keys);
    }
}
