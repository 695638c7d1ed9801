using System.Net;
using System.Net.Sockets;

namespace PortShare.Connect;

/// <summary>
/// The fail-closed checks every connector makes (CONFORMANCE B12, B13, F1, F6): the slice lies inside the network
/// namespace's <c>ip_local_port_range</c> and is not wholly reserved, and each socket's local endpoint lies in the slice.
/// </summary>
internal static class SliceGuard
{
    /// <summary>
    /// Reads the netns range and reserved ports and checks every range of the slice; returns the range and a reserved
    /// flag per slice index (see <see cref="PortSlice.IndexOf"/>).
    /// </summary>
    /// <exception cref="SliceMisconfiguredException">A range of the slice is (partly) outside the netns range, or every port of the slice is reserved.</exception>
    public static (PortRange Netns, bool[] Reserved) Check(ISocketEnvironment env, PortSlice slice)
    {
        var netns = env.ReadNetnsRange();
        foreach (var range in slice.RangeSpan)
        {
            if (!netns.Contains(range))
            {
                var how = netns.Overlaps(range) ? "partly outside" : "outside";
                var which = slice.RangeSpan.Length == 1 ? $"Port slice {slice}" : $"Range {range} of port slice {slice}";
                throw new SliceMisconfiguredException(
                    $"{which} lies {how} this network namespace's ip_local_port_range {netns}: the kernel would silently use ports outside the slice, which belong to other hosts. Choose a slice inside {netns}, or widen net.ipv4.ip_local_port_range.");
            }
        }

        var reserved = new bool[slice.Count];
        var free = slice.Count;
        foreach (var r in env.ReadReservedPorts())
        {
            foreach (var range in slice.RangeSpan)
            {
                if (r.Intersect(range) is not { } overlap)
                {
                    continue;
                }

                var first = slice.IndexOf(overlap.Low);
                for (var i = 0; i < overlap.Count; i++)
                {
                    if (!reserved[first + i])
                    {
                        reserved[first + i] = true;
                        free--;
                    }
                }
            }
        }

        if (free == 0)
        {
            throw new SliceMisconfiguredException($"Every port of slice {slice} is in net.ipv4.ip_local_reserved_ports: no port is left to use.");
        }

        return (netns, reserved);
    }

    /// <summary>Fail closed (CONFORMANCE F6): the port getsockname() reports must be in the slice, on the egress address.</summary>
    /// <exception cref="SliceMisconfiguredException">It is not.</exception>
    public static void EnsureInSlice(Socket socket, PortSlice slice, IPAddress? egress, EndPoint? remote)
    {
        if (socket.LocalEndPoint is not IPEndPoint local || !slice.Contains(local.Port))
        {
            var to = remote is null ? "bind" : $"flow to {remote}";
            throw new SliceMisconfiguredException(
                $"The kernel gave the {to} local endpoint {socket.LocalEndPoint}, outside slice {slice}: refusing to use it (is ip_local_port_range {HostFacts.LocalPortRangePath} narrower than the slice?).");
        }

        if (egress is not null && !local.Address.Equals(egress))
        {
            throw new SliceMisconfiguredException($"The socket's local address {local.Address} is not the egress address {egress}: refusing to use it.");
        }
    }

    /// <summary>An IPv4-mapped IPv6 address (<c>::ffff:a.b.c.d</c>) as the IPv4 address it maps, as the kernel treats it on a dual-stack socket.</summary>
    public static IPAddress? Unmap(IPAddress? address) => address is { IsIPv4MappedToIPv6: true } ? address.MapToIPv4() : address;

    /// <summary><paramref name="remote"/> with an IPv4-mapped address replaced by the IPv4 address.</summary>
    public static IPEndPoint Unmap(IPEndPoint remote) => remote.Address.IsIPv4MappedToIPv6 ? new IPEndPoint(remote.Address.MapToIPv4(), remote.Port) : remote;

    /// <summary>The wildcard address of <paramref name="family"/> (0.0.0.0 or ::).</summary>
    public static IPAddress Any(AddressFamily family) => family == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any;

    /// <summary>True when a validation made at <paramref name="validatedAt"/> (Environment.TickCount64) is older than <paramref name="interval"/>.</summary>
    public static bool IsStale(long validatedAt, TimeSpan interval) => Environment.TickCount64 - validatedAt >= (long)interval.TotalMilliseconds;

    /// <summary>Binds <paramref name="socket"/> to <paramref name="local"/>; false when the 2-tuple is taken (EADDRINUSE).</summary>
    /// <exception cref="SliceMisconfiguredException">The address is not on this host (EADDRNOTAVAIL).</exception>
    public static bool TryBind(Socket socket, IPEndPoint local)
    {
        try
        {
            socket.Bind(local);
            return true;
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            return false;
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AddressNotAvailable)
        {
            throw NotLocal(local.Address, ex);
        }
    }

    public static SliceMisconfiguredException NotLocal(IPAddress? egress, SocketException ex) => new(
        $"The egress address {egress} is not assigned to any interface in this network namespace (bind failed: {ex.Message}): add it (portshare host apply puts it on lo), or connect without an egress address.",
        ex);
}
