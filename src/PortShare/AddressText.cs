using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace PortShare;

/// <summary>
/// IP addresses to and from text through the runtime's UTF-8 parser and formatter: the same code, with the same answers,
/// as <see cref="IPAddress.TryParse(string?, out IPAddress?)"/> and <see cref="IPAddress.ToString"/>. The runtime's
/// parser and formatter are generic over the character type, and the ReadyToRun image holds only their UTF-8 forms, so
/// the first UTF-16 parse or format of a process compiles some fifteen methods at run time (a few milliseconds of every
/// short command: BENCHMARKS.md, "fleet-size commands"); these go through the precompiled UTF-8 forms instead.
/// </summary>
internal static class AddressText
{
    // The longest address text: an IPv6 address in IPv4-mapped form (45 characters) with a zone name.
    private const int MaxLength = 128;

    /// <summary>As <see cref="IPAddress.TryParse(ReadOnlySpan{char}, out IPAddress?)"/>.</summary>
    public static bool TryParse(ReadOnlySpan<char> text, [NotNullWhen(true)] out IPAddress? address)
    {
        Span<byte> utf8 = stackalloc byte[MaxLength];
        if (text.Length <= MaxLength && Ascii.FromUtf16(text, utf8, out var length) == System.Buffers.OperationStatus.Done)
        {
            return IPAddress.TryParse(utf8[..length], out address);
        }

        // Too long or not ASCII: never an address, but let the runtime say so (it also decides what a zone may be).
        return IPAddress.TryParse(text, out address);
    }

    /// <summary>As <see cref="IPAddress.Parse(string)"/>.</summary>
    /// <exception cref="FormatException"><paramref name="text"/> is not an IP address.</exception>
    public static IPAddress Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return TryParse(text, out var address) ? address : IPAddress.Parse(text);
    }

    /// <summary>As <see cref="IPAddress.ToString"/>.</summary>
    public static string Format(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        Span<byte> utf8 = stackalloc byte[MaxLength];
        return address.TryFormat(utf8, out var length) ? Encoding.ASCII.GetString(utf8[..length]) : address.ToString();
    }

    /// <summary>As <see cref="IPEndPoint.ToString"/>: <c>A.B.C.D:PORT</c>, or <c>[IPv6]:PORT</c>.</summary>
    public static string Format(IPEndPoint endpoint)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        var address = Format(endpoint.Address);
        return endpoint.AddressFamily == AddressFamily.InterNetworkV6
            ? string.Concat("[", address, "]:", endpoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture))
            : string.Concat(address, ":", endpoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }
}
