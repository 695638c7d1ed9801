using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace PortShare.Connect;

/// <summary>
/// The fallback's knowledge of which slice ports are busy toward each destination, so it picks a free port in one try
/// instead of paying a socket, a bind and a failed connect per busy port. Two kinds of entries:
/// <list type="bullet">
/// <item><see cref="Held"/>: one of our own live sockets uses the port toward that destination; cleared exactly when that
/// socket is disposed (or finalized), so this is the process's own table of live connections.</item>
/// <item>a deadline: the kernel refused the port recently (another program's connection, or TIME_WAIT); skipped until then,
/// and still tried once more before the slice is declared exhausted, since the hint can be stale.</item>
/// </list>
/// Lock-free: racing writers only lose a hint.
/// </summary>
internal sealed class BusyPortTable
{
    /// <summary>Marks a port held by one of our live sockets.</summary>
    internal const long Held = long.MaxValue;

    /// <summary>How long a port the kernel refused stays skipped.</summary>
    internal const long BusyMilliseconds = 1_000;

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
            // Bounded memory for clients that talk to many destinations. Live sockets keep their own array,
            // so dropping the map only forgets hints.
            _byDestination.Clear();
        }

        return _byDestination.GetOrAdd(destination, _ => new long[_size]);
    }

    /// <summary>0 = no knowledge, <see cref="Held"/> = ours, else the time until which the port is skipped.</summary>
    public static long Read(long[] table, int offset) => Volatile.Read(ref table[offset]);

    public static void MarkRefused(long[] table, int offset, long now)
    {
        // Never overwrite Held: a racing caller's failure on our own live port says nothing new.
        var current = Volatile.Read(ref table[offset]);
        if (current != Held)
        {
            Interlocked.CompareExchange(ref table[offset], now + BusyMilliseconds, current);
        }
    }

    public static void MarkHeld(long[] table, int offset) => Volatile.Write(ref table[offset], Held);

    public static void Release(long[] table, int offset) => Interlocked.CompareExchange(ref table[offset], 0, Held);
}

/// <summary>A socket handed out by the fallback: disposing (or finalizing) it returns its port to the table.</summary>
internal sealed class SliceSocket : Socket
{
    private long[]? _table;
    private int _offset;

    public SliceSocket(AddressFamily family, SocketType type, ProtocolType protocol)
        : base(family, type, protocol)
    {
    }

    internal void Track(long[] table, int offset)
    {
        _offset = offset;
        _table = table;
        BusyPortTable.MarkHeld(table, offset);
    }

    protected override void Dispose(bool disposing)
    {
        if (Interlocked.Exchange(ref _table, null) is { } table)
        {
            BusyPortTable.Release(table, _offset);
        }

        base.Dispose(disposing);
    }
}
