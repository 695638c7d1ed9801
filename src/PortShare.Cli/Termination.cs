using System.Runtime.InteropServices;

namespace PortShare.Cli;

/// <summary>
/// Ctrl-C (SIGINT) and SIGTERM cancel the running command's token; the command then has <c>timeout</c> to clean up
/// (a lab removing its namespaces, the agent draining) before the process exits with 130 (SIGINT) or 143 (SIGTERM). A
/// second signal exits at once. The token is cancelled on a thread of its own and a callback that throws is ignored,
/// so that nothing registered on it can end the command before its cleanup has run (System.CommandLine's own handler
/// completes the invocation early when a cancellation callback throws).
/// </summary>
internal sealed class Termination : IDisposable
{
    private readonly CancellationTokenSource _cts = new();
    private readonly TimeSpan _timeout;
    private readonly PosixSignalRegistration _sigint;
    private readonly PosixSignalRegistration _sigterm;
    private int _signals;

    public Termination(TimeSpan timeout)
    {
        _timeout = timeout;
        _sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        _sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
    }

    /// <summary>Cancelled by the first SIGINT or SIGTERM.</summary>
    public CancellationToken Token => _cts.Token;

    public void Dispose()
    {
        _sigint.Dispose();
        _sigterm.Dispose();
        _cts.Dispose();
    }

    private void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true;
        var code = context.Signal == PosixSignal.SIGINT ? ExitCodes.Interrupted : ExitCodes.Terminated;
        if (Interlocked.Increment(ref _signals) > 1)
        {
            Environment.Exit(code);
        }

        ThreadPool.UnsafeQueueUserWorkItem(
            _ =>
            {
                try
                {
                    _cts.Cancel();
                }
                catch (AggregateException)
                {
                    // A callback on the token failed: the command still sees the cancellation and cleans up.
                }
                catch (ObjectDisposedException)
                {
                    // The command had already finished.
                }
            },
            null);
        _ = Task.Delay(_timeout).ContinueWith(_ => Environment.Exit(code), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
    }
}
