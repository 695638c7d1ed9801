using System.Net;
using System.Net.Sockets;

namespace PortShare.Connect;

/// <summary>
/// The fail-closed checks every connector makes (CONFORMANCE B12, B13, F1, F6): the slice lies inside the network
/// namespace's <c>ip_local_port_range</c> and is not wholly reserved, and each socket's local endpoint lies in the slice.
/// </summary>
internal static class SliceGuard
{
    /// <summary>Reads the netns range and reserved ports and checks the slice; returns the range and a reserved flag per slice offset.</summary>
    /// <exception cref="SliceMisconfiguredException">The slice is (partly) outside the netns range, or every port of it is reserved.</exception>
    public static (PortRange Netns, bool[] Reserved) Check(ISocketEnvironment env, PortRange slice)
    {
        var netns = env.ReadNetnsRange();
        if (!netns.Contains(slice))
        {
            var how = netns.Overlaps(slice) ? "partly outside" : "outside";
            throw new SliceMisconfiguredException(
                $"Port slice {slice} lies {how} this network namespace's ip_local_port_range {netns}: the kernel would silently use ports outside the slice, which belong to other hosts. Choose a slice inside {netns}, or widen net.ipv4.ip_local_port_range.");
        }

        var reserved = new bool[slice.Count];
        var free = slice.Count;
        foreach (var r in env.ReadReservedPorts())
        {
            if (r.Intersect(slice) is { } overlap)
            {
                for (var p = overlap.Low; p <= overlap.High; p++)
                {
                    if (!reserved[p - slice.Low])
                    {
                        reserved[p - slice.Low] = true;
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
    public static void EnsureInSlice(Socket socket, PortRange slice, IPAddress? egress, EndPoint? remote)
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

    /// <summary>The wildcard address of <paramref name="family"/> (0.0.0.0 or ::).</summary>
    public static IPAddress Any(AddressFamily family) => family == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any;

    /// <summary>True when a validation made at <paramref name="validatedAt"/> (Environment.TickCount64) is older than <paramref name="interval"/>.</summary>
    public static bool IsStale(long validatedAt, TimeSpan interval) => Environment.TickCount64 - validatedAt >= (long)interval.TotalMilliseconds;

    public static SliceMisconfiguredException NotLocal(IPAddress? egress, SocketException ex) => new(
        $"The egress address {egress} is not assigned to any interface in this network namespace (bind failed: {ex.Message}). Add it (e.g. on lo) or omit --local-address.",
        ex);
}
