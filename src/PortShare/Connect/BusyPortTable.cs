using System.Collections.Concurrent;
using System.Net;

namespace PortShare.Connect;

/// <summary>
/// Hints of which slice ports were recently busy toward each destination, so the fallback does not re-try ports it just
/// found taken (each failed try costs a socket, a bind and a connect). A hint is never a verdict: when every port is
/// hinted busy the fallback still tries them all before declaring the slice exhausted. Lock-free: racing writers
/// only lose a hint.
/// </summary>
internal sealed class BusyPortTable
{
    /// <summary>How long a port we found taken stays skipped.</summary>
    internal static readonly long BusyMilliseconds = 1_000;

    /// <summary>How long a port we handed out stays skipped (the caller probably still holds it).</summary>
    internal static readonly long HeldMilliseconds = 5_000;

    private const int MaxDestinations = 4096;

    private readonly ConcurrentDictionary<IPEndPoint, long[]> _byDestination = new();
    private readonly int _size;

    public BusyPortTable(int size) => _size = size;

    public long[] For(IPEndPoint destination)
    {
        if (_byDestination.TryGetValue(destination, out var table))
        {
            return table;
        }

        if (_byDestination.Count >= MaxDestinations)
        {
            // Bounded memory for clients that talk to many destinations: hints are cheap to relearn.
            _byDestination.Clear();
        }

        return _byDestination.GetOrAdd(destination, _ => new long[_size]);
    }

    public static bool IsBusy(long[] table, int offset, long now) => Volatile.Read(ref table[offset]) > now;

    public static void Mark(long[] table, int offset, long until) => Volatile.Write(ref table[offset], until);
}
