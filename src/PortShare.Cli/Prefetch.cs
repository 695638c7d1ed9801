using PortShare.Planning;

namespace PortShare.Cli;

/// <summary>
/// <c>plan update</c>'s previous plan, read on a pool thread while the command starts (the console, the command line:
/// a few tens of milliseconds on one core), from the raw arguments, before they are parsed. The command takes it only
/// for the same file (<see cref="LoadPrevious"/>) and otherwise reads as usual; an error surfaces where the command
/// reads, as it would have there. A fleet's previous plan (5 MB) is a quarter of the command: BENCHMARKS.md,
/// "fleet-size commands". <c>PORTSHARE_NO_WARMUP=1</c> leaves it out.
/// </summary>
internal static class Prefetch
{
    private static Started? s_previous;

    /// <summary>Starts reading the previous plan of <c>plan update … --previous PLAN</c> (or <c>-p PLAN</c>,
    /// <c>--previous=PLAN</c>) when it names a file; true when it did. Called by the process's entry point.</summary>
    public static bool Start(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        if (args is not ["plan", "update", ..] || PreviousOf(args) is not { } path || !File.Exists(path))
        {
            return false;
        }

        s_previous = new Started(Path.GetFullPath(path), Task.Run(() => PlanFile.Load(path)));
        return true;
    }

    /// <summary>The plan at <paramref name="path"/>: the one read while the command started when it is that file, else
    /// read now (<see cref="PlanFile.Load"/>).</summary>
    public static Plan LoadPrevious(string path)
    {
        var started = Interlocked.Exchange(ref s_previous, null);
        return started is not null && string.Equals(started.Path, Path.GetFullPath(path), StringComparison.Ordinal)
            ? started.Plan.GetAwaiter().GetResult()
            : PlanFile.Load(path);
    }

    // The option's value as the parser will read it; null where the arguments are anything less plain (a response file,
    // the value missing): the command then reads the file itself.
    internal static string? PreviousOf(string[] args)
    {
        string? found = null;
        for (var i = 2; i < args.Length; i++)
        {
            var a = args[i];
            if (a == "--" || a.StartsWith('@'))
            {
                return a == "--" ? found : null;
            }

            if (a is "--previous" or "-p")
            {
                found = i + 1 < args.Length ? args[++i] : null;
            }
            else if (a.StartsWith("--previous=", StringComparison.Ordinal) || a.StartsWith("--previous:", StringComparison.Ordinal))
            {
                found = a["--previous=".Length..];
            }
        }

        return string.IsNullOrEmpty(found) || found.StartsWith('-') ? null : found;
    }

    private sealed record Started(string Path, Task<Plan> Plan);
}
