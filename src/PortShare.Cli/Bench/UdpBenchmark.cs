using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using PortShare.Connect;

namespace PortShare.Cli.Bench;

/// <summary>
/// UDP flows per second from a slice against a plain UDP connect() (autobind, the baseline), each scenario interleaved
/// with the baseline in short windows: unique-port mode (IP_LOCAL_PORT_RANGE) and shared-port mode (connectx: sock_diag
/// lock check) at 0, 50 and 90 % slice fill (flows held toward the same destination), and with every port already
/// carrying a flow to another destination (so every claim takes the lock and one netlink round trip).
/// </summary>
internal static class UdpBenchmark
{
    public static List<BenchResult> Run(Action<string> progress, double seconds, CancellationToken ct)
    {
        var slice = ConnectBenchmark.Slice;
        using var receiver = ConnectBenchmark.BindOutside(slice, SocketType.Dgram, ProtocolType.Udp);
        using var other = ConnectBenchmark.BindOutside(slice, SocketType.Dgram, ProtocolType.Udp);
        var remote = (IPEndPoint)receiver.LocalEndPoint!;
        using var unique = new UdpSliceConnector(slice, null, UdpPortMode.Unique);
        using var shared = new UdpSliceConnector(slice, null, UdpPortMode.Shared);
        Socket Plain()
        {
            var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            s.Connect(remote);
            return s;
        }

        var results = new List<BenchResult>();
        Loop(Plain, Math.Min(0.3, seconds), ct); // warm-up
        foreach (var (name, connector, fill) in new[]
        {
            ("unique-port (IP_LOCAL_PORT_RANGE)", unique, 0.0),
            ("shared-port (connectx)", shared, 0.0),
            ("shared-port (connectx)", shared, 0.5),
            ("shared-port (connectx)", shared, 0.9),
            ("shared-port (connectx), every port also carrying a flow to another destination", shared, 0.0),
        })
        {
            progress($"UDP {name}, fill {fill:P0}, against plain UDP connect");
            var held = name.Contains("another destination", StringComparison.Ordinal)
                ? [.. Enumerable.Range(0, slice.Count).Select(_ => shared.ConnectAsync((IPEndPoint)other.LocalEndPoint!, ct).AsTask().GetAwaiter().GetResult())]
                : Fill(slice, remote, fill);
            try
            {
                var rounds = Math.Max(4, (int)(seconds * 4));
                var tripsBefore = connector.NetlinkRoundTrips;
                long n = 0, baseN = 0;
                double t = 0, baseT = 0;
                for (var i = 0; i < rounds; i++)
                {
                    var (bn, bt) = Loop(Plain, seconds / rounds, ct);
                    var (sn, st) = Loop(() => connector.ConnectAsync(remote, ct).AsTask().GetAwaiter().GetResult(), seconds / rounds, ct);
                    baseN += bn;
                    baseT += bt;
                    n += sn;
                    t += st;
                }

                var baseRate = baseN / baseT;
                var rate = n / t;
                results.Add(new BenchResult("UDP plain connect (baseline)", "loop", fill, baseN, baseT, baseRate, 1, "interleaved with the row below"));
                var trips = connector.NetlinkRoundTrips - tripsBefore;
                results.Add(new BenchResult($"UDP {name}", "loop", fill, n, t, rate, rate / baseRate, string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{(double)trips / Math.Max(1, n):0.00} netlink round trips per flow")));
            }
            finally
            {
                held.ForEach(h => h.Dispose());
            }
        }

        return results;
    }

    /// <summary>Opens and closes flows for <paramref name="seconds"/>.</summary>
    private static (long Count, double Seconds) Loop(Func<Socket> open, double seconds, CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        long n = 0;
        while (sw.Elapsed.TotalSeconds < seconds && !ct.IsCancellationRequested)
        {
            for (var i = 0; i < 32; i++)
            {
                open().Dispose();
                n++;
            }
        }

        return (n, sw.Elapsed.TotalSeconds);
    }

    /// <summary>Flows held to the destination from the lowest <paramref name="fill"/> share of the slice.</summary>
    private static List<Socket> Fill(PortRange slice, IPEndPoint remote, double fill)
    {
        var held = new List<Socket>();
        for (var i = 0; i < (int)(slice.Count * fill); i++)
        {
            var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            s.Bind(new IPEndPoint(IPAddress.Any, slice.Low + i));
            s.Connect(remote);
            held.Add(s);
        }

        return held;
    }
}
