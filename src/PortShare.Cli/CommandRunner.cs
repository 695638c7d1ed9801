using System.Net.Sockets;

namespace PortShare.Cli;

/// <summary>
/// Runs a command's action and turns every expected failure into one line on stderr and an exit code:
/// the CLI never shows a stack trace for a user's mistake or a kernel refusal.
/// </summary>
internal static class CommandRunner
{
    public static async Task<int> RunAsync(CliConsole console, Func<Task<int>> action)
    {
        try
        {
            return await action().ConfigureAwait(false);
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
            console.WriteError(Debug ? ex.ToString() : ex.Message);
            return ExitCodes.Failure;
        }
#pragma warning disable CA1031 // The CLI's last line of defence: a bug still ends as one line, not a stack trace.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            console.WriteError(Debug
                ? ex.ToString()
                : $"unexpected {ex.GetType().Name}: {ex.Message} (this is a bug in portshare; run with PORTSHARE_DEBUG=1 for details and report it)");
            return ExitCodes.Failure;
        }
    }

    private static bool Debug => Environment.GetEnvironmentVariable("PORTSHARE_DEBUG") == "1";

    private static bool IsExpected(Exception ex) => ex is PortShareException
        or SocketException
        or FormatException
        or IOException
        or UnauthorizedAccessException
        or InvalidOperationException
        or ArgumentException
        or System.Text.Json.JsonException
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
