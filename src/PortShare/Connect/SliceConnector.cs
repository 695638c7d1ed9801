using System.Net;
using System.Net.Sockets;
using PortShare.Diagnostics;

namespace PortShare.Connect;

/// <summary>
/// Opens outgoing TCP connections whose local port lies in one slice, and binds sockets to free ports of it. A slice may
/// be several ranges (<see cref="PortSlice"/>), and every one is used: the kernel path sets <c>IP_LOCAL_PORT_RANGE</c> to
/// one range at a time (a range chosen at random, weighted by size, so load spreads; the next on exhaustion), so the
/// kernel never chooses from a span holding ports the host does not own; the fallback searches all of them.
/// Fails closed: each range is checked against the network namespace's <c>ip_local_port_range</c> (the kernel silently
/// widens a range outside it) and every socket's local port is checked after bind/connect. Thread-safe; create one
/// per slice and reuse it.
/// </summary>
public sealed class SliceConnector
{
    /// <summary>How often the netns range and reserved ports are re-read (a sysctl can change under a running program).</summary>
    public static readonly TimeSpan RevalidateInterval = TimeSpan.FromSeconds(1);

    private readonly ISocketEnvironment _env;
    private readonly uint[] _packed;
    // Fallback only: per destination, the ports busy toward it; made on first use (the kernel path never needs it).
    private BusyPortTable? _busy;

    // Kernel path with several ranges: per destination, ranges the kernel recently found full (index = range index);
    // made on first use.
    private BusyPortTable? _fullRanges;
    private long _validatedAt;
    private bool[] _reserved;

    /// <summary>Creates a connector for <paramref name="slice"/> (one range or several), optionally bound to a local (egress) address.</summary>
    /// <exception cref="SliceMisconfiguredException">A range of the slice is not inside the netns range, or the slice is wholly reserved.</exception>
    /// <exception cref="KernelPathUnsupportedException"><see cref="ConnectStrategy.Kernel"/> on a kernel without IP_LOCAL_PORT_RANGE.</exception>
    public SliceConnector(PortSlice slice, IPAddress? localAddress = null, ConnectStrategy strategy = ConnectStrategy.Auto)
        : this(slice, localAddress, strategy, CurrentNamespace.Instance)
    {
    }

    internal SliceConnector(PortSlice slice, IPAddress? localAddress, ConnectStrategy strategy, ISocketEnvironment environment)
    {
        ArgumentNullException.ThrowIfNull(slice);
        // A pattern, not Enum.IsDefined: that generic over a PortShare enum is compiled at run time in every process.
        if (strategy is not (ConnectStrategy.Auto or ConnectStrategy.Kernel or ConnectStrategy.Fallback))
        {
            throw new ArgumentOutOfRangeException(nameof(strategy), strategy, "Unknown connect strategy: use Auto, Kernel or Fallback.");
        }

        _env = environment;
        Slice = slice;
        LocalAddress = SliceGuard.Unmap(localAddress);
        // A plain loop, not LINQ: Select over PortRange (a PortShare struct) is a framework generic the ReadyToRun image
        // does not hold, so it would be compiled at run time by every process's first connector.
        var ranges = slice.RangeSpan;
        _packed = new uint[ranges.Length];
        for (var i = 0; i < _packed.Length; i++)
        {
            _packed[i] = ranges[i].Pack();
        }

        _reserved = [];
        var supported = HostFacts.SupportsLocalPortRange();
        Strategy = strategy switch
        {
            ConnectStrategy.Auto => supported ? ConnectStrategy.Kernel : ConnectStrategy.Fallback,
            ConnectStrategy.Kernel when !supported => throw new KernelPathUnsupportedException(
                $"The kernel path was requested but kernel {HostFacts.KernelRelease()} has no IP_LOCAL_PORT_RANGE (needs Linux 6.3 or later, or 6.1.32+): use the fallback strategy, or auto to choose by kernel."),
            _ => strategy,
        };
        Validate();
    }

    /// <summary>
    /// Makes, on the calling thread, what a process's first connector makes once: the kernel's answer on
    /// <c>IP_LOCAL_PORT_RANGE</c> (a probe socket, the process's first, with the runtime's socket event sources) and the
    /// metrics instruments. The CLI calls it on an idle core while a connect command starts. Harmless at any time.
    /// </summary>
    internal static void WarmUp()
    {
        _ = HostFacts.SupportsLocalPortRange();
        System.Runtime.CompilerServices.RuntimeHelpers.RunClassConstructor(typeof(PortShareMetrics).TypeHandle);
    }

    /// <summary>The slice every socket's local port lies in (all of its ranges are used).</summary>
    public PortSlice Slice { get; }

    /// <summary>The egress address sockets bind to, or null to let the routing table choose.</summary>
    public IPAddress? LocalAddress { get; }

    /// <summary>The strategy in use: <see cref="ConnectStrategy.Kernel"/> or <see cref="ConnectStrategy.Fallback"/>, never Auto.</summary>
    public ConnectStrategy Strategy { get; }

    /// <summary>The netns range at the last validation.</summary>
    public PortRange NetnsRange { get; private set; }

    /// <summary>
    /// Re-reads the netns <c>ip_local_port_range</c> and reserved ports and checks the slice lies inside the range.
    /// Called on construction and at most every <see cref="RevalidateInterval"/> by connects.
    /// </summary>
    /// <exception cref="SliceMisconfiguredException">The slice is (partly) outside the range or wholly reserved.</exception>
    public void Validate()
    {
        (NetnsRange, _reserved) = SliceGuard.Check(_env, Slice);
        Volatile.Write(ref _validatedAt, Environment.TickCount64);
    }

    /// <summary>Opens a TCP connection to <paramref name="remote"/> from a port of the slice.</summary>
    /// <exception cref="SliceExhaustedException">No port of the slice is free toward <paramref name="remote"/>.</exception>
    /// <exception cref="SliceMisconfiguredException">The slice is unsafe, or the kernel chose a port outside it.</exception>
    /// <exception cref="SocketException">The connection itself failed (refused, unreachable, …).</exception>
    public ValueTask<Socket> ConnectAsync(IPEndPoint remote, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(remote);
        remote = SliceGuard.Unmap(remote);
        RevalidateIfStale();
        CheckFamily(remote);
        PortShareMetrics.RecordAttempt("tcp", ModeTag);
        return Strategy == ConnectStrategy.Kernel
            ? ConnectKernelAsync(remote, cancellationToken)
            : ConnectFallbackAsync(remote, cancellationToken);
    }

    /// <summary>Resolves <paramref name="host"/> and connects to its addresses in order, as the default HttpClient handler does.</summary>
    public async ValueTask<Socket> ConnectAsync(string host, int port, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(host);
        var addresses = AddressText.TryParse(host, out var literal)
            ? [literal]
            : await Dns.GetHostAddressesAsync(host, cancellationToken).ConfigureAwait(false);
        return await ConnectAnyAsync(addresses, host, port, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Connects to <paramref name="addresses"/> (a name already resolved) in order, skipping those not of the egress
    /// address's family, as <see cref="ConnectAsync(string, int, CancellationToken)"/> does after resolving.
    /// </summary>
    public ValueTask<Socket> ConnectAsync(IReadOnlyList<IPAddress> addresses, int port, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(addresses);
        return ConnectAnyAsync([.. addresses], null, port, cancellationToken);
    }

    /// <summary>
    /// Connects to the first of <paramref name="addresses"/> (of the egress address's family) that accepts. Every failure
    /// comes through the returned task. One address (the common case) is connected without a state machine of its own:
    /// each PortShare async method that suspends costs run-time compilation once per process. <c>name</c> is what was
    /// resolved, for the error when no address fits (null: the addresses themselves).
    /// </summary>
#pragma warning disable CA1031 // Every failure is handed to the caller through the task, as an async method would.
    private ValueTask<Socket> ConnectAnyAsync(IPAddress[] addresses, string? name, int port, CancellationToken cancellationToken)
    {
        try
        {
            var usable = Array.ConvertAll(addresses, a => SliceGuard.Unmap(a)!);
            if (LocalAddress is not null)
            {
                usable = Array.FindAll(usable, a => a.AddressFamily == LocalAddress.AddressFamily);
            }

            if (usable.Length == 0)
            {
                name ??= string.Join(", ", addresses);
                throw new SocketException((int)SocketError.HostNotFound, LocalAddress is null
                    ? $"{name} resolved to no address."
                    : $"{name} has no address of the egress address {LocalAddress}'s family.");
            }

            return usable.Length == 1
                ? ConnectAsync(new IPEndPoint(usable[0], port), cancellationToken)
                : ConnectEachAsync(usable, port, cancellationToken);
        }
        catch (Exception ex)
        {
            return ValueTask.FromException<Socket>(ex);
        }
    }
#pragma warning restore CA1031

    private async ValueTask<Socket> ConnectEachAsync(IPAddress[] addresses, int port, CancellationToken cancellationToken)
    {
        Exception? last = null;
        foreach (var address in addresses)
        {
            try
            {
                return await ConnectAsync(new IPEndPoint(address, port), cancellationToken).ConfigureAwait(false);
            }
            catch (SocketException ex)
            {
                last = ex;
            }
        }

        throw last!;
    }

    /// <summary>Resolves <paramref name="remote"/> and connects to its addresses in turn (see <see cref="ConnectAsync(string, int, CancellationToken)"/>).</summary>
    public ValueTask<Socket> ConnectAsync(DnsEndPoint remote, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(remote);
        return ConnectAsync(remote.Host, remote.Port, cancellationToken);
    }

    /// <summary>Opens a TCP connection from the slice and wraps it in a <see cref="NetworkStream"/> that owns the socket.</summary>
    public async ValueTask<NetworkStream> ConnectStreamAsync(IPEndPoint remote, CancellationToken cancellationToken = default)
    {
        var socket = await ConnectAsync(remote, cancellationToken).ConfigureAwait(false);
        return new NetworkStream(socket, ownsSocket: true);
    }

    /// <summary>
    /// Creates a socket bound to a free port of the slice, for callers that need the port before connecting (UDP, or
    /// protocols that announce their port). With the fallback a TCP port may also carry other connections to other
    /// destinations (.NET always sets SO_REUSEADDR on TCP binds); <c>connect()</c> keeps 4-tuples unique.
    /// </summary>
    /// <exception cref="SliceExhaustedException">Every port of the slice is bound.</exception>
    public Socket Bind(AddressFamily family, SocketType socketType, ProtocolType protocolType)
    {
        RevalidateIfStale();
        var local = LocalAddress ?? SliceGuard.Any(family);
        if (local.AddressFamily != family)
        {
            throw new ArgumentException($"The egress address {local} is not of family {family}.", nameof(family));
        }

        if (Strategy == ConnectStrategy.Kernel)
        {
            var ranges = _packed.Length;
            var first = Slice.PickRange(Random.Shared);
            for (var i = 0; i < ranges; i++)
            {
                var socket = _env.CreateSocket(family, socketType, protocolType);
                try
                {
                    Interop.SocketOptions.SetLocalPortRange(socket, _packed[(first + i) % ranges]);
                    socket.Bind(new IPEndPoint(local, 0));
                    EnsureInSlice(socket, null);
                    return socket;
                }
                catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AddressAlreadyInUse)
                {
                    // This range is fully bound: try the next one.
                    socket.Dispose();
                }
                catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AddressNotAvailable)
                {
                    socket.Dispose();
                    throw NotLocal(ex);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            }

            throw new SliceExhaustedException(Slice, LocalAddress, null, SocketError.AddressAlreadyInUse);
        }

        var start = Random.Shared.Next(Slice.Count);
        var reserved = _reserved;
        for (var i = 0; i < Slice.Count; i++)
        {
            var offset = (start + i) % Slice.Count;
            if (reserved[offset])
            {
                continue;
            }

            var socket = _env.CreateSocket(family, socketType, protocolType);
            try
            {
                socket.Bind(new IPEndPoint(local, Slice.PortAt(offset)));
                return socket;
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AddressAlreadyInUse)
            {
                socket.Dispose();
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }

        throw new SliceExhaustedException(Slice, LocalAddress, null, SocketError.AddressAlreadyInUse);
    }

    // One range (the common case): no state machine of its own (see ConnectAnyAsync); the range's exhaustion throws.
    private ValueTask<Socket> ConnectKernelAsync(IPEndPoint remote, CancellationToken cancellationToken) => _packed.Length == 1
        ? ConnectKernelRangeAsync(remote, 0, throwWhenFull: true, cancellationToken)!
        : ConnectKernelRangesAsync(remote, cancellationToken);

    private async ValueTask<Socket> ConnectKernelRangesAsync(IPEndPoint remote, CancellationToken cancellationToken)
    {
        // Several ranges: start at one chosen at random, weighted by size; on exhaustion move to the next. Ranges found
        // full toward this destination recently are tried last (their hint may be stale), so a full range costs the
        // kernel's search once per back-off, not on every connect.
        var full = LazyInitializer.EnsureInitialized(ref _fullRanges, () => new BusyPortTable(_packed.Length)).For(remote);
        var first = Slice.PickRange(Random.Shared);
        var count = _packed.Length;

        // Each range is asked of the kernel at most once per connect: pass 1 retries only ranges pass 0 skipped on a hint.
        var tried = new bool[count];
        for (var pass = 0; pass < 2; pass++)
        {
            for (var i = 0; i < count; i++)
            {
                var range = (first + i) % count;
                var now = Environment.TickCount64;
                if (tried[range] || full.Read(range) > now != (pass == 1))
                {
                    continue;
                }

                tried[range] = true;

                cancellationToken.ThrowIfCancellationRequested();
                if (await ConnectKernelRangeAsync(remote, range, throwWhenFull: false, cancellationToken).ConfigureAwait(false) is { } socket)
                {
                    full.Clear(range);
                    return socket;
                }

                full.MarkRefused(range, now);
                PortShareMetrics.RecordConflict("tcp", ModeTag);
            }
        }

        throw Exhausted(remote);
    }

    /// <summary>
    /// One kernel-path connect with <c>IP_LOCAL_PORT_RANGE</c> set to range <paramref name="range"/>; when that range is
    /// exhausted toward <paramref name="remote"/>, null, or with <paramref name="throwWhenFull"/> the slice's exhaustion.
    /// </summary>
    private async ValueTask<Socket?> ConnectKernelRangeAsync(IPEndPoint remote, int range, bool throwWhenFull, CancellationToken cancellationToken)
    {
        // A socket whose connect failed cannot be connected again on Linux (.NET refuses it), so each range gets its own.
        var socket = _env.CreateSocket(remote.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            Interop.SocketOptions.SetLocalPortRange(socket, _packed[range]);
            if (LocalAddress is not null)
            {
                // Defer the port choice to connect(), so one port serves many destinations (CONFORMANCE D3, F3).
                Interop.SocketOptions.SetBindAddressNoPort(socket);
                BindLocal(socket, new IPEndPoint(LocalAddress, 0));
            }

            try
            {
                await socket.ConnectAsync(remote, cancellationToken).ConfigureAwait(false);
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AddressNotAvailable)
            {
                socket.Dispose();
                return throwWhenFull ? throw Exhausted(remote) : null;
            }

            EnsureInSlice(socket, remote);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private SliceExhaustedException Exhausted(IPEndPoint remote)
    {
        PortShareMetrics.RecordExhaustion("tcp", ModeTag);
        return new SliceExhaustedException(Slice, LocalAddress, remote, SocketError.AddressNotAvailable);
    }

    private async ValueTask<Socket> ConnectFallbackAsync(IPEndPoint remote, CancellationToken cancellationToken)
    {
        var local = LocalAddress ?? SliceGuard.Any(remote.AddressFamily);
        var family = remote.AddressFamily;
        var table = LazyInitializer.EnsureInitialized(ref _busy, () => new BusyPortTable(Slice.Count)).For(remote);
        var reserved = _reserved;
        var count = Slice.Count;

        // RFC 6056: start at a random offset so that concurrent callers and restarts spread over the slice.
        var start = Random.Shared.Next(count);

        using var attempt = new ConnectAttempt(remote);
        var tries = 0;

        // Pass 0 tries ports with no entry; pass 1 re-tries ports the kernel refused recently, since such hints go
        // stale. Ports held by our own live sockets are never tried: they are certainly busy toward this destination.
        for (var pass = 0; pass < 2; pass++)
        {
            for (var i = 0; i < count; i++)
            {
                var offset = start + i;
                if (offset >= count)
                {
                    offset -= count;
                }

                var now = Environment.TickCount64;
                var entry = table.Read(offset);
                var refused = entry != BusyPortTable.Held && entry > now;
                if (reserved[offset] || entry == BusyPortTable.Held || refused != (pass == 1))
                {
                    continue;
                }

                cancellationToken.ThrowIfCancellationRequested();
                var socket = _env.CreateSocket(() => new SliceSocket(family, SocketType.Stream, ProtocolType.Tcp));
                SocketError result;
                try
                {
                    // .NET's TCP Bind sets SO_REUSEADDR, so the port may be shared with connections to other destinations.
                    result = TryBind(socket, new IPEndPoint(local, Slice.PortAt(offset)))
                        ? await attempt.ConnectAsync(socket, cancellationToken).ConfigureAwait(false)
                        : SocketError.AddressAlreadyInUse;
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }

                if (result is SocketError.AddressNotAvailable or SocketError.AddressAlreadyInUse)
                {
                    // This 4-tuple is taken (CONFORMANCE D15): remember it and try the next port.
                    table.MarkRefused(offset, now);
                    socket.Dispose();
                    PortShareMetrics.RecordConflict("tcp", ModeTag);
                    tries++;
                    continue;
                }

                if (result != SocketError.Success)
                {
                    socket.Dispose();
                    throw new SocketException((int)result);
                }

                try
                {
                    EnsureInSlice(socket, remote);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }

                socket.Track(table, offset);
                if (tries > 0)
                {
                    PortShareMetrics.RecordRetries("tcp", ModeTag, tries);
                }

                return socket;
            }
        }

        PortShareMetrics.RecordRetries("tcp", ModeTag, tries);
        throw Exhausted(remote);
    }

    private string ModeTag => Strategy == ConnectStrategy.Kernel ? "kernel" : "fallback";

    private static bool TryBind(Socket socket, IPEndPoint local) => SliceGuard.TryBind(socket, local);

    private void BindLocal(Socket socket, IPEndPoint local)
    {
        try
        {
            socket.Bind(local);
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AddressNotAvailable)
        {
            throw NotLocal(ex);
        }
    }

    private SliceMisconfiguredException NotLocal(SocketException ex) => SliceGuard.NotLocal(LocalAddress, ex);

    private void RevalidateIfStale()
    {
        if (SliceGuard.IsStale(Volatile.Read(ref _validatedAt), RevalidateInterval))
        {
            Validate();
        }
    }

    private void CheckFamily(IPEndPoint remote)
    {
        if (LocalAddress is not null && LocalAddress.AddressFamily != remote.AddressFamily)
        {
            throw new ArgumentException($"The egress address {LocalAddress} and the destination {remote} are of different address families.", nameof(remote));
        }
    }

    private void EnsureInSlice(Socket socket, IPEndPoint? remote) => SliceGuard.EnsureInSlice(socket, Slice, LocalAddress, remote);

}
