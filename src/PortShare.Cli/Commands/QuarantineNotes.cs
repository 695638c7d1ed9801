using System.Globalization;
using PortShare.Planning;
using Spectre.Console;

namespace PortShare.Cli.Commands;

/// <summary>What is in quarantine and until when, one line each, for the commands that apply or show a plan.</summary>
internal static class QuarantineNotes
{
    /// <summary>At most this many lines: a fleet's compact re-plan moves a range of every slice.</summary>
    public const int MaxLines = 16;

    /// <summary>
    /// One <c>note:</c> line per quarantine (the first <see cref="MaxLines"/>, then how many more and the last end):
    /// to <paramref name="target"/> (default <see cref="CliConsole.Out"/>, with the result), or as plain lines on stderr
    /// when stdout carries machine output (<c>--json</c>, <c>--dry-run</c>, <c>plan slice</c>).
    /// <paramref name="command"/> names what to run after the quarantine instead of <c>router apply</c> / <c>host apply</c>.
    /// </summary>
    public static void Write(CliConsole console, IEnumerable<QuarantinedPorts> rows, DateTimeOffset now, bool toStderr, string? command = null, TextWriter? target = null)
    {
        var list = rows as IReadOnlyList<QuarantinedPorts> ?? [.. rows];
        var lines = list.Take(MaxLines).Select(q => q.Describe(now, command)).ToList();
        if (list.Count > MaxLines)
        {
            var last = QuarantinedPorts.FormatTime(list.Max(q => q.Until), now);
            lines.Add(string.Create(CultureInfo.InvariantCulture, $"… and {list.Count - MaxLines:N0} more moves in quarantine, the last until {last} ('plan show PLAN --json' lists them all)."));
        }

        foreach (var line in lines)
        {
            if (toStderr)
            {
                console.RawError.WriteLine($"note: {line}");
            }
            else if (target is not null)
            {
                target.WriteLine($"note: {line}");
            }
            else
            {
                console.Out.MarkupLine($"[yellow]note[/]: {line.EscapeMarkup()}");
            }
        }
    }
}
