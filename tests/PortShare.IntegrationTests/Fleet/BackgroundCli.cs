using System.Diagnostics;
using System.Globalization;
using PortShare.IntegrationTests.Infrastructure;

namespace PortShare.IntegrationTests.Fleet;

/// <summary>
/// The built CLI (<c>dotnet PortShare.Cli.dll …</c>) running in the background, as a service runs it: its stderr lines
/// are collected, <see cref="StopAsync"/> sends SIGTERM as systemd does, and dispose makes sure it is gone.
/// </summary>
internal sealed class BackgroundCli : IAsyncDisposable
{
    private readonly Process _process;
    private readonly List<string> _lines = [];
    private readonly SemaphoreSlim _changed = new(0);

    private BackgroundCli(Process process) => _process = process;

    /// <summary>Every stderr line so far.</summary>
    public string StdErr
    {
        get
        {
            lock (_lines)
            {
                return string.Join('\n', _lines);
            }
        }
    }

    public bool HasExited => _process.HasExited;

    public static BackgroundCli Start(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "PortShare.Cli.dll"));
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        var cli = new BackgroundCli(Process.Start(start)!);
        cli._process.OutputDataReceived += (_, _) => { };
        cli._process.ErrorDataReceived += (_, e) =>
        {
            lock (cli._lines)
            {
                cli._lines.Add(e.Data ?? string.Empty);
            }

            cli._changed.Release();
        };
        cli._process.BeginOutputReadLine();
        cli._process.BeginErrorReadLine();
        return cli;
    }

    /// <summary>Waits for a stderr line containing <paramref name="text"/>; fails with the stderr so far if the process ends or time runs out.</summary>
    public async Task<string> WaitForLineAsync(string text, int seconds = 30)
    {
        var until = Stopwatch.GetTimestamp() + (seconds * Stopwatch.Frequency);
        while (true)
        {
            // After an exit, WaitForExit() returns once every line has been read: look a last time, then fail.
            var exited = _process.HasExited && _process.WaitForExit(5000);
            lock (_lines)
            {
                if (_lines.FirstOrDefault(l => l.Contains(text, StringComparison.Ordinal)) is { } line)
                {
                    return line;
                }
            }

            Assert.False(exited, $"exited {(exited ? _process.ExitCode : 0)} before writing '{text}': {StdErr}");
            Assert.True(Stopwatch.GetTimestamp() < until, $"no '{text}' within {seconds} s: {StdErr}");
            await _changed.WaitAsync(TimeSpan.FromMilliseconds(200), TestContext.Current.CancellationToken);
        }
    }

    /// <summary>SIGTERM, then waits for the exit and returns its code.</summary>
    public async Task<int> StopAsync(int seconds = 60)
    {
        if (!_process.HasExited)
        {
            Proc.Run("kill", "-TERM", _process.Id.ToString(CultureInfo.InvariantCulture));
        }

        using var limit = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        limit.CancelAfter(TimeSpan.FromSeconds(seconds));
        await _process.WaitForExitAsync(limit.Token);
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                try
                {
                    await StopAsync(20);
                }
                catch (OperationCanceledException)
                {
                    _process.Kill(entireProcessTree: true);
                    await _process.WaitForExitAsync(CancellationToken.None);
                }
            }
        }
        finally
        {
            _process.Dispose();
            _changed.Dispose();
        }
    }
}
