using System.Globalization;
using System.Net.Sockets;

namespace PortShare;

/// <summary>
/// What the kernel and the current network namespace say about local ports. Every read is of the calling
/// thread's network namespace: the values are per netns and can change at run time (sysctl), so callers
/// re-read them rather than caching them for the process.
/// </summary>
public static class HostFacts
{
    /// <summary>The sysctl holding the netns ephemeral range (it governs IPv6 too).</summary>
    public const string LocalPortRangePath = "/proc/sys/net/ipv4/ip_local_port_range";

    /// <summary>The sysctl listing ports the kernel's automatic search skips.</summary>
    public const string ReservedPortsPath = "/proc/sys/net/ipv4/ip_local_reserved_ports";

    /// <summary>Reads the network namespace's <c>ip_local_port_range</c>.</summary>
    public static PortRange ReadNetnsRange()
    {
        var text = File.ReadAllText(LocalPortRangePath);
        return ParseNetnsRange(text);
    }

    /// <summary>Parses the text of <c>ip_local_port_range</c> ("32768\t60999").</summary>
    public static PortRange ParseNetnsRange(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.Split((char[])['\t', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length != 2
            || !ushort.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var lo)
            || !ushort.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var hi)
            || lo == 0 || lo > hi)
        {
            throw new FormatException($"{LocalPortRangePath} holds '{text.Trim()}', expected two ports 'LOW HIGH'.");
        }

        return new PortRange(lo, hi);
    }

    /// <summary>Reads <c>ip_local_reserved_ports</c> as ranges (empty when none).</summary>
    public static IReadOnlyList<PortRange> ReadReservedPorts() =>
        File.Exists(ReservedPortsPath) ? ParseReservedPorts(File.ReadAllText(ReservedPortsPath)) : [];

    /// <summary>Parses the sysctl's list syntax: <c>8080,9000-9010</c>.</summary>
    public static IReadOnlyList<PortRange> ParseReservedPorts(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var result = new List<PortRange>();
        foreach (var item in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!PortRange.TryParse(item, out var r, out var error))
            {
                throw new FormatException($"{ReservedPortsPath}: {error}");
            }

            result.Add(r);
        }

        return result;
    }

    /// <summary>The running kernel's release string (uname -r).</summary>
    public static string KernelRelease()
    {
        try
        {
            return File.ReadAllText("/proc/sys/kernel/osrelease").Trim();
        }
        catch (IOException)
        {
            return Environment.OSVersion.VersionString;
        }
    }

    /// <summary>
    /// True when the kernel knows <c>IP_LOCAL_PORT_RANGE</c> (Linux ≥ 6.3, 6.1.32+). Detected the way the kernel tells:
    /// <c>getsockopt</c> answers <c>ENOPROTOOPT</c> when it does not. Setting <c>PORTSHARE_ASSUME_NO_KERNEL_RANGE=1</c>
    /// makes PortShare behave as on an old kernel (to exercise the fallback).
    /// </summary>
    public static bool SupportsLocalPortRange() => s_support.Value;

    private static readonly Lazy<bool> s_support = new(ProbeLocalPortRange);

    private static bool ProbeLocalPortRange()
    {
        if (Environment.GetEnvironmentVariable("PORTSHARE_ASSUME_NO_KERNEL_RANGE") == "1")
        {
            return false;
        }

        try
        {
            using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            _ = Interop.SocketOptions.GetLocalPortRange(probe);
            return true;
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ProtocolOption or SocketError.OperationNotSupported or SocketError.InvalidArgument)
        {
            return false;
        }
    }
}
