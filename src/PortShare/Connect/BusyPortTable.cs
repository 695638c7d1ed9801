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
/// and still tried once more before the slice is declared exhausted, since the hint can be stale. Each refusal in a row
/// doubles the wait (1 s up to 32 s, with jitter), so long-lived connections of other programs cost a failed try rarely,
/// not once a second each.</item>
/// </list>
/// Lock-free: racing writers only lose a hint.
/// </summary>
internal sealed class BusyPortTable
{
    /// <summary>Marks a port held by one of our live sockets.</summary>
    internal const long Held = long.MaxValue;

    /// <summary>How long a port the kernel refused once stays skipped; doubled per refusal in a row.</summary>
    internal const long BusyMilliseconds = 1_000;


    private const int MaxDestinations = 4096;

    private readonly ConcurrentDictionary<IPEndPoint, PortHints> _byDestination = new();
    private readonly int _size;

    public BusyPortTable(int size) => _size = size;

    public PortHints For(IPEndPoint destination)
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

        return _byDestination.GetOrAdd(destination, _ => new PortHints(_size));
    }
}

/// <summary>Per destination: for each port of the slice, 0 (no knowledge), <see cref="BusyPortTable.Held"/> or a deadline.</summary>
internal sealed class PortHints
{
    private readonly long[] _until;
    private readonly byte[] _strikes;

    public PortHints(int size)
    {
        _until = new long[size];
        _strikes = new byte[size];
    }

    public long Read(int offset) => Volatile.Read(ref _until[offset]);

    public void MarkRefused(int offset, long now)
    {
        // Never overwrite Held: a racing caller's failure on our own live port says nothing new.
        var current = Volatile.Read(ref _until[offset]);
        if (current == BusyPortTable.Held)
        {
            return;
        }

        var strikes = _strikes[offset];
        var wait = BusyPortTable.BusyMilliseconds << Math.Min((int)strikes, 5);
        _strikes[offset] = (byte)Math.Min(strikes + 1, 255);
        Interlocked.CompareExchange(ref _until[offset], now + wait + Random.Shared.Next((int)(wait / 4) + 1), current);
    }

    /// <summary>Forgets what is known of <paramref name="offset"/> unless one of our live sockets holds it (it proved free).</summary>
    public void Clear(int offset)
    {
        var current = Volatile.Read(ref _until[offset]);
        if (current != 0 && current != BusyPortTable.Held)
        {
            _strikes[offset] = 0;
            Interlocked.CompareExchange(ref _until[offset], 0, current);
        }
    }

    public void MarkHeld(int offset)
    {
        _strikes[offset] = 0;
        Volatile.Write(ref _until[offset], BusyPortTable.Held);
    }

    public void Release(int offset) => Interlocked.CompareExchange(ref _until[offset], 0, BusyPortTable.Held);
}

/// <summary>A socket handed out by the fallback: disposing (or finalizing) it returns its port to the table.</summary>
internal sealed class SliceSocket : Socket
{
    private PortHints? _table;
    private int _offset;

    public SliceSocket(AddressFamily family, SocketType type, ProtocolType protocol)
        : base(family, type, protocol)
    {
    }

    internal void Track(PortHints table, int offset)
    {
        _offset = offset;
        _table = table;
        table.MarkHeld(offset);
    }

    protected override void Dispose(bool disposing)
    {
        if (Interlocked.Exchange(ref _table, null) is { } table)
        {
            table.Release(_offset);
        }

        base.Dispose(disposing);
    }
}
