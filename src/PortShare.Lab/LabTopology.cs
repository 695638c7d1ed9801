using System.Globalization;
using System.Net;

using PortShare.Routing;

namespace PortShare.Lab;

/// <summary>
/// Names and addresses of a lab, all derived from its prefix and host numbers. Documentation prefixes only, and only
/// inside the lab's namespaces: egress 192.0.2.1 / 2001:db8:1::1 (on each host's lo), server 203.0.113.10 /
/// 2001:db8:2::10, router↔host links 198.51.100.0/30s and 2001:db8:100:N::/64.
/// </summary>
public static class LabTopology
{
    /// <summary>What every lab namespace name starts with (<c>lab down --all</c> removes them all).</summary>
    public const string NamePrefix = "psl-";

    /// <summary>The port the lab server listens on.</summary>
    public const int ServerPort = 7000;

    /// <summary>The most hosts a lab holds (one /30 each in 198.51.100.0/24).</summary>
    public const int MaxHosts = 60;

    /// <summary>The shared IPv4 egress address.</summary>
    public static readonly IPAddress Egress4 = IPAddress.Parse("192.0.2.1");

    /// <summary>The shared IPv6 egress address.</summary>
    public static readonly IPAddress Egress6 = IPAddress.Parse("2001:db8:1::1");

    /// <summary>The server's IPv4 address.</summary>
    public static readonly IPAddress Server4 = IPAddress.Parse("203.0.113.10");

    /// <summary>The server's IPv6 address.</summary>
    public static readonly IPAddress Server6 = IPAddress.Parse("2001:db8:2::10");

    /// <summary>The router's address on the server link (IPv4).</summary>
    public static readonly IPAddress RouterServerSide4 = IPAddress.Parse("203.0.113.1");

    /// <summary>The router's address on the server link (IPv6).</summary>
    public static readonly IPAddress RouterServerSide6 = IPAddress.Parse("2001:db8:2::1");

    /// <summary>A fresh unique prefix: <c>psl-</c> + 6 hex digits + <c>-</c>.</summary>
    public static string NewPrefix() => NamePrefix + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(3)) + "-";

    /// <summary>The host name of host number <paramref name="n"/> (1-based): <c>hN</c>.</summary>
    public static string HostName(int n) => "h" + n.ToString(CultureInfo.InvariantCulture);

    /// <summary>The host number of <paramref name="host"/> (<c>hN</c>).</summary>
    public static int HostNumber(string host)
    {
        ArgumentNullException.ThrowIfNull(host);
        return int.Parse(host.AsSpan(1), NumberStyles.None, CultureInfo.InvariantCulture);
    }

    /// <summary>The (first) router's namespace.</summary>
    public static string RouterNs(string prefix) => prefix + "r";

    /// <summary>Router <paramref name="k"/>'s namespace (1-based; router 1 is <see cref="RouterNs(string)"/>).</summary>
    public static string RouterNs(string prefix, int k) => k == 1 ? RouterNs(prefix) : prefix + "r" + k.ToString(CultureInfo.InvariantCulture);

    /// <summary>Router <paramref name="k"/>'s own address on the server link, for SNAT scenarios (distinct per router).</summary>
    public static IPAddress RouterSnat4(int k) => IPAddress.Parse(string.Create(CultureInfo.InvariantCulture, $"203.0.113.{100 + k}"));

    /// <summary>The server's namespace.</summary>
    public static string ServerNs(string prefix) => prefix + "s";

    /// <summary>A host's namespace.</summary>
    public static string HostNs(string prefix, string host) => prefix + host;

    /// <summary>The router's IPv4 address on host <paramref name="n"/>'s link.</summary>
    public static IPAddress RouterSide4(int n) => IPAddress.Parse(string.Create(CultureInfo.InvariantCulture, $"198.51.100.{(4 * (n - 1)) + 1}"));

    /// <summary>Host <paramref name="n"/>'s IPv4 link address (its next hop on the router).</summary>
    public static IPAddress HostSide4(int n) => IPAddress.Parse(string.Create(CultureInfo.InvariantCulture, $"198.51.100.{(4 * (n - 1)) + 2}"));

    /// <summary>The router's IPv6 address on host <paramref name="n"/>'s link.</summary>
    public static IPAddress RouterSide6(int n) => IPAddress.Parse(string.Create(CultureInfo.InvariantCulture, $"2001:db8:100:{n:x}::1"));

    /// <summary>Host <paramref name="n"/>'s IPv6 link address (its next hop on the router).</summary>
    public static IPAddress HostSide6(int n) => IPAddress.Parse(string.Create(CultureInfo.InvariantCulture, $"2001:db8:100:{n:x}::2"));
}
