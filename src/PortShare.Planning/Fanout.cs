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
    /// within a run. The first exception of a run is rethrown as itself (not wrapped), so callers' typed errors pass through.
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

        try
        {
            Parallel.For(0, parts, p => body((int)((long)p * count / parts), (int)((long)(p + 1) * count / parts)));
        }
        catch (AggregateException ex) when (ex.InnerExceptions.Count > 0)
        {
            ExceptionDispatchInfo.Throw(ex.InnerExceptions[0]);
            throw;
        }
    }

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
