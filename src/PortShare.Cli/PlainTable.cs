using Spectre.Console;

namespace PortShare.Cli;

/// <summary>
/// A titled table with a rounded border and a closing line, written as Spectre.Console writes it, but straight to the
/// text output when Spectre would only produce plain text (no colour, Unicode, nothing to wrap): a first Spectre table
/// costs a command's process more start-up time than its work (<c>connect</c>). Otherwise Spectre draws it.
/// Every cell, the title and the closing line are plain text (no markup). Tests compare both ways of writing.
/// </summary>
internal sealed class PlainTable
{
    private readonly string[] _headers;
    private readonly List<string[]> _rows = [];

    public PlainTable(string title, params string[] headers)
    {
        Title = title;
        _headers = headers;
    }

    public string Title { get; }

    public int RowCount => _rows.Count;

    public void AddRow(params string[] cells) => _rows.Add(cells);

    /// <summary>
    /// Writes the table, then (when given) a closing line of <paramref name="green"/> (shown green where colours show)
    /// and <paramref name="rest"/>, both plain text.
    /// </summary>
    public void Write(CliConsole console, string? green = null, string rest = "")
    {
        var profile = console.Out.Profile;
        var closing = green is null ? null : green + rest;
        if (profile.Capabilities.Ansi || !profile.Capabilities.Unicode || !TryRender(profile.Width, closing, out var text))
        {
            WriteSpectre(console.Out, green, rest);
            return;
        }

        console.RawOut.Write(text);
    }

    /// <summary>Through Spectre (colours, wrapping, ASCII borders): what <see cref="TryRender"/> must equal where it renders.</summary>
    internal void WriteSpectre(IAnsiConsole console, string? green, string rest)
    {
        var table = new Table { Title = new TableTitle(Title.EscapeMarkup()) }.Border(TableBorder.Rounded);
        foreach (var header in _headers)
        {
            table.AddColumn(header.EscapeMarkup());
        }

        foreach (var row in _rows)
        {
            table.AddRow(Array.ConvertAll(row, c => c.EscapeMarkup()));
        }

        console.Write(table);
        if (green is not null)
        {
            console.MarkupLine($"[green]{green.EscapeMarkup()}[/]{rest.EscapeMarkup()}");
        }
    }

    /// <summary>The text Spectre writes for the table at console width <paramref name="width"/> without colours; false where it would do more than lay out plain ASCII text (wrap a cell or the closing line, split a title word, draw wide or control characters).</summary>
    internal bool TryRender(int width, string? closing, out string text)
    {
        text = string.Empty;
        var widths = new int[_headers.Length];
        for (var c = 0; c < widths.Length; c++)
        {
            widths[c] = _headers[c].Length;
            foreach (var row in _rows)
            {
                if (row.Length != widths.Length)
                {
                    return false;
                }

                widths[c] = Math.Max(widths[c], row[c].Length);
            }
        }

        // Each column has one space of padding either side, and a border before each column and after the last.
        var tableWidth = widths.Length + 1;
        foreach (var w in widths)
        {
            tableWidth += w + 2;
        }

        if (tableWidth > width || !IsPlain(Title) || (closing is not null && (closing.Length > width || !IsPlain(closing)))
            || Array.Exists(_headers, h => !IsPlain(h)) || _rows.Exists(r => Array.Exists(r, c => !IsPlain(c))))
        {
            return false;
        }

        var title = WrapCentered(Title, tableWidth);
        if (title is null)
        {
            return false;
        }

        var b = new System.Text.StringBuilder(title.Length + ((_rows.Count + 4) * (tableWidth + 1)) + (closing?.Length ?? 0) + 1);
        b.Append(title);
        Border(b, '╭', '┬', '╮', widths);
        Row(b, _headers, widths);
        if (_rows.Count > 0)
        {
            Border(b, '├', '┼', '┤', widths);
        }

        foreach (var row in _rows)
        {
            Row(b, row, widths);
        }

        Border(b, '╰', '┴', '╯', widths);
        if (closing is not null)
        {
            b.Append(closing).Append('\n');
        }

        text = b.ToString();
        return true;
    }

    // Printable ASCII only: one column per character, nothing Spectre would escape, fold or measure otherwise.
    private static bool IsPlain(string s)
    {
        foreach (var ch in s)
        {
            if (ch is < ' ' or > '~')
            {
                return false;
            }
        }

        return true;
    }

    // Spectre's centred paragraph: words fill a line while they fit (a space after a word stays on its line), each line
    // centred with the odd column on the right. Null where Spectre would split a word or drop spaces.
    private static string? WrapCentered(string text, int width)
    {
        var b = new System.Text.StringBuilder();
        var line = new System.Text.StringBuilder();
        var i = 0;
        while (i < text.Length)
        {
            var start = i;
            var space = text[i] == ' ';
            while (i < text.Length && (text[i] == ' ') == space)
            {
                i++;
            }

            var token = text[start..i];
            if (line.Length + token.Length > width)
            {
                if (line.Length == 0 || token.Length > width)
                {
                    return null;
                }

                Center(b, line.ToString(), width);
                line.Clear();
                if (space)
                {
                    // A space that does not fit ends the line and is dropped.
                    continue;
                }
            }

            line.Append(token);
        }

        Center(b, line.ToString(), width);
        return b.ToString();
    }

    private static void Center(System.Text.StringBuilder b, string line, int width)
    {
        var pad = width - line.Length;
        b.Append(' ', pad / 2).Append(line).Append(' ', pad - (pad / 2)).Append('\n');
    }

    private static void Border(System.Text.StringBuilder b, char left, char middle, char right, int[] widths)
    {
        b.Append(left);
        for (var c = 0; c < widths.Length; c++)
        {
            b.Append('─', widths[c] + 2).Append(c + 1 < widths.Length ? middle : right);
        }

        b.Append('\n');
    }

    private static void Row(System.Text.StringBuilder b, string[] cells, int[] widths)
    {
        b.Append('│');
        for (var c = 0; c < widths.Length; c++)
        {
            b.Append(' ').Append(cells[c]).Append(' ', widths[c] - cells[c].Length + 1).Append('│');
        }

        b.Append('\n');
    }
}
