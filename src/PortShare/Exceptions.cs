using System.Net;
using System.Net.Sockets;

namespace PortShare;

/// <summary>Base type of every error PortShare raises on purpose; its message is meant for a person.</summary>
public class PortShareException : Exception
{
    /// <summary>Creates the exception.</summary>
    public PortShareException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public PortShareException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception.</summary>
    public PortShareException()
    {
    }

    /// <summary>
    /// Problems joined for one line: the first <paramref name="max"/>, then how many more, so a spec with 300,000 bad
    /// hosts is a readable message, not megabytes of one (the full list stays on the exception that carries it).
    /// </summary>
    public static string Summarize(IReadOnlyList<string> problems, string separator = " | ", int max = 10)
    {
        ArgumentNullException.ThrowIfNull(problems);
        return problems.Count <= max
            ? string.Join(separator, problems)
            : $"{string.Join(separator, problems.Take(max))}{separator}… and {problems.Count - max:N0} more";
    }
}

/// <summary>
/// Every port of the slice is busy toward the destination (TCP <c>EADDRNOTAVAIL</c>), or no port of the slice
/// could be bound (<c>EADDRINUSE</c>), or UDP autobind found none (<c>EAGAIN</c>). Retry later, or use another egress IP.
/// </summary>
public sealed class SliceExhaustedException : PortShareException
{
    /// <summary>Creates the exception with a message naming the slice, local address and destination.</summary>
    public SliceExhaustedException(PortSlice slice, IPAddress? localAddress, EndPoint? remote, SocketError error, string? detail = null)
        : base(Format(slice, localAddress, remote, error, detail))
    {
        Slice = slice;
        LocalAddress = localAddress;
        Remote = remote;
        SocketError = error;
    }

    /// <summary>Creates the exception.</summary>
    public SliceExhaustedException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public SliceExhaustedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception.</summary>
    public SliceExhaustedException()
    {
    }

    /// <summary>The slice that is full (every range of it was tried).</summary>
    public PortSlice? Slice { get; }

    /// <summary>The local (egress) address, or null for "any".</summary>
    public IPAddress? LocalAddress { get; }

    /// <summary>The destination, or null for a bind without destination.</summary>
    public EndPoint? Remote { get; }

    /// <summary>The kernel's error behind the exhaustion.</summary>
    public SocketError SocketError { get; }

    private static string Format(PortSlice slice, IPAddress? local, EndPoint? remote, SocketError error, string? detail)
    {
        var from = local is null ? "any local address" : local.ToString();
        var to = remote is null ? "a bind" : $"destination {remote}";
        var what = error switch
        {
            SocketError.AddressNotAvailable => "every port is already connected to that destination",
            SocketError.AddressAlreadyInUse => "every port is already bound",
            SocketError.WouldBlock => "no free port is left for UDP",
            _ => $"kernel error {error}",
        };
        var tail = detail is null ? string.Empty : $" ({detail})";
        var size = slice.Ranges.Count == 1 ? $"{slice.Count} ports" : $"{slice.Count} ports in {slice.Ranges.Count} ranges, every one tried";
        return $"Port slice {slice} ({size}) is exhausted for {to} from {from}: {what}{tail}. Close connections, wait for TIME_WAIT to pass, or use a larger slice or another egress IP.";
    }
}

/// <summary>
/// The slice cannot be used safely: it lies (partly) outside the network namespace's <c>ip_local_port_range</c>,
/// where the kernel would silently use other ports, or a socket ended up on a port outside the slice. PortShare fails closed.
/// </summary>
public sealed class SliceMisconfiguredException : PortShareException
{
    /// <summary>Creates the exception.</summary>
    public SliceMisconfiguredException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public SliceMisconfiguredException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception.</summary>
    public SliceMisconfiguredException()
    {
    }
}

/// <summary>The kernel path was asked for but this kernel has no <c>IP_LOCAL_PORT_RANGE</c> (Linux &lt; 6.3).</summary>
public sealed class KernelPathUnsupportedException : PortShareException
{
    /// <summary>Creates the exception.</summary>
    public KernelPathUnsupportedException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public KernelPathUnsupportedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception.</summary>
    public KernelPathUnsupportedException()
    {
    }
}
