using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using PortShare.Fleet;

namespace PortShare.IntegrationTests.Fleet;

/// <summary>
/// A real single-member etcd on 127.0.0.1, on free ports, with its data in a temporary directory: started by the test,
/// always killed and removed on dispose. Skips the test when the <c>etcd</c> binary (Debian's etcd-server) is missing.
/// </summary>
internal sealed class EtcdServer : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _dir;

    private EtcdServer(Process process, string dir, string url)
    {
        _process = process;
        _dir = dir;
        Url = url;
    }

    /// <summary>The client URL.</summary>
    public string Url { get; }

    public static async Task<EtcdServer> StartAsync()
    {
        var binary = new[] { "/usr/bin/etcd", "/usr/local/bin/etcd" }.FirstOrDefault(File.Exists);
        Assert.SkipWhen(binary is null, "needs the etcd binary (./setup.sh installs Debian's etcd-server)");
        var dir = Directory.CreateTempSubdirectory("portshare-etcd-").FullName;
        var client = FreePort();
        var peer = FreePort();
        var psi = new ProcessStartInfo(binary!)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[]
        {
            "--name", "t", "--data-dir", Path.Combine(dir, "data"),
            "--listen-client-urls", $"http://127.0.0.1:{client}", "--advertise-client-urls", $"http://127.0.0.1:{client}",
            "--listen-peer-urls", $"http://127.0.0.1:{peer}", "--initial-advertise-peer-urls", $"http://127.0.0.1:{peer}",
            "--initial-cluster", $"t=http://127.0.0.1:{peer}",
        })
        {
            psi.ArgumentList.Add(a);
        }

        var process = Process.Start(psi)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var server = new EtcdServer(process, dir, $"http://127.0.0.1:{client}");
        try
        {
            await server.WaitReadyAsync();
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>Freezes etcd (SIGSTOP): its sockets stay open and nothing answers, as when it is cut off without a reset.</summary>
    public void Pause() => Signal("-STOP");

    /// <summary>Lets a paused etcd run again (SIGCONT).</summary>
    public void Resume() => Signal("-CONT");

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }
        }
        finally
        {
            _process.Dispose();
            Directory.Delete(_dir, recursive: true);
        }
    }

    private async Task WaitReadyAsync()
    {
        using var fleet = new EtcdFleet(Url, "/readiness-probe/");
        for (var i = 0; ; i++)
        {
            Assert.False(_process.HasExited, "etcd exited at start");
            try
            {
                await fleet.StatusAsync(TestContext.Current.CancellationToken);
                return;
            }
            catch (FleetException ex) when (ex.Message.Contains("no pool", StringComparison.Ordinal))
            {
                return; // it answered
            }
            catch (FleetException) when (i < 100)
            {
                await Task.Delay(100, TestContext.Current.CancellationToken);
            }
        }
    }

    private void Signal(string signal) =>
        Infrastructure.Proc.Check("kill", signal, _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));

    private static int FreePort()
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)s.LocalEndPoint!).Port;
    }
}
