using PortShare.Routing;

namespace PortShare.IntegrationTests.Infrastructure;

/// <summary>Runs a program with an argument array (never a shell string) through the product's tool runner.</summary>
internal static class Proc
{
    // The CLI runs under `ip netns exec` in some tests (benchmark smokes included): allow more than the tools' minute.
    private static readonly ProcessToolRunner s_runner = new(TimeSpan.FromMinutes(3));

    public sealed record Result(int ExitCode, string StdOut, string StdErr);

    public static Result Run(string file, params string[] args) => RunWithInput(file, null, args);

    public static Result RunWithInput(string file, string? stdin, params string[] args)
    {
        var r = s_runner.Run(file, args, stdin);
        return new Result(r.ExitCode, r.StdOut, r.StdErr);
    }

    /// <summary>Runs and throws with stderr when the exit code is not 0.</summary>
    public static string Check(string file, params string[] args)
    {
        var r = Run(file, args);
        if (r.ExitCode != 0)
        {
            throw new InvalidOperationException($"'{file} {string.Join(' ', args)}' exited {r.ExitCode}: {r.StdErr.Trim()}");
        }

        return r.StdOut;
    }
}
