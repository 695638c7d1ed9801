using System.Diagnostics;
using System.Globalization;
using PortShare.Routing;

namespace PortShare.Cli.Bench;

/// <summary>
/// A throw-away network namespace (loopback up, given port range). A benchmark re-runs the CLI inside it with
/// <c>ip netns exec</c>, so the measured process makes its sockets natively there. Always deleted on dispose.
/// </summary>
internal sealed class ScratchNamespace : IDisposable
{
    private ScratchNamespace(string name) => Name = name;

    public string Name { get; }

    public static ScratchNamespace Create(string prefix, PortRange portRange)
    {
        var name = string.Create(CultureInfo.InvariantCulture, $"{prefix}-{Environment.ProcessId}-{Random.Shared.Next(100_000)}");
        Run("ip", "netns", "add", name);
        try
        {
            Run("ip", "-n", name, "link", "set", "lo", "up");
            Run("ip", "netns", "exec", name, "sysctl", "-q", "-w", $"net.ipv4.ip_local_port_range={portRange.Low} {portRange.High}");
            Run("ip", "netns", "exec", name, "sysctl", "-q", "-w", "net.core.somaxconn=65535");
            return new ScratchNamespace(name);
        }
        catch
        {
            Run("ip", "netns", "del", name);
            throw;
        }
    }

    /// <summary>Runs this same CLI with <paramref name="args"/> inside the namespace, sharing stdout and stderr.</summary>
    public int RunSelf(IEnumerable<string> args)
    {
        var self = Environment.ProcessPath ?? throw new PortShareException("Cannot find the running executable to re-run it in the namespace.");
        var psi = new ProcessStartInfo("ip") { UseShellExecute = false };
        foreach (var a in (string[])["netns", "exec", Name, self])
        {
            psi.ArgumentList.Add(a);
        }

        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            // Started as 'dotnet PortShare.Cli.dll': pass the assembly on.
            psi.ArgumentList.Add(typeof(ScratchNamespace).Assembly.Location);
        }

        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi) ?? throw new PortShareException("Cannot run 'ip netns exec'.");
        p.WaitForExit();
        return p.ExitCode;
    }

    public void Dispose() => Run("ip", "netns", "del", Name);

    private static void Run(string file, params string[] args)
    {
        var r = ProcessToolRunner.Instance.Run(file, args);
        if (r.ExitCode != 0)
        {
            throw new PortShareException($"'{file} {string.Join(' ', args)}' failed: {r.StdErr.Trim()}");
        }
    }
}
