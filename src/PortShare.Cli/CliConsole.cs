using Spectre.Console;

namespace PortShare.Cli;

/// <summary>
/// Where a command writes: <see cref="Out"/> for results (tables, or JSON only with <c>--json</c>),
/// <see cref="Error"/> for diagnostics. Tests pass Spectre's TestConsole or string writers.
/// </summary>
internal sealed class CliConsole
{
    public CliConsole(IAnsiConsole output, IAnsiConsole error, TextWriter rawOutput)
    {
        Out = output;
        Error = error;
        RawOut = rawOutput;
    }

    public IAnsiConsole Out { get; }

    public IAnsiConsole Error { get; }

    /// <summary>Plain stdout for machine output (JSON lines), never decorated.</summary>
    public TextWriter RawOut { get; }

    public static CliConsole CreateDefault()
    {
        var stdout = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Out) });
        var stderr = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        return new CliConsole(stdout, stderr, Console.Out);
    }

    /// <summary>One clear line on stderr: <c>error: …</c>.</summary>
    public void WriteError(string message) =>
        Error.MarkupLine($"[red]error:[/] {message.EscapeMarkup()}");

    public void WriteWarning(string message) =>
        Error.MarkupLine($"[yellow]warning:[/] {message.EscapeMarkup()}");
}
