using Spectre.Console;

namespace PortShare.Cli;

/// <summary>
/// Where a command writes: <see cref="Out"/> for results (tables, or JSON only with <c>--json</c>),
/// <see cref="Error"/> for diagnostics. Tests pass Spectre's TestConsole or string writers.
/// </summary>
internal sealed class CliConsole
{
    public CliConsole(IAnsiConsole output, IAnsiConsole error, TextWriter rawOutput, TextWriter rawError)
    {
        Out = output;
        Error = error;
        RawOut = rawOutput;
        RawError = rawError;
    }

    public IAnsiConsole Out { get; }

    public IAnsiConsole Error { get; }

    /// <summary>Plain stdout for machine output (JSON lines), never decorated.</summary>
    public TextWriter RawOut { get; }

    /// <summary>Plain stderr: errors are one unwrapped line each, whatever the terminal width.</summary>
    public TextWriter RawError { get; }

    /// <summary><c>--verbose</c> (or <c>PORTSHARE_DEBUG=1</c>): errors also print their stack trace.</summary>
    public bool Verbose { get; set; } = Environment.GetEnvironmentVariable("PORTSHARE_DEBUG") == "1";

    public static CliConsole CreateDefault()
    {
        var stdout = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Out) });
        var stderr = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        return new CliConsole(stdout, stderr, Console.Out, Console.Error);
    }

    /// <summary>One clear line on stderr: <c>error: …</c>.</summary>
    public void WriteError(string message) => RawError.WriteLine($"error: {OneLine(message)}");

    public void WriteWarning(string message) => RawError.WriteLine($"warning: {OneLine(message)}");

    private static string OneLine(string message) => message.ReplaceLineEndings(" ").Trim();
}
