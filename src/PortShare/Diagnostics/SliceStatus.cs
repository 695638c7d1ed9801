using System.Net;
using System.Net.Sockets;
using PortShare.Connect;

namespace PortShare.Diagnostics;

/// <summary>How full one slice is, from the kernel's socket tables.</summary>
public sealed record SliceUsage
{
    /// <summary>The slice.</summary>
    public required PortRange Slice { get; init; }

    /// <summary>False when the slice is not inside the netns <c>ip_local_port_range</c> (the kernel would widen it: unsafe).</summary>
    public required bool InsideNetnsRange { get; init; }

    /// <summary>TCP sockets whose local port is in the slice, in any state but LISTEN and CLOSE (TIME_WAIT still holds its 4-tuple).</summary>
    public required int TcpSockets { get; init; }

    /// <summary>UDP sockets whose local port is in the slice, connected or only bound.</summary>
    public required int UdpSockets { get; init; }

    /// <summary>Distinct (protocol, remote endpoint) pairs that sockets of the slice are connected to.</summary>
    public required int Destinations { get; init; }

    /// <summary>The destination toward which the most ports of the slice are in use, or null when no socket is connected.</summary>
    public DestinationUsage? Fullest { get; init; }
}

/// <summary>Ports of a slice in use toward one destination.</summary>
/// <param name="Protocol"><c>tcp</c> or <c>udp</c>.</param>
/// <param name="Remote">The destination.</param>
/// <param name="PortsInUse">Distinct local ports of the slice connected to it.</param>
/// <param name="Fill">PortsInUse ÷ slice size: at 1.0 no new flow to this destination can start.</param>
public sealed record DestinationUsage(string Protocol, IPEndPoint Remote, int PortsInUse, double Fill);

/// <summary>What <c>portshare status</c> shows: every slice's fill, and flows on the egress address outside every slice.</summary>
public sealed record SliceStatusReport
{
    /// <summary>When the sockets were read.</summary>
    public required DateTimeOffset ReadAt { get; init; }

    /// <summary>The egress address the report is restricted to, or null for every local address.</summary>
    public IPAddress? LocalAddress { get; init; }

    /// <summary>The netns <c>ip_local_port_range</c>.</summary>
    public required PortRange NetnsRange { get; init; }

    /// <summary>One entry per slice, in the order asked.</summary>
    public required IReadOnlyList<SliceUsage> Slices { get; init; }

    /// <summary>
    /// Connected sockets on the egress address whose local port is in no slice and is not a listening port: a program
    /// that ignores PortShare, whose replies will go to another host. Empty when no egress address was given.
    /// </summary>
    public required IReadOnlyList<DiagSocket> OutsideSlices { get; init; }
}

/// <summary>Reads slice usage from sock_diag (never from <c>/proc/net</c> text or <c>ss</c>).</summary>
public static class SliceStatusReader
{
    /// <summary>Reads the usage of <paramref name="slices"/> in the calling thread's network namespace.</summary>
    /// <exception cref="ArgumentException">No slice, or slices overlap.</exception>
    /// <exception cref="SockDiagException">sock_diag refused a dump.</exception>
    public static SliceStatusReport Read(IReadOnlyList<PortRange> slices, IPAddress? localAddress = null) =>
        Read(slices, localAddress, CurrentNamespace.Instance);

    internal static SliceStatusReport Read(IReadOnlyList<PortRange> slices, IPAddress? localAddress, ISocketEnvironment env)
    {
        ArgumentNullException.ThrowIfNull(slices);
        CheckSlices(slices);
        var netns = env.ReadNetnsRange();
        var families = localAddress is null
            ? new[] { AddressFamily.InterNetwork, AddressFamily.InterNetworkV6 }
            : [localAddress.AddressFamily];

        // Without an egress address only the slices matter: let the kernel filter on the span they cover.
        PortRange? span = localAddress is null ? new PortRange(slices.Min(s => s.Low), slices.Max(s => s.High)) : null;
        var sockets = new List<DiagSocket>();
        var listening = new HashSet<int>();
        using (var client = SockDiagClient.Open(env))
        {
            foreach (var family in families)
            {
                sockets.AddRange(client.Dump(family, ProtocolType.Tcp, SocketStates.Connected, span));
                sockets.AddRange(client.Dump(family, ProtocolType.Udp, SocketStates.Established | SocketStates.Close, span));
                // A listener's accepted connections share its port: they are a server's, not flows out of the slice.
                foreach (var l in client.Dump(family, ProtocolType.Tcp, SocketStates.Listen))
                {
                    if (localAddress is null || OnAddress(l.Local.Address, localAddress))
                    {
                        listening.Add(l.Local.Port);
                    }
                }
            }
        }

        if (localAddress is not null)
        {
            sockets.RemoveAll(s => !OnAddress(s.Local.Address, localAddress));
        }

        sockets.RemoveAll(s => s.Protocol == ProtocolType.Tcp && listening.Contains(s.Local.Port));

        var usages = slices.Select(slice => Usage(slice, netns, sockets.Where(s => slice.Contains(s.Local.Port)))).ToList();
        var outside = localAddress is null
            ? []
            : sockets.Where(s => s.HasRemote && s.Local.Address.Equals(localAddress) && !listening.Contains(s.Local.Port) && !slices.Any(r => r.Contains(s.Local.Port))).ToList();
        return new SliceStatusReport
        {
            ReadAt = DateTimeOffset.UtcNow,
            LocalAddress = localAddress,
            NetnsRange = netns,
            Slices = usages,
            OutsideSlices = outside,
        };
    }

    private static SliceUsage Usage(PortRange slice, PortRange netns, IEnumerable<DiagSocket> inSlice)
    {
        var list = inSlice.ToList();
        var byDestination = list
            .Where(s => s.HasRemote)
            .GroupBy(s => (Protocol: s.Protocol == ProtocolType.Tcp ? "tcp" : "udp", s.Remote))
            .Select(g => new DestinationUsage(g.Key.Protocol, g.Key.Remote, g.Select(s => s.Local.Port).Distinct().Count(), 0))
            .ToList();
        var fullest = byDestination.OrderByDescending(d => d.PortsInUse).ThenBy(d => d.Remote.ToString(), StringComparer.Ordinal).FirstOrDefault();
        return new SliceUsage
        {
            Slice = slice,
            InsideNetnsRange = netns.Contains(slice),
            TcpSockets = list.Count(s => s.Protocol == ProtocolType.Tcp),
            UdpSockets = list.Count(s => s.Protocol == ProtocolType.Udp),
            Destinations = byDestination.Count,
            Fullest = fullest is null ? null : fullest with { Fill = (double)fullest.PortsInUse / slice.Count },
        };
    }

    private static void CheckSlices(IReadOnlyList<PortRange> slices)
    {
        if (slices.Count == 0)
        {
            throw new ArgumentException("Give at least one slice.", nameof(slices));
        }

        var sorted = slices.OrderBy(s => s.Low).ToList();
        for (var i = 1; i < sorted.Count; i++)
        {
            if (sorted[i].Overlaps(sorted[i - 1]))
            {
                throw new ArgumentException($"Slices {sorted[i - 1]} and {sorted[i]} overlap: slices are disjoint by definition.", nameof(slices));
            }
        }
    }

    private static bool OnAddress(IPAddress socketAddress, IPAddress egress) =>
        socketAddress.Equals(egress) || socketAddress.Equals(IPAddress.Any) || socketAddress.Equals(IPAddress.IPv6Any);
}
