namespace PortShare.Lab;

/// <summary>
/// Samples a <see cref="FleetLab"/> every 250 ms until stopped (see <see cref="FleetLab.SampleAsync"/>) and collects
/// every problem seen: two hosts serving one port, a host serving against etcd, the router disagreeing with etcd for
/// longer than the lag limit.
/// </summary>
public sealed class FleetChecker : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task<List<string>> _run;
    private int _samples;

    private FleetChecker(FleetLab lab, TimeSpan lagLimit)
    {
        _run = Task.Run(async () =>
        {
            var problems = new List<string>();
            while (!_stop.IsCancellationRequested)
            {
                try
                {
                    problems.AddRange((await lab.SampleAsync(lagLimit, _stop.Token).ConfigureAwait(false)).Problems);
                    Interlocked.Increment(ref _samples);
                    await Task.Delay(250, _stop.Token).ConfigureAwait(false);
                }
                catch (Fleet.FleetException)
                {
                    // etcd busy electing a leader: the next sample tells.
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }

            return problems.Distinct().Take(20).ToList();
        });
    }

    /// <summary>Samples taken so far.</summary>
    public int Samples => Volatile.Read(ref _samples);

    /// <summary>Starts sampling.</summary>
    public static FleetChecker Start(FleetLab lab, TimeSpan? lagLimit = null) => new(lab, lagLimit ?? TimeSpan.FromSeconds(3));

    /// <summary>Stops sampling and returns the problems seen (at most 20 distinct ones).</summary>
    public async Task<List<string>> StopAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        return await _run.ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (!_stop.IsCancellationRequested)
        {
            await StopAsync().ConfigureAwait(false);
        }

        _stop.Dispose();
    }
}
