using PortShare.Planning;
using Spectre.Console;

namespace PortShare.Cli.Commands;

/// <summary>What is in quarantine and until when, one line each, for the commands that apply or show a plan.</summary>
internal static class QuarantineNotes
{
    /// <summary>
    /// One <c>note:</c> line per quarantine: with the result on <see cref="CliConsole.Out"/>, or on stderr when stdout
    /// carries machine output (<c>--json</c>, <c>--dry-run</c>, <c>plan slice</c>). <paramref name="command"/> names what
    /// to run after the quarantine instead of <c>router apply</c> / <c>host apply</c>.
    /// </summary>
    public static void Write(CliConsole console, IEnumerable<QuarantinedPorts> rows, DateTimeOffset now, bool toStderr, string? command = null)
    {
        foreach (var q in rows)
        {
            var line = q.Describe(now, command);
            if (toStderr)
            {
                console.RawError.WriteLine($"note: {line}");
            }
            else
            {
                console.Out.MarkupLine($"[yellow]note[/]: {line.EscapeMarkup()}");
            }
        }
    }
}
