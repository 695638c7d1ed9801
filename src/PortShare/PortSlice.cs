using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace PortShare;

/// <summary>
/// The ports one host owns on one egress address: one or more disjoint port ranges, sorted, with adjacent ranges
/// merged. Reserved ports split a slice, a keep-ports re-plan adds ranges, and fleet mode hands out fixed-size units, so
/// a slice is a set of ranges; every consumer uses all of them. Written and parsed as <c>LO-HI[,LO-HI…]</c>.
/// Immutable and thread-safe.
/// </summary>
public sealed class PortSlice : IEquatable<PortSlice>
{
    private readonly PortRange[] _ranges;

    // _starts[i] is the index (offset into the slice's ports, 0-based) of _ranges[i].Low; _starts[^1] is Count.
    private readonly int[] _starts;

    private PortSlice(PortRange[] ranges)
    {
        _ranges = ranges;
        _starts = new int[ranges.Length + 1];
        for (var i = 0; i < ranges.Length; i++)
        {
            _starts[i + 1] = _starts[i] + ranges[i].Count;
        }
    }

    /// <summary>The ranges, sorted by first port, disjoint and not adjacent.</summary>
    public IReadOnlyList<PortRange> Ranges => _ranges;

    /// <summary>The ranges as a span: no interface call per range (and none of the array's interface methods, which the
    /// ReadyToRun image does not hold for a PortShare struct, to compile at run time).</summary>
    internal ReadOnlySpan<PortRange> RangeSpan => _ranges;

    /// <summary>How many ports the slice has.</summary>
    public int Count => _starts[^1];

    /// <summary>From the first port of the first range to the last port of the last: may contain ports the slice does not own.</summary>
    public PortRange Span => new(_ranges[0].Low, _ranges[^1].High);

    /// <summary>A slice of one range.</summary>
    public static implicit operator PortSlice(PortRange range) => new([range]);

    /// <summary>A slice of one range.</summary>
    public static PortSlice FromPortRange(PortRange range) => range;

    /// <summary>
    /// A slice of <paramref name="ranges"/> (any order; adjacent ranges merge).
    /// </summary>
    /// <exception cref="ArgumentException">There is no range, or two ranges overlap (a port owned twice is a planning error); the message names them.</exception>
    public static PortSlice From(IEnumerable<PortRange> ranges)
    {
        ArgumentNullException.ThrowIfNull(ranges);
        return TryFrom(ranges, out var slice, out var error) ? slice : throw new ArgumentException(error, nameof(ranges));
    }

    /// <summary>As <see cref="From"/>, reporting a problem in <paramref name="error"/> instead of throwing.</summary>
    public static bool TryFrom(IEnumerable<PortRange> ranges, [NotNullWhen(true)] out PortSlice? slice, [NotNullWhen(false)] out string? error)
    {
        ArgumentNullException.ThrowIfNull(ranges);
        var sorted = ranges.ToArray();
        slice = null;
        if (sorted.Length == 0)
        {
            error = "A port slice needs at least one port range.";
            return false;
        }

        Array.Sort(sorted, static (x, y) => x.Low.CompareTo(y.Low));
        var merged = new List<PortRange>(sorted.Length) { sorted[0] };
        for (var i = 1; i < sorted.Length; i++)
        {
            var last = merged[^1];
            var r = sorted[i];
            if (r.Low <= last.High)
            {
                error = $"Port ranges {last} and {r} overlap: each port belongs to a slice once.";
                return false;
            }

            if (r.Low == last.High + 1)
            {
                merged[^1] = new PortRange(last.Low, r.High);
            }
            else
            {
                merged.Add(r);
            }
        }

        slice = new PortSlice([.. merged]);
        error = null;
        return true;
    }

    /// <summary>Parses <c>LO-HI[,LO-HI…]</c> (a single port counts as a range); throws <see cref="FormatException"/> naming the input.</summary>
    public static PortSlice Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return TryParse(text, out var slice, out var error) ? slice : throw new FormatException(error);
    }

    /// <summary>Parses <c>LO-HI[,LO-HI…]</c>; on failure <paramref name="error"/> says what is wrong with the input.</summary>
    public static bool TryParse([NotNullWhen(true)] string? text, [NotNullWhen(true)] out PortSlice? slice, [NotNullWhen(false)] out string? error)
    {
        slice = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            error = "Port slice is empty: expected LO-HI (e.g. 40000-40511), or several ranges separated by commas (40000-40099,40200-40511).";
            return false;
        }

        var ranges = new List<PortRange>();
        foreach (var part in text.Split(','))
        {
            if (!PortRange.TryParse(part, out var range, out var rangeError))
            {
                error = text.Contains(',', StringComparison.Ordinal) ? $"In port slice '{text}': {rangeError}" : rangeError;
                return false;
            }

            ranges.Add(range);
        }

        if (!TryFrom(ranges, out slice, out var fromError))
        {
            error = $"Port slice '{text}' is invalid: {fromError}";
            return false;
        }

        error = null;
        return true;
    }

    /// <summary>True when the slice owns <paramref name="port"/>.</summary>
    public bool Contains(int port) => RangeIndexOfPort(port) >= 0;

    /// <summary>True when every port of <paramref name="range"/> belongs to the slice.</summary>
    public bool Contains(PortRange range)
    {
        var i = RangeIndexOfPort(range.Low);
        return i >= 0 && _ranges[i].Contains(range);
    }

    /// <summary>The port at <paramref name="index"/> (0 ≤ index &lt; <see cref="Count"/>) when the slice's ports are counted in order.</summary>
    public ushort PortAt(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
        if (_ranges.Length == 1)
        {
            return (ushort)(_ranges[0].Low + index);
        }

        var i = RangeIndexOfIndex(index);
        return (ushort)(_ranges[i].Low + (index - _starts[i]));
    }

    /// <summary>The index of <paramref name="port"/> among the slice's ports, or -1 when the slice does not own it.</summary>
    public int IndexOf(int port)
    {
        var i = RangeIndexOfPort(port);
        return i < 0 ? -1 : _starts[i] + (port - _ranges[i].Low);
    }

    /// <summary>The index of the range holding the port at <paramref name="index"/>.</summary>
    public int RangeIndexOfIndex(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
        int lo = 0, hi = _ranges.Length - 1;
        while (lo < hi)
        {
            var mid = (lo + hi + 1) / 2;
            if (_starts[mid] <= index)
            {
                lo = mid;
            }
            else
            {
                hi = mid - 1;
            }
        }

        return lo;
    }

    /// <summary>The index (into <see cref="Ranges"/>) of the first port of range <paramref name="rangeIndex"/> among the slice's ports.</summary>
    public int StartOf(int rangeIndex) => _starts[rangeIndex];

    /// <summary>
    /// A range index chosen at random with probability proportional to its size, so that load started at random
    /// spreads over the slice as a uniformly random port would.
    /// </summary>
    public int PickRange(Random random)
    {
        ArgumentNullException.ThrowIfNull(random);
        return _ranges.Length == 1 ? 0 : RangeIndexOfIndex(random.Next(Count));
    }

    /// <summary>The slice's ports that also lie in <paramref name="range"/>, or null when there are none.</summary>
    public PortSlice? Intersect(PortRange range)
    {
        var parts = new List<PortRange>();
        foreach (var r in _ranges)
        {
            if (r.Intersect(range) is { } part)
            {
                parts.Add(part);
            }
        }

        return parts.Count == 0 ? null : new PortSlice([.. parts]);
    }

    /// <summary>The ports of <see cref="Span"/> this slice does not own (the gaps between its ranges).</summary>
    public IReadOnlyList<PortRange> Gaps()
    {
        var gaps = new List<PortRange>(_ranges.Length - 1);
        for (var i = 1; i < _ranges.Length; i++)
        {
            gaps.Add(new PortRange((ushort)(_ranges[i - 1].High + 1), (ushort)(_ranges[i].Low - 1)));
        }

        return gaps;
    }

    /// <inheritdoc/>
    public bool Equals(PortSlice? other) => other is not null && _ranges.AsSpan().SequenceEqual(other._ranges);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is PortSlice other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode()
    {
        var hash = default(HashCode);
        foreach (var r in _ranges)
        {
            hash.Add(r);
        }

        return hash.ToHashCode();
    }

    /// <summary><c>LO-HI[,LO-HI…]</c>, the form <see cref="Parse"/> reads.</summary>
    public override string ToString()
    {
        if (_ranges.Length == 1)
        {
            return _ranges[0].ToString();
        }

        var sb = new StringBuilder();
        foreach (var r in _ranges)
        {
            if (sb.Length > 0)
            {
                sb.Append(',');
            }

            sb.Append(r.ToString());
        }

        return sb.ToString();
    }

    private int RangeIndexOfPort(int port)
    {
        int lo = 0, hi = _ranges.Length - 1;
        while (lo <= hi)
        {
            var mid = (lo + hi) / 2;
            var r = _ranges[mid];
            if (port < r.Low)
            {
                hi = mid - 1;
            }
            else if (port > r.High)
            {
                lo = mid + 1;
            }
            else
            {
                return mid;
            }
        }

        return -1;
    }
}
