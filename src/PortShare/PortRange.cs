using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace PortShare;

/// <summary>
/// An inclusive range of ports <c>[Low, High]</c> with 1 ≤ Low ≤ High ≤ 65535, as a host's slice of an egress IP.
/// Also holds the kernel's packing of <c>IP_LOCAL_PORT_RANGE</c> and its clamp rule.
/// </summary>
public readonly record struct PortRange : ISpanFormattable
{
    /// <summary>Creates a range; throws when a bound is 0 or <paramref name="low"/> &gt; <paramref name="high"/>.</summary>
    public PortRange(ushort low, ushort high)
    {
        if (low == 0 || high == 0)
        {
            throw new ArgumentOutOfRangeException(low == 0 ? nameof(low) : nameof(high), $"Port range {low}-{high}: ports must be between 1 and 65535.");
        }

        if (low > high)
        {
            throw new ArgumentException($"Port range {low}-{high}: the low port {low} is greater than the high port {high}.", nameof(low));
        }

        Low = low;
        High = high;
    }

    /// <summary>The first port of the range.</summary>
    public ushort Low { get; }

    /// <summary>The last port of the range (inclusive).</summary>
    public ushort High { get; }

    /// <summary>The number of ports in the range.</summary>
    public int Count => High - Low + 1;

    /// <summary>True when the range is even-sized with an even low port and an odd high port, the shape that loses no port to the kernel's parity rules.</summary>
    public bool IsParityAligned => Low % 2 == 0 && High % 2 == 1;

    /// <summary>True when <paramref name="port"/> lies in the range.</summary>
    public bool Contains(int port) => port >= Low && port <= High;

    /// <summary>True when <paramref name="other"/> lies wholly inside this range.</summary>
    public bool Contains(PortRange other) => other.Low >= Low && other.High <= High;

    /// <summary>True when the two ranges share at least one port.</summary>
    public bool Overlaps(PortRange other) => Low <= other.High && other.Low <= High;

    /// <summary>The ports both ranges share, or null when they are disjoint.</summary>
    public PortRange? Intersect(PortRange other)
    {
        var lo = Math.Max(Low, other.Low);
        var hi = Math.Min(High, other.High);
        return lo <= hi ? new PortRange(lo, hi) : null;
    }

    /// <summary>The value <c>IP_LOCAL_PORT_RANGE</c> takes: <c>High &lt;&lt; 16 | Low</c>, a host-order u32.</summary>
    public uint Pack() => PackRaw(Low, High);

    /// <summary>Packs two raw bounds (0 meaning "unset") as the kernel's u32.</summary>
    public static uint PackRaw(ushort low, ushort high) => ((uint)high << 16) | low;

    /// <summary>Splits the kernel's u32 into its raw bounds (either may be 0 = unset).</summary>
    public static (ushort Low, ushort High) UnpackRaw(uint value) => ((ushort)(value & 0xFFFF), (ushort)(value >> 16));

    /// <summary>
    /// The ports the kernel actually searches for a socket whose <c>IP_LOCAL_PORT_RANGE</c> holds the raw bounds
    /// (<paramref name="low"/>, <paramref name="high"/>; 0 = unset) in a network namespace whose
    /// <c>ip_local_port_range</c> is <paramref name="netns"/>. Each bound is used only if it lies inside the netns range;
    /// otherwise the netns bound replaces it (net/ipv4/inet_connection_sock.c, <c>inet_sk_get_local_port_range</c>).
    /// A socket range with no overlap thus silently becomes the whole netns range.
    /// </summary>
    public static PortRange Effective(PortRange netns, ushort low, ushort high)
    {
        // Sequential, as in the kernel: the high bound is checked against the already narrowed low bound.
        var lo = netns.Low;
        var hi = netns.High;
        if (lo <= low && low <= hi)
        {
            lo = low;
        }

        if (lo <= high && high <= hi)
        {
            hi = high;
        }

        return new PortRange(lo, hi);
    }

    /// <summary>Parses <c>LO-HI</c> or a single port <c>P</c>; throws <see cref="FormatException"/> naming the input.</summary>
    public static PortRange Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return TryParse(text, out var range, out var error) ? range : throw new FormatException(error);
    }

    /// <summary>Parses <c>LO-HI</c> or <c>P</c>; on failure <paramref name="error"/> says what is wrong with the input.</summary>
    public static bool TryParse([NotNullWhen(true)] string? text, out PortRange range, [NotNullWhen(false)] out string? error)
    {
        range = default;
        if (string.IsNullOrWhiteSpace(text))
        {
            error = "Port range is empty: expected LO-HI (e.g. 40000-40511) or a single port.";
            return false;
        }

        var span = text.AsSpan().Trim();
        var dash = span.IndexOf('-');
        var loText = dash < 0 ? span : span[..dash].Trim();
        var hiText = dash < 0 ? span : span[(dash + 1)..].Trim();
        if (!TryParsePort(loText, out var lo, out var why) || !TryParsePort(hiText, out var hi, out why))
        {
            error = $"Port range '{text}' is invalid: {why}. Expected LO-HI (e.g. 40000-40511) or a single port.";
            return false;
        }

        if (lo > hi)
        {
            error = $"Port range '{text}' is invalid: the low port {lo} is greater than the high port {hi}.";
            return false;
        }

        range = new PortRange(lo, hi);
        error = null;
        return true;
    }

    private static bool TryParsePort(ReadOnlySpan<char> text, out ushort port, out string why)
    {
        port = 0;
        if (text.IsEmpty)
        {
            why = "a port is missing";
            return false;
        }

        foreach (var c in text)
        {
            if (c is < '0' or > '9')
            {
                why = $"'{text}' is not a port number";
                return false;
            }
        }

        if (text.Length > 5 || !int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value > 65535)
        {
            why = $"port {text} is above 65535";
            return false;
        }

        if (value == 0)
        {
            why = "port 0 is not a usable port (ports are 1-65535)";
            return false;
        }

        port = (ushort)value;
        why = string.Empty;
        return true;
    }

    /// <inheritdoc/>
    public override string ToString() => Low == High
        ? Low.ToString(CultureInfo.InvariantCulture)
        : string.Create(CultureInfo.InvariantCulture, $"{Low}-{High}");

    /// <inheritdoc/>
    public string ToString(string? format, IFormatProvider? formatProvider) => ToString();

    /// <inheritdoc/>
    public bool TryFormat(Span<char> destination, out int charsWritten, ReadOnlySpan<char> format, IFormatProvider? provider) =>
        Low == High
            ? destination.TryWrite(CultureInfo.InvariantCulture, $"{Low}", out charsWritten)
            : destination.TryWrite(CultureInfo.InvariantCulture, $"{Low}-{High}", out charsWritten);
}
