using System.Net.Sockets;

namespace PortShare.Cli;

/// <summary>
/// The one way a command's action runs: PortShare's own user-facing failures (a <see cref="PortShareException"/>, a
/// <see cref="UsageException"/>, and what the operating system refuses: sockets, files) become one line on stderr and an
/// exit code — never a stack trace for a user's mistake or a kernel refusal. Anything else is a bug in portshare and
/// says so; <c>--verbose</c> prints the stack of either.
/// </summary>
internal static class CommandRunner
{
    public static Task<int> RunAsync(CliConsole console, Func<Task<int>> action) => RunAsync(console, action, CancellationToken.None);

    /// <summary>
    /// As <see cref="RunAsync(CliConsole, Func{Task{int}})"/>; once <paramref name="cancellationToken"/> fired (Ctrl-C),
    /// any failure is reported as the interruption it is (a tool killed by the same signal fails too).
    /// </summary>
    public static async Task<int> RunAsync(CliConsole console, Func<Task<int>> action, CancellationToken cancellationToken)
    {
        try
        {
            return await action().ConfigureAwait(false);
        }
        catch (Exception ex) when (cancellationToken.IsCancellationRequested && ex is not OperationCanceledException)
        {
            console.WriteError($"interrupted; what was set up has been removed (last step: {ex.Message.ReplaceLineEndings(" ")})");
            return ExitCodes.Failure;
        }
        catch (UsageException ex)
        {
            console.WriteError(ex.Message);
            return ExitCodes.Usage;
        }
        catch (OperationCanceledException)
        {
            console.WriteError("cancelled.");
            return ExitCodes.Failure;
        }
        catch (Exception ex) when (IsExpected(ex))
        {
            console.WriteError(ex.Message);
            WriteStack(console, ex);
            return ExitCodes.Failure;
        }
#pragma warning disable CA1031 // The CLI's last line of defence: a bug still ends as a clear line, not an unhandled crash.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            console.WriteError($"unexpected {ex.GetType().Name}: {ex.Message} (this is a bug in portshare; run again with --verbose for the stack trace and report it)");
            WriteStack(console, ex);
            return ExitCodes.Failure;
        }
    }

    private static void WriteStack(CliConsole console, Exception ex)
    {
        if (console.Verbose)
        {
            console.RawError.WriteLine(ex.ToString());
        }
    }

    private static bool IsExpected(Exception ex) => ex is PortShareException
        or SocketException
        or IOException
        or UnauthorizedAccessException
        or System.ComponentModel.Win32Exception;
}

/// <summary>A wrong command line detected after parsing (e.g. a value that parses but makes no sense): exit code 2.</summary>
internal sealed class UsageException : Exception
{
    public UsageException(string message)
        : base(message)
    {
    }

    public UsageException()
    {
    }

    public UsageException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
