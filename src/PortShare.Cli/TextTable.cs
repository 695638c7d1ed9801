using System.Text;

namespace PortShare.Cli;

/// <summary>
/// A table written as plain text, in the rounded box style of the CLI's Spectre tables, for the commands that must
/// answer fast (<c>plan new|update|show|validate</c> on a fleet's plan, <c>connect</c>): a first Spectre table costs a
/// fresh process 50-100 ms of measuring and layout (BENCHMARKS.md, "fleet-size commands"), this a fraction of a
/// millisecond. Columns
/// are as wide as their widest cell and never wrap (a script or a wide terminal reads whole values); a cell may hold
/// several lines.
/// </summary>
internal sealed class TextTable
{
    // Headers and alignments apart, not a list of tuples: LINQ and List over a tuple of a string and a bool are framework
    // generics the ReadyToRun image does not hold, compiled at run time by every process's first table.
    private readonly List<string> _headers = [];
    private readonly List<bool> _right = [];
    private readonly List<string[]> _rows = [];

    /// <summary>A line centred above the table.</summary>
    public string? Title { get; init; }

    public TextTable Column(string header, bool right = false)
    {
        _headers.Add(header);
        _right.Add(right);
        return this;
    }

    public TextTable Row(params string[] cells)
    {
        ArgumentNullException.ThrowIfNull(cells);
        if (cells.Length != _headers.Count)
        {
            throw new ArgumentException($"a row of {cells.Length} cells in a table of {_headers.Count} columns", nameof(cells));
        }

        _rows.Add(cells);
        return this;
    }

    public int RowCount => _rows.Count;

    public override string ToString()
    {
        var widths = new int[_headers.Count];
        for (var c = 0; c < _headers.Count; c++)
        {
            widths[c] = _headers[c].Length;
            foreach (var row in _rows)
            {
                foreach (var line in row[c].Split('\n'))
                {
                    widths[c] = Math.Max(widths[c], line.Length);
                }
            }
        }

        var text = new StringBuilder();
        var total = widths.Sum() + (3 * widths.Length) + 1;
        if (Title is { } title)
        {
            text.Append(' ', Math.Max(0, (total - title.Length) / 2)).Append(title).Append('\n');
        }

        Rule(text, widths, '╭', '┬', '╮');
        Line(text, widths, [.. _headers]);
        Rule(text, widths, '├', '┼', '┤');
        foreach (var row in _rows)
        {
            Line(text, widths, row);
        }

        Rule(text, widths, '╰', '┴', '╯');
        return text.ToString();
    }

    public void WriteTo(TextWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.Write(ToString());
    }

    private static void Rule(StringBuilder text, int[] widths, char left, char middle, char right)
    {
        text.Append(left);
        for (var c = 0; c < widths.Length; c++)
        {
            text.Append('─', widths[c] + 2).Append(c < widths.Length - 1 ? middle : right);
        }

        text.Append('\n');
    }

    private void Line(StringBuilder text, int[] widths, string[] cells)
    {
        var lines = cells.Select(c => c.Split('\n')).ToArray();
        var height = lines.Max(l => l.Length);
        for (var y = 0; y < height; y++)
        {
            text.Append('│');
            for (var c = 0; c < widths.Length; c++)
            {
                var cell = y < lines[c].Length ? lines[c][y] : string.Empty;
                var pad = widths[c] - cell.Length;
                text.Append(' ');
                if (_right[c])
                {
                    text.Append(' ', pad).Append(cell);
                }
                else
                {
                    text.Append(cell).Append(' ', pad);
                }

                text.Append(" │");
            }

            text.Append('\n');
        }
    }
}
