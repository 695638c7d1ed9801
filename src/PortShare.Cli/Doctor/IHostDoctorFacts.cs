using System.Net;

namespace PortShare.Cli.Doctor;

/// <summary>An address on an interface, as <c>ip -j addr</c> lists it.</summary>
internal sealed record InterfaceAddress(string Device, IPAddress Address, int PrefixLength);

/// <summary>
/// What host doctor reads of one network namespace. The real one (<see cref="SystemDoctorFacts"/>) asks the kernel and
/// the tools; unit tests pass fixed facts, so the pass/warn/fail rules are tested without touching /proc.
/// </summary>
internal interface IHostDoctorFacts
{
    /// <summary>The kernel release (<c>uname -r</c>).</summary>
    string KernelRelease { get; }

    /// <summary>True when the kernel knows <c>IP_LOCAL_PORT_RANGE</c>.</summary>
    bool SupportsLocalPortRange { get; }

    /// <summary><c>net.ipv4.ip_local_port_range</c>.</summary>
    PortRange NetnsRange { get; }

    /// <summary><c>net.ipv4.ip_local_reserved_ports</c>.</summary>
    IReadOnlyList<PortRange> ReservedPorts { get; }

    /// <summary>Every address of every interface.</summary>
    IReadOnlyList<InterfaceAddress> Addresses { get; }

    /// <summary>The source address the kernel picks for a socket that does not bind, toward <paramref name="destination"/>; null when there is no route.</summary>
    IPAddress? SourceToward(IPAddress destination);

    /// <summary>A <c>/proc/sys</c> key (<c>net/ipv4/conf/all/arp_ignore</c>), or null when absent.</summary>
    string? Sysctl(string key);

    /// <summary>The <c>nft list ruleset</c> listing, or null when nft is not installed (or not allowed).</summary>
    string? NftRuleset { get; }

    /// <summary>This process's group ids (primary and supplementary), for <c>ping_group_range</c>.</summary>
    IReadOnlyList<long> Groups { get; }
}
