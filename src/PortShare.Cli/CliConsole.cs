using Spectre.Console;

namespace PortShare.Cli;

/// <summary>
/// Where a command writes: <see cref="Out"/> for results (tables, or JSON only with <c>--json</c>),
/// <see cref="Error"/> for diagnostics. Tests pass Spectre's TestConsole or string writers.
/// </summary>
internal sealed class CliConsole
{
    private readonly Lazy<IAnsiConsole> _out;
    private readonly Lazy<IAnsiConsole> _error;

    public CliConsole(IAnsiConsole output, IAnsiConsole error, TextWriter rawOutput, TextWriter rawError)
        : this(new Lazy<IAnsiConsole>(output), new Lazy<IAnsiConsole>(error), rawOutput, rawError)
    {
    }

    private CliConsole(Lazy<IAnsiConsole> output, Lazy<IAnsiConsole> error, TextWriter rawOutput, TextWriter rawError)
    {
        _out = output;
        _error = error;
        RawOut = rawOutput;
        RawError = rawError;
    }

    public IAnsiConsole Out => _out.Value;

    public IAnsiConsole Error => _error.Value;

    /// <summary>Plain stdout for machine output (JSON lines), never decorated.</summary>
    public TextWriter RawOut { get; }

    /// <summary>Plain stderr: errors are one unwrapped line each, whatever the terminal width.</summary>
    public TextWriter RawError { get; }

    /// <summary>The clock commands read "now" from (which ports are in quarantine): the system's, or a test's.</summary>
    public TimeProvider Clock { get; init; } = TimeProvider.System;

    /// <summary>Now, from <see cref="Clock"/>.</summary>
    public DateTimeOffset Now => Clock.GetUtcNow();

    /// <summary><c>--verbose</c> (or <c>PORTSHARE_DEBUG=1</c>): errors also print their stack trace.</summary>
    public bool Verbose { get; set; } = Environment.GetEnvironmentVariable("PORTSHARE_DEBUG") == "1";

    /// <summary>The process's consoles. Spectre's are made on first use: detecting the terminal costs start-up time
    /// that commands printing only plain lines (JSON, <c>plan slice</c>, errors) need not pay.</summary>
    public static CliConsole CreateDefault() => new(
        new Lazy<IAnsiConsole>(() => AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Out) })),
        new Lazy<IAnsiConsole>(() => AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) })),
        Console.Out,
        Console.Error);

    /// <summary>One clear line on stderr: <c>error: …</c>.</summary>
    public void WriteError(string message) => RawError.WriteLine($"error: {OneLine(message)}");

    public void WriteWarning(string message) => RawError.WriteLine($"warning: {OneLine(message)}");

    private static string OneLine(string message) => message.ReplaceLineEndings(" ").Trim();
}
