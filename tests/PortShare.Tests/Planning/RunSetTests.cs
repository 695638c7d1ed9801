using PortShare.Planning;

namespace PortShare.Tests.Planning;

/// <summary>The re-planner's sorted blocks of free runs answer as a sorted set does, across block splits and removals.</summary>
public class RunSetTests
{
    [Theory]
    [InlineData(0, 1)]
    [InlineData(1, 2)]
    [InlineData(300, 3)]
    [InlineData(5000, 4)]
    public void Answers_like_a_sorted_set_under_random_removals_and_additions(int initial, int seed)
    {
        var random = new Random(seed);
        var reference = new SortedSet<long>();
        while (reference.Count < initial)
        {
            reference.Add(RunSet.Key(random.Next(0, 64), random.Next(0, 100_000)));
        }

        var keys = reference.OrderBy(_ => random.Next()).ToArray();
        var set = new RunSet(keys, keys.Length);
        for (var step = 0; step < 20_000; step++)
        {
            Assert.Equal(reference.Count, set.Count);
            if (reference.Count > 0)
            {
                Assert.Equal(reference.Max, set.Max);
                var floor = RunSet.Key(random.Next(0, 64), 0);
                if (reference.Max >= floor)
                {
                    Assert.Equal(reference.GetViewBetween(floor, long.MaxValue).Min, set.Ceiling(floor));
                }
            }

            if (reference.Count > 0 && random.Next(3) == 0)
            {
                // Remove an existing key (as the re-planner removes the run it chose).
                var key = reference.ElementAt(random.Next(reference.Count));
                reference.Remove(key);
                set.Remove(key);
            }
            else
            {
                var key = RunSet.Key(random.Next(0, 64), random.Next(0, 100_000));
                if (reference.Add(key))
                {
                    set.Add(key);
                }
            }
        }
    }

    [Fact]
    public void Keys_order_by_capacity_then_start()
    {
        Assert.True(RunSet.Key(2, 1_000_000) < RunSet.Key(3, 0));
        Assert.True(RunSet.Key(3, 5) < RunSet.Key(3, 6));
        Assert.Equal(70_000, RunSet.CapacityOf(RunSet.Key(70_000, 12)));
        Assert.Equal(12, RunSet.StartOf(RunSet.Key(70_000, 12)));
    }
}
