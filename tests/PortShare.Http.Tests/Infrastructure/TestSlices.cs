using System.Net;
using System.Net.Sockets;

namespace PortShare.Http.Tests.Infrastructure;

/// <summary>Random slices inside this network namespace's ip_local_port_range, free at the time they are picked.</summary>
internal static class TestSlices
{
    private static readonly Lock s_lock = new();
    private static readonly HashSet<int> s_handedOut = [];

    /// <summary>
    /// A parity-aligned slice of <paramref name="count"/> ports in the upper part of the netns range, disjoint from
    /// every slice handed out before in this process and with no port bound by anyone right now (checked by binding
    /// each port; an unconnected socket leaves no TIME_WAIT behind).
    /// </summary>
    public static PortRange Pick(int count)
    {
        var netns = HostFacts.ReadNetnsRange();
        // Upper part of the range, away from where the kernel's ephemeral search for ordinary sockets is likeliest to be.
        var low = Math.Max(netns.Low, Math.Min(50000, netns.High - 4 * count));
        var high = netns.High - count;
        Assert.True(high > low, $"The netns ip_local_port_range {netns} is too small for a test slice of {count} ports.");
        for (var attempt = 0; attempt < 200; attempt++)
        {
            var start = Random.Shared.Next(low, high) & ~1;
            if (start < netns.Low)
            {
                continue;
            }

            var slice = new PortRange((ushort)start, (ushort)(start + count - 1));
            lock (s_lock)
            {
                if (Enumerable.Range(slice.Low, count).Any(s_handedOut.Contains) || !AllFree(slice))
                {
                    continue;
                }

                foreach (var port in Enumerable.Range(slice.Low, count))
                {
                    s_handedOut.Add(port);
                }
            }

            return slice;
        }

        throw new InvalidOperationException($"No free test slice of {count} ports found in {netns}.");
    }

    private static bool AllFree(PortRange slice)
    {
        for (var port = slice.Low; port <= slice.High; port++)
        {
            foreach (var (family, any) in new[] { (AddressFamily.InterNetwork, IPAddress.Any), (AddressFamily.InterNetworkV6, IPAddress.IPv6Any) })
            {
                if (family == AddressFamily.InterNetworkV6 && !Socket.OSSupportsIPv6)
                {
                    continue;
                }

                using var probe = new Socket(family, SocketType.Stream, ProtocolType.Tcp);
                try
                {
                    probe.Bind(new IPEndPoint(any, port));
                }
                catch (SocketException)
                {
                    return false;
                }
            }
        }

        return true;
    }

    public static bool HasIPv6Loopback()
    {
        if (!Socket.OSSupportsIPv6)
        {
            return false;
        }

        try
        {
            using var probe = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
            probe.Bind(new IPEndPoint(IPAddress.IPv6Loopback, 0));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
