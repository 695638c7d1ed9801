namespace PortShare.Cli;

/// <summary>Process exit codes of <c>portshare</c>.</summary>
internal static class ExitCodes
{
    public const int Success = 0;

    /// <summary>The command ran and failed (exhausted slice, kernel error, bad file contents, …).</summary>
    public const int Failure = 1;

    /// <summary>The command line itself is wrong (unknown option, bad value).</summary>
    public const int Usage = 2;

    /// <summary>Ctrl-C (SIGINT) and the command did not finish its cleanup in time (128 + 2).</summary>
    public const int Interrupted = 130;

    /// <summary>SIGTERM and the command did not finish its cleanup in time (128 + 15).</summary>
    public const int Terminated = 143;
}
