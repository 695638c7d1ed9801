using PortShare.Planning;

namespace PortShare.Tests.Planning;

/// <summary><see cref="Fanout.Beside"/>: a small plan's work waits to be asked for, a fleet's starts at once elsewhere.</summary>
public class FanoutTests
{
    [Fact]
    public void Work_for_a_small_plan_runs_on_the_calling_thread_only_when_asked_for()
    {
        var ran = 0;
        var thread = -1;
        var result = Fanout.Beside(Fanout.MinParallelSlices - 1, () =>
        {
            ran++;
            thread = Environment.CurrentManagedThreadId;
            return 42;
        });

        Assert.Equal(0, ran);
        Assert.Equal(42, result());
        Assert.Equal(1, ran);
        Assert.Equal(Environment.CurrentManagedThreadId, thread);
    }

    [Fact]
    public void Work_for_a_fleet_starts_on_another_thread_before_it_is_asked_for()
    {
        using var started = new ManualResetEventSlim();
        var thread = -1;
        var result = Fanout.Beside(Fanout.MinParallelSlices, () =>
        {
            thread = Environment.CurrentManagedThreadId;
            started.Set();
            return "done";
        });

        Assert.True(started.Wait(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken), "the work did not start until asked for");
        Assert.Equal("done", result());
        Assert.NotEqual(Environment.CurrentManagedThreadId, thread);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(Fanout.MinParallelSlices)]
    public void The_work_s_exception_is_thrown_as_itself_by_the_call_that_asks(long slices)
    {
        var result = Fanout.Beside<int>(slices, () => throw new PlanFileException("broken"));
        Assert.Equal("broken", Assert.Throws<PlanFileException>(() => result()).Message);
    }
}
