using PortShare.Cli;
using Spectre.Console;

namespace PortShare.IntegrationTests.Infrastructure;

/// <summary>Runs the <c>portshare</c> command tree in-process, or the built CLI as a process inside a namespace.</summary>
internal static class CliRunner
{
    public sealed record Result(int ExitCode, string StdOut, string StdErr);

    public static async Task<Result> RunInProcessAsync(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var outConsole = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(stdout), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors });
        var errConsole = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(stderr), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors });
        var code = await CliApp.RunAsync(args, new CliConsole(outConsole, errConsole, stdout, stderr));
        return new Result(code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>Runs the built CLI (<c>dotnet PortShare.Cli.dll</c>) inside network namespace <paramref name="netns"/>.</summary>
    public static Result RunInNamespace(string netns, IReadOnlyDictionary<string, string>? env, params string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "PortShare.Cli.dll");
        var prefix = new List<string> { "netns", "exec", netns };
        if (env is not null)
        {
            prefix.Add("env");
            prefix.AddRange(env.Select(kv => $"{kv.Key}={kv.Value}"));
        }

        var r = Proc.Run("ip", [.. prefix, "dotnet", dll, .. args]);
        return new Result(r.ExitCode, r.StdOut, r.StdErr);
    }
}
