using System.Runtime.ExceptionServices;

namespace PortShare.Planning;

/// <summary>
/// Work over a plan's egress IPs on every core when there is enough of it: a fleet's plan is 16 egress IPs of 10,000
/// slices each, and reading, re-planning, comparing, validating and writing it are each a loop over egress IPs that
/// share nothing. A small plan runs on the calling thread (the thread pool's start in a fresh process costs more than
/// such a plan's whole work).
/// </summary>
internal static class Fanout
{
    /// <summary>Below this many slices in all, the work stays on the calling thread.</summary>
    public const long MinParallelSlices = 20_000;

    /// <summary>
    /// Calls <paramref name="body"/> with consecutive runs <c>[from, to)</c> of <c>0..count</c>, one run per core (at most
    /// <paramref name="count"/>), side by side when <paramref name="slices"/> reaches <see cref="MinParallelSlices"/>.
    /// Consecutive runs let each caller reuse its working arrays and its guess of the previous egress IP's host order
    /// within a run. The first run's exception (by run order) is rethrown as itself (not wrapped), once every run has ended, so callers' typed errors pass through.
    /// </summary>
    public static void Runs(int count, long slices, Action<int, int> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        var parts = slices < MinParallelSlices ? 1 : Math.Min(count, Environment.ProcessorCount);
        if (parts <= 1)
        {
            body(0, count);
            return;
        }

        // Runs 1.. on the thread pool, run 0 here; Tasks rather than Parallel.For, whose event source (made at its first
        // call, by reflection) cost each command a few milliseconds.
        var others = new Task[parts - 1];
        for (var p = 1; p < parts; p++)
        {
            var (from, to) = Run(p, parts, count);
            others[p - 1] = Task.Run(() => body(from, to));
        }

        Exception? first = null;
        try
        {
            var (from, to) = Run(0, parts, count);
            body(from, to);
        }
#pragma warning disable CA1031 // Rethrown below, after every run has ended: none keeps working on shared arrays.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            first = ex;
        }

        foreach (var task in others)
        {
            try
            {
                task.GetAwaiter().GetResult();
            }
#pragma warning disable CA1031 // As above.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                first ??= ex;
            }
        }

        if (first is not null)
        {
            ExceptionDispatchInfo.Throw(first);
        }
    }

    /// <summary>
    /// <paramref name="work"/>'s result, to be asked for later: started now on another core when <paramref name="slices"/>
    /// reaches <see cref="MinParallelSlices"/> (so it runs beside what the caller does meanwhile), else done on the calling
    /// thread when first asked for. Its exception is thrown, as itself, by the call that asks.
    /// </summary>
    public static Func<T> Beside<T>(long slices, Func<T> work)
    {
        ArgumentNullException.ThrowIfNull(work);
        if (slices < MinParallelSlices)
        {
            return work;
        }

        var task = Task.Run(work);
        return () => task.GetAwaiter().GetResult();
    }

    private static (int From, int To) Run(int part, int parts, int count) =>
        ((int)((long)part * count / parts), (int)((long)(part + 1) * count / parts));

    /// <summary>The slices of all of <paramref name="egress"/>, to pass as <see cref="Runs"/>'s amount of work.</summary>
    public static long SliceCount(IReadOnlyList<EgressPlan> egress)
    {
        long n = 0;
        foreach (var e in egress)
        {
            n += e.Slices.Count;
        }

        return n;
    }
}
