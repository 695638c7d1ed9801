using System.ComponentModel;
using System.Diagnostics;
using System.Text.RegularExpressions;

namespace PortShare.Routing;

/// <summary>What a finished tool run returned.</summary>
/// <param name="ExitCode">The process exit code.</param>
/// <param name="StdOut">Its standard output.</param>
/// <param name="StdErr">Its standard error.</param>
public sealed record ToolResult(int ExitCode, string StdOut, string StdErr);

/// <summary>Runs external tools with argument arrays (never a shell string) and an optional stdin script.</summary>
public interface IToolRunner
{
    /// <summary>Runs <paramref name="file"/> with <paramref name="args"/>, feeding <paramref name="stdin"/> when not null.</summary>
    ToolResult Run(string file, IReadOnlyList<string> args, string? stdin = null);
}

/// <summary>Starts real processes.</summary>
public sealed class ProcessToolRunner : IToolRunner
{
    /// <summary>The shared instance.</summary>
    public static readonly ProcessToolRunner Instance = new();

    private readonly TimeSpan _timeout;

    /// <summary>A runner that kills a tool still running after <paramref name="timeout"/> (default one minute).</summary>
    public ProcessToolRunner(TimeSpan? timeout = null) => _timeout = timeout ?? TimeSpan.FromMinutes(1);

    /// <inheritdoc/>
    public ToolResult Run(string file, IReadOnlyList<string> args, string? stdin = null)
    {
        ArgumentNullException.ThrowIfNull(args);
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        Process p;
        try
        {
            p = Process.Start(psi) ?? throw new RoutingException($"Could not start '{file}'.");
        }
        catch (Win32Exception ex)
        {
            throw new RoutingException($"'{file}' is not installed or not on PATH ({ex.Message}). Run ./setup.sh as root (installs iproute2, nftables, conntrack).", ex);
        }

        using (p)
        {
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            if (stdin is not null)
            {
                p.StandardInput.Write(stdin);
            }

            p.StandardInput.Close();
            if (!p.WaitForExit(_timeout))
            {
                p.Kill(entireProcessTree: true);
                throw new RoutingException($"'{file} {string.Join(' ', args)}' did not finish within {_timeout.TotalSeconds:0} s.");
            }

            return new ToolResult(p.ExitCode, stdout.GetAwaiter().GetResult(), stderr.GetAwaiter().GetResult());
        }
    }
}

/// <summary>
/// Runs <c>ip</c> and <c>nft</c> in one network namespace (the current one when <see cref="Netns"/> is null):
/// <c>ip -n NS …</c> and <c>ip netns exec NS nft …</c>.
/// </summary>
public sealed partial class NetTools
{
    /// <summary>Creates the tool set for a namespace (null = the current one).</summary>
    public NetTools(string? netns = null, IToolRunner? runner = null)
    {
        if (netns is not null && !IsValidNetnsName(netns))
        {
            throw new ArgumentException($"Network namespace name '{netns}' is invalid: use letters, digits, '.', '_' or '-' (at most 63).", nameof(netns));
        }

        Netns = netns;
        Runner = runner ?? ProcessToolRunner.Instance;
    }

    /// <summary>The namespace, or null for the current one.</summary>
    public string? Netns { get; }

    /// <summary>The process runner.</summary>
    public IToolRunner Runner { get; }

    /// <summary>True when <paramref name="name"/> is safe as a namespace name.</summary>
    public static bool IsValidNetnsName(string name) => NetnsName().IsMatch(name);

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$", RegexOptions.CultureInvariant)]
    private static partial Regex NetnsName();

    /// <summary>Runs <c>ip ARGS</c> in the namespace.</summary>
    public ToolResult Ip(IReadOnlyList<string> args, string? stdin = null) =>
        Runner.Run("ip", Netns is null ? args : ["-n", Netns, .. args], stdin);

    /// <summary>Runs <c>nft ARGS</c> in the namespace.</summary>
    public ToolResult Nft(IReadOnlyList<string> args, string? stdin = null) =>
        Netns is null ? Runner.Run("nft", args, stdin) : Runner.Run("ip", ["netns", "exec", Netns, "nft", .. args], stdin);

    /// <summary>Runs <c>ip ARGS</c> and throws with its error text when it fails.</summary>
    public string IpCheck(params string[] args)
    {
        var r = Ip(args);
        return r.ExitCode == 0 ? r.StdOut : throw Failed("ip", args, r);
    }

    /// <summary>Runs an <c>ip -batch -</c> script for one family (4 or 6); throws when a line fails.</summary>
    public void IpBatch(int family, IReadOnlyList<string> lines, bool force = false)
    {
        if (lines.Count == 0)
        {
            return;
        }

        string[] args = force ? [family == 6 ? "-6" : "-4", "-force", "-batch", "-"] : [family == 6 ? "-6" : "-4", "-batch", "-"];
        var r = Ip(args, string.Join('\n', lines) + "\n");
        if (r.ExitCode != 0)
        {
            throw new RoutingException(BatchFailure(family, lines, r.StdErr));
        }
    }

    /// <summary>
    /// The error of a failed batch: the failing command (ip reports "Command failed -:LINE") and how many commands the
    /// batch held, never the whole batch (which can be tens of thousands of lines).
    /// </summary>
    internal string BatchFailure(int family, IReadOnlyList<string> lines, string stderr)
    {
        var failed = new List<string>();
        var errors = new List<string>();
        foreach (var line in stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var at = line.LastIndexOf("-:", StringComparison.Ordinal);
            if (line.StartsWith("Command failed", StringComparison.Ordinal) && at >= 0
                && int.TryParse(line.AsSpan(at + 2), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) && n >= 1 && n <= lines.Count)
            {
                failed.Add($"line {n}: ip -{family} {lines[n - 1]}");
            }
            else
            {
                errors.Add(line);
            }
        }

        var what = failed.Count == 0 ? string.Empty : $"{Environment.NewLine}  failing command {string.Join($"{Environment.NewLine}  failing command ", failed.Take(3))}";
        return $"ip -{family} -batch of {lines.Count} command(s) failed{Where()}: {string.Join("; ", errors)}{what}";
    }

    private bool? _hasNft;

    /// <summary>True when the <c>nft</c> tool can be started (asked once per instance).</summary>
    public bool HasNft()
    {
        if (_hasNft is { } known)
        {
            return known;
        }

        try
        {
            _hasNft = Runner.Run("nft", ["--version"]).ExitCode == 0;
        }
        catch (RoutingException)
        {
            _hasNft = false;
        }

        return _hasNft.Value;
    }

    /// <summary>
    /// The namespace's identity, the same however it is named: <c>net:[INODE]</c> as <c>/proc/self/ns/net</c> reads in
    /// it (for <see cref="Netns"/> through <c>ip netns exec</c>, so <c>--netns R</c> and <c>ip netns exec R …</c> agree).
    /// </summary>
    public string NamespaceIdentity()
    {
        if (Netns is null)
        {
            return new FileInfo("/proc/self/ns/net").LinkTarget ?? throw new RoutingException("Cannot read /proc/self/ns/net.");
        }

        var r = Runner.Run("ip", ["netns", "exec", Netns, "readlink", "/proc/self/ns/net"]);
        return r.ExitCode == 0 && r.StdOut.Trim().StartsWith("net:[", StringComparison.Ordinal)
            ? r.StdOut.Trim()
            : throw Failed("ip", ["netns", "exec", Netns, "readlink", "/proc/self/ns/net"], r);
    }

    /// <summary>The error for a failed run.</summary>
    public RoutingException Failed(string tool, IReadOnlyList<string> args, ToolResult r) =>
        new($"'{tool} {string.Join(' ', args)}' failed{Where()} (exit {r.ExitCode}): {r.StdErr.Trim()}");

    private string Where() => Netns is null ? string.Empty : $" in network namespace {Netns}";
}
