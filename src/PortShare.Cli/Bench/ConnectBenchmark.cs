using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using PortShare.Connect;

namespace PortShare.Cli.Bench;

/// <summary>One measured scenario: connections per second, and its ratio to the baseline of the same run.</summary>
internal sealed record BenchResult(string Scenario, string Mode, double Fill, long Connections, double Seconds, double PerSecond, double Ratio, string? Note);

/// <summary>
/// Macro benchmark of connect-from-slice against a loopback listener in the current namespace (the command re-runs
/// itself in a fresh one): plain connect (baseline), the kernel path, the fallback and a naive linear
/// bind-before-connect loop at several slice fills.
/// </summary>
internal sealed class ConnectBenchmark : IDisposable
{
    public static readonly PortRange Slice = new(40000, 40511);
    private readonly Socket _listener;
    private readonly IPEndPoint _remote;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task[] _acceptLoops;

    public ConnectBenchmark()
    {
        _listener = BindOutside(Slice);
        // A full accept queue drops the handshake's last ACK and the client's connect then waits a whole second for
        // its SYN to be retransmitted: a long backlog and several concurrent accepts keep that cost out of the numbers.
        _listener.Listen(65535);
        _remote = (IPEndPoint)_listener.LocalEndPoint!;
        _acceptLoops = [.. Enumerable.Range(0, 4).Select(_ => Task.Run(AcceptLoopAsync))];
    }

    public delegate ValueTask<Socket> Connect(CancellationToken ct);

    /// <summary>The loopback listener every scenario connects to.</summary>
    public IPEndPoint Remote => _remote;

    /// <summary>Opens and closes (RST, so no TIME_WAIT) connections for <paramref name="seconds"/>.</summary>
    public async Task<(long Count, double Seconds)> LoopAsync(Connect connect, double seconds, CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        var deadline = TimeSpan.FromSeconds(seconds);
        long n = 0;
        while (sw.Elapsed < deadline && !ct.IsCancellationRequested)
        {
            for (var i = 0; i < 64; i++)
            {
                using var s = await connect(ct);
                s.LingerState = new LingerOption(true, 0);
                n++;
            }
        }

        return (n, sw.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// This namespace's SYN retransmissions and accept-queue overflows so far (<c>/proc/net/netstat</c>): each retransmitted
    /// SYN is a connect that waited a second, a stall of the harness rather than a cost of the scenario.
    /// </summary>
    public static (long SynRetrans, long ListenOverflows) Stalls()
    {
        try
        {
            var lines = File.ReadAllLines("/proc/net/netstat");
            for (var i = 0; i + 1 < lines.Length; i += 2)
            {
                if (!lines[i].StartsWith("TcpExt:", StringComparison.Ordinal))
                {
                    continue;
                }

                var names = lines[i].Split(' ');
                var values = lines[i + 1].Split(' ');
                long Get(string name) => Array.IndexOf(names, name) is var k and > 0 && k < values.Length ? long.Parse(values[k], System.Globalization.CultureInfo.InvariantCulture) : 0;
                return (Get("TCPSynRetrans"), Get("ListenOverflows"));
            }
        }
        catch (IOException)
        {
            // No counters: report none.
        }

        return (0, 0);
    }

    public ValueTask<Socket> PlainAsync(CancellationToken ct) => ConnectSocketAsync(NewSocket(), ct);

    public static SliceConnector Connector(ConnectStrategy strategy) => new(Slice, null, strategy);

    /// <summary>What users write today: try each port of the slice from the start, bind, connect, next on failure.</summary>
    public async ValueTask<Socket> NaiveAsync(CancellationToken ct)
    {
        for (var port = Slice.Low; port <= Slice.High; port++)
        {
            var s = NewSocket();
            try
            {
                s.Bind(new IPEndPoint(IPAddress.Any, port));
                await s.ConnectAsync(_remote, ct);
                return s;
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.AddressAlreadyInUse or SocketError.AddressNotAvailable)
            {
                s.Dispose();
            }
        }

        throw new SliceExhaustedException(Slice, null, _remote, SocketError.AddressNotAvailable);
    }

    /// <summary>Holds connections to the benchmark's destination from the lowest <paramref name="fill"/> share of the slice.</summary>
    public async Task<List<Socket>> FillAsync(double fill, CancellationToken ct)
    {
        var count = (int)(Slice.Count * fill);
        var held = new List<Socket>(count);
        for (var i = 0; i < count; i++)
        {
            var s = NewSocket();
            s.Bind(new IPEndPoint(IPAddress.Any, Slice.Low + i));
            await s.ConnectAsync(_remote, ct);
            held.Add(s);
        }

        return held;
    }

    /// <summary>Opens <paramref name="count"/> connections, holds them all, closes them; repeated for the duration.</summary>
    public async Task<(long Count, double Seconds)> HeldAsync(Connect connect, int count, double seconds, CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        long n = 0;
        var held = new List<Socket>(count);
        while (sw.Elapsed.TotalSeconds < seconds && !ct.IsCancellationRequested)
        {
            for (var i = 0; i < count; i++)
            {
                held.Add(await connect(ct));
                n++;
            }

            held.ForEach(Reset);
            held.Clear();
        }

        return (n, sw.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// A loopback TCP socket bound to a free port outside <paramref name="slice"/>. A listener on a slice port would hold
    /// that port (connect() skips ports held by an explicit bind), and capacity would read 63/64.
    /// </summary>
    public static Socket BindOutside(PortRange slice, SocketType type = SocketType.Stream, ProtocolType protocol = ProtocolType.Tcp)
    {
        var rejected = new List<Socket>();
        try
        {
            while (true)
            {
                var s = new Socket(AddressFamily.InterNetwork, type, protocol);
                s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
                if (!slice.Contains(((IPEndPoint)s.LocalEndPoint!).Port))
                {
                    return s;
                }

                rejected.Add(s);
            }
        }
        finally
        {
            rejected.ForEach(r => r.Dispose());
        }
    }

    /// <summary>Closes with a reset, so the port keeps no TIME_WAIT toward the benchmark's destination.</summary>
    public static void Reset(Socket s)
    {
        s.LingerState = new LingerOption(true, 0);
        s.Dispose();
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Dispose();
        try
        {
            Task.WaitAll(_acceptLoops, TimeSpan.FromSeconds(2));
        }
        catch (AggregateException)
        {
            // The accept loop ends with the listener's disposal.
        }

        _stop.Dispose();
    }

    private static Socket NewSocket() => new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);

    private async ValueTask<Socket> ConnectSocketAsync(Socket s, CancellationToken ct)
    {
        try
        {
            await s.ConnectAsync(_remote, ct);
            return s;
        }
        catch
        {
            s.Dispose();
            throw;
        }
    }

    private static async Task DrainAsync(Socket s)
    {
        var buffer = new byte[1];
        try
        {
            await s.ReceiveAsync(buffer);
        }
        catch (SocketException)
        {
            // Reset by the client: the expected end.
        }
        finally
        {
            s.Dispose();
        }
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                var s = await _listener.AcceptAsync(_stop.Token);

                // Let the client close first (it resets): a server-side close would leave FIN_WAIT/TIME_WAIT state on
                // 4-tuples the next scenario binds explicitly.
                _ = DrainAsync(s);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
            {
                return;
            }
        }
    }
}
