using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using PortShare.Diagnostics;

namespace PortShare.Connect;

/// <summary>
/// Opens connected UDP sockets whose local port lies in one slice (every range of it), IPv4 or IPv6. In <see cref="UdpPortMode.Shared"/> mode
/// (the default) a port is shared across destinations with connectx's protocol, and two connected sockets never share
/// one 4-tuple (a duplicate would silently starve the older socket, CONFORMANCE E5). Fails closed like
/// <see cref="SliceConnector"/>: the slice is checked against the netns range and every socket's local endpoint against
/// the slice. Thread-safe; create one per slice and reuse it; dispose it to close its netlink sockets.
/// </summary>
public sealed class UdpSliceConnector : IDisposable
{
    /// <summary>How often the netns range and reserved ports are re-read.</summary>
    public static readonly TimeSpan RevalidateInterval = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Claims lost in one pass before one dump of the slice's UDP sockets replaces them: a lightly used slice costs one
    /// round trip per flow (the lookup under the lock), a crowded one at most this many plus a dump plus one.
    /// </summary>
    internal const int LookupsBeforeDump = 3;

    /// <summary>Passes over the slice before a crowded slice with moving parts is declared exhausted.</summary>
    /// <summary>How long a connect keeps re-scanning while it only met transient conflicts (ports mid-claim).</summary>
    private const long TransientPatienceMilliseconds = 500;

    /// <summary>Idle netlink clients kept for reuse (one is busy per concurrent connect).</summary>
    private const int MaxPooledClients = 16;

    /// <summary>Bound on the remembered source addresses (one per destination address).</summary>
    private const int MaxRememberedSources = 4096;

    private readonly ISocketEnvironment _env;
    private readonly uint[] _packed;
    private readonly ConcurrentBag<SockDiagClient> _clients = [];
    private readonly BusyPortTable _hints;
    private readonly ConcurrentDictionary<IPAddress, (IPAddress Source, long Until)> _sources = new();
    private readonly bool _kernelRange;
    private readonly string _modeTag;
    private long _validatedAt;
    private bool[] _reserved = [];
    private long _roundTrips;
    private bool _disposed;

    /// <summary>Creates a connector for <paramref name="slice"/> (one range or several), optionally bound to a local (egress) address.</summary>
    /// <exception cref="SliceMisconfiguredException">A range of the slice is not inside the netns range, or the slice is wholly reserved.</exception>
    public UdpSliceConnector(PortSlice slice, IPAddress? localAddress = null, UdpPortMode mode = UdpPortMode.Shared)
        : this(slice, localAddress, mode, CurrentNamespace.Instance)
    {
    }

    internal UdpSliceConnector(PortSlice slice, IPAddress? localAddress, UdpPortMode mode, ISocketEnvironment environment)
        : this(slice, localAddress, mode, environment, HostFacts.SupportsLocalPortRange())
    {
    }

    // kernelRange false: unique mode uses the bind fallback even where the kernel has IP_LOCAL_PORT_RANGE (tests).
    internal UdpSliceConnector(PortSlice slice, IPAddress? localAddress, UdpPortMode mode, ISocketEnvironment environment, bool kernelRange)
    {
        ArgumentNullException.ThrowIfNull(slice);
        if (!Enum.IsDefined(mode))
        {
            throw new ArgumentOutOfRangeException(nameof(mode), mode, "Unknown UDP port mode.");
        }

        _env = environment;
        Slice = slice;
        LocalAddress = SliceGuard.Unmap(localAddress);
        Mode = mode;
        _packed = [.. slice.Ranges.Select(r => r.Pack())];
        _hints = new BusyPortTable(slice.Count);
        _kernelRange = kernelRange;
        _modeTag = mode == UdpPortMode.Shared ? "shared" : "unique";
        Validate();
    }

    /// <summary>The slice every socket's local port lies in (all of its ranges are used).</summary>
    public PortSlice Slice { get; }

    /// <summary>The egress address sockets bind to, or null to use the address the routing table picks per destination.</summary>
    public IPAddress? LocalAddress { get; }

    /// <summary>How ports are picked.</summary>
    public UdpPortMode Mode { get; }

    /// <summary>The netns range at the last validation.</summary>
    public PortRange NetnsRange { get; private set; }

    /// <summary>Netlink requests made so far (sock_diag lookups and dumps), for measuring the cost per connect.</summary>
    public long NetlinkRoundTrips => Interlocked.Read(ref _roundTrips);

    /// <summary>Re-reads the netns range and reserved ports and checks the slice lies inside the range.</summary>
    /// <exception cref="SliceMisconfiguredException">The slice is (partly) outside the range or wholly reserved.</exception>
    public void Validate()
    {
        (NetnsRange, var reserved) = SliceGuard.Check(_env, Slice);
        Volatile.Write(ref _reserved, reserved);
        Volatile.Write(ref _validatedAt, Environment.TickCount64);
    }

    /// <summary>
    /// Opens a UDP socket connected to <paramref name="remote"/> from a port of the slice. The caller owns the socket;
    /// closing it frees the 4-tuple.
    /// </summary>
    /// <exception cref="SliceExhaustedException">No port of the slice is free toward <paramref name="remote"/> (shared), or none at all (unique).</exception>
    /// <exception cref="SliceMisconfiguredException">The slice is unsafe, the egress address is not local, or the kernel chose a port outside the slice.</exception>
    /// <exception cref="SocketException">The connect itself failed (no route, …).</exception>
    public ValueTask<Socket> ConnectAsync(IPEndPoint remote, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(remote);
        ObjectDisposedException.ThrowIf(_disposed, this);
        cancellationToken.ThrowIfCancellationRequested();
        remote = SliceGuard.Unmap(remote);

        if (remote.Port == 0)
        {
            throw new ArgumentException($"The destination {remote} has port 0.", nameof(remote));
        }

        if (LocalAddress is not null && LocalAddress.AddressFamily != remote.AddressFamily)
        {
            throw new ArgumentException($"The egress address {LocalAddress} and the destination {remote} are of different address families.", nameof(remote));
        }

        if (SliceGuard.IsStale(Volatile.Read(ref _validatedAt), RevalidateInterval))
        {
            Validate();
        }

        PortShareMetrics.RecordAttempt(PortShareMetrics.Udp, _modeTag);

        // UDP connect does no I/O: the work below completes synchronously, so it runs inline rather than on a pool thread.
        return ValueTask.FromResult(Mode == UdpPortMode.Shared ? ConnectShared(remote, cancellationToken) : ConnectUnique(remote, cancellationToken));
    }

    /// <summary>Closes the pooled netlink sockets. Sockets already returned stay open.</summary>
    public void Dispose()
    {
        _disposed = true;
        while (_clients.TryTake(out var client))
        {
            client.Dispose();
        }
    }

    private Socket ConnectUnique(IPEndPoint remote, CancellationToken cancellationToken)
    {
        if (!_kernelRange)
        {
            return ConnectUniqueFallback(remote, cancellationToken);
        }

        // One IP_LOCAL_PORT_RANGE value per socket: start at a range chosen at random (weighted by size), move to the
        // next when the kernel finds it full.
        var ranges = _packed.Length;
        var first = Slice.PickRange(Random.Shared);
        var error = SocketError.WouldBlock;
        for (var i = 0; i < ranges; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (ConnectUniqueRange(remote, _packed[(first + i) % ranges], ref error) is { } socket)
            {
                return socket;
            }

            PortShareMetrics.RecordConflict(PortShareMetrics.Udp, _modeTag);
        }

        PortShareMetrics.RecordExhaustion(PortShareMetrics.Udp, _modeTag);
        throw new SliceExhaustedException(Slice, LocalAddress, remote, error);
    }

    /// <summary>A unique-mode flow from one range; null (and the kernel's error in <paramref name="error"/>) when the range is full.</summary>
    private Socket? ConnectUniqueRange(IPEndPoint remote, uint packed, ref SocketError error)
    {
        var socket = _env.CreateSocket(remote.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            Interop.SocketOptions.SetLocalPortRange(socket, packed);
            try
            {
                if (LocalAddress is not null)
                {
                    socket.Bind(new IPEndPoint(LocalAddress, 0));
                }

                socket.Connect(remote);
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.WouldBlock or SocketError.AddressAlreadyInUse or SocketError.TimedOut)
            {
                // CONFORMANCE E2-E4: UDP autobind exhaustion is EAGAIN; bind(ip, 0) says EADDRINUSE.
                error = ex.SocketErrorCode == SocketError.AddressAlreadyInUse ? SocketError.AddressAlreadyInUse : SocketError.WouldBlock;
                socket.Dispose();
                return null;
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AddressNotAvailable && LocalAddress is not null)
            {
                throw SliceGuard.NotLocal(LocalAddress, ex);
            }

            SliceGuard.EnsureInSlice(socket, Slice, LocalAddress, remote);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private Socket ConnectUniqueFallback(IPEndPoint remote, CancellationToken cancellationToken)
    {
        var local = LocalAddress ?? SliceGuard.Any(remote.AddressFamily);
        var reserved = Volatile.Read(ref _reserved);
        var count = Slice.Count;
        var start = Random.Shared.Next(count);
        var tries = 0;
        for (var i = 0; i < count; i++)
        {
            var offset = (start + i) % count;
            if (reserved[offset])
            {
                continue;
            }

            cancellationToken.ThrowIfCancellationRequested();
            tries++;
            var socket = _env.CreateSocket(remote.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            try
            {
                // No SO_REUSEADDR: the bind itself claims the port for this one flow.
                socket.Bind(new IPEndPoint(local, Slice.PortAt(offset)));
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AddressAlreadyInUse)
            {
                socket.Dispose();
                PortShareMetrics.RecordConflict(PortShareMetrics.Udp, _modeTag);
                continue;
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AddressNotAvailable)
            {
                socket.Dispose();
                throw SliceGuard.NotLocal(LocalAddress, ex);
            }
            catch
            {
                socket.Dispose();
                throw;
            }

            try
            {
                socket.Connect(remote);
                SliceGuard.EnsureInSlice(socket, Slice, LocalAddress, remote);
            }
            catch
            {
                socket.Dispose();
                throw;
            }

            PortShareMetrics.RecordRetries(PortShareMetrics.Udp, _modeTag, tries - 1);
            return socket;
        }

        PortShareMetrics.RecordRetries(PortShareMetrics.Udp, _modeTag, Math.Max(0, tries - 1));
        PortShareMetrics.RecordExhaustion(PortShareMetrics.Udp, _modeTag);
        throw new SliceExhaustedException(Slice, LocalAddress, remote, SocketError.AddressAlreadyInUse);
    }

    /// <summary>
    /// connectx's <c>_connectx_udp</c> (CONFORMANCE "connectx: UDP algorithm") with at most one netlink round trip per
    /// flow: pick a port (random start, skipping ports our own live flows hold and ports recently seen connected to
    /// <paramref name="remote"/>); a port no socket is on is taken with a plain bind (see <see cref="TryClaim"/>);
    /// otherwise bind it with SO_REUSEADDR, clear SO_REUSEADDR as a lock (no other socket can bind the 2-tuple now), check
    /// under the lock with one exact lookup that the kernel would deliver the 4-tuple to this socket (its cookie),
    /// connect, and set SO_REUSEADDR again so flows to other destinations can share the port. The check under the lock
    /// alone keeps the guarantee — never two connected sockets on one 4-tuple: a socket already connected on the
    /// 4-tuple outranks ours in the lookup, and of two claimers racing for one 2-tuple only one sees its own cookie.
    /// connectx's lookup before the claim only saves a bind; here hints (and, in a crowded slice, one dump) do that.
    /// </summary>
    private Socket ConnectShared(IPEndPoint remote, CancellationToken cancellationToken)
    {
        var client = RentClient();
        var before = client.RoundTrips;
        var tries = 0;
        try
        {
            var localAddress = LocalAddress ?? DiscoverSourceAddress(remote);
            var reserved = Volatile.Read(ref _reserved);
            var count = Slice.Count;

            // What earlier connects learned toward this destination (as the TCP fallback does): ports of our own live
            // flows are skipped outright, ports another socket was seen connected on are skipped in the first pass, so a
            // crowded slice costs no claim per busy port on every connect.
            var hints = _hints.For(remote);

            // A port can look busy only for a moment: another flow holds it unconnected inside its critical section, or
            // a claim lost a race. Exhaustion is declared only after a pass that saw nothing transient; while passes keep
            // meeting transient conflicts they are retried with a growing pause, for up to TransientPatienceMilliseconds,
            // so a loaded machine (a claimer descheduled inside its critical section) does not look like a full slice.
            var began = Environment.TickCount64;
            for (var pass = 0; ; pass++)
            {
                var transient = false;
                var useHints = pass == 0;
                var skippedHinted = false;

                // RFC 6056: a random start spreads concurrent callers over the slice.
                var start = Random.Shared.Next(count);
                var lost = 0;

                // One clock read per pass: a crowded slice is walked port by port, and hints are seconds long.
                var now = Environment.TickCount64;
                bool[]? busy = null;
                for (var i = 0; i < count; i++)
                {
                    var offset = start + i;
                    if (offset >= count)
                    {
                        offset -= count;
                    }

                    if (reserved[offset] || (busy is not null && busy[offset]))
                    {
                        continue;
                    }

                    var entry = hints.Read(offset);
                    if (entry == BusyPortTable.Held)
                    {
                        continue;
                    }

                    if (useHints && entry > now)
                    {
                        skippedHinted = true;
                        continue;
                    }

                    cancellationToken.ThrowIfCancellationRequested();
                    if (busy is null && lost == LookupsBeforeDump)
                    {
                        // Crowded: one dump tells every port in use toward this destination, instead of a claim per port.
                        busy = BusyToward(client, localAddress, remote, hints, now, ref transient);
                        if (busy[offset])
                        {
                            continue;
                        }
                    }

                    tries++;
                    var local = new IPEndPoint(localAddress, Slice.PortAt(offset));
                    switch (TryClaim(client, local, remote, out var socket))
                    {
                        case Claim.Won:
                            socket!.Track(hints, offset);
                            PortShareMetrics.RecordRetries(PortShareMetrics.Udp, _modeTag, tries - 1);
                            return socket;
                        case Claim.Connected:
                            // Another socket is connected on this 4-tuple: not ours toward this destination for a while.
                            hints.MarkRefused(offset, now);
                            break;
                        default:
                            // Locked (another claimer's critical section, or a socket bound without SO_REUSEADDR).
                            transient = true;
                            break;
                    }

                    lost++;
                    PortShareMetrics.RecordConflict(PortShareMetrics.Udp, _modeTag);
                }

                // A first pass that skipped hinted ports proves nothing yet: hints can be stale, so look at them too.
                if ((!transient && !(useHints && skippedHinted)) || Environment.TickCount64 - began > TransientPatienceMilliseconds)
                {
                    break;
                }

                if (pass < 2)
                {
                    Thread.Yield();
                }
                else
                {
                    Thread.Sleep(Math.Min(pass - 1, 10));
                }
            }

            PortShareMetrics.RecordRetries(PortShareMetrics.Udp, _modeTag, Math.Max(0, tries - 1));
            PortShareMetrics.RecordExhaustion(PortShareMetrics.Udp, _modeTag);
            throw new SliceExhaustedException(Slice, localAddress, remote, SocketError.WouldBlock);
        }
        finally
        {
            Interlocked.Add(ref _roundTrips, client.RoundTrips - before);
            ReturnClient(client);
        }
    }

    private enum Claim
    {
        Won,

        /// <summary>A socket connected on the 4-tuple outranks ours.</summary>
        Connected,

        /// <summary>The 2-tuple is locked (bind refused), or an unconnected socket outranks ours.</summary>
        Locked,
    }

    /// <summary>
    /// One claim of one port. A bind without SO_REUSEADDR succeeds only when no socket at all is on the port (any
    /// address of the family, dual-stack included): then no 4-tuple on it can be taken and nobody can bind beside us
    /// until we set SO_REUSEADDR after connecting, so the port is ours with no netlink round trip. Otherwise the port is
    /// shared with flows to other destinations, and the lock protocol decides, with one round trip (the lookup under
    /// the lock).
    /// </summary>
    private Claim TryClaim(SockDiagClient client, IPEndPoint local, IPEndPoint remote, out SliceSocket? claimed)
    {
        claimed = null;
        var family = remote.AddressFamily;
        var socket = _env.CreateSocket(() => new SliceSocket(family, SocketType.Dgram, ProtocolType.Udp));
        try
        {
            if (!TryBind(socket, local))
            {
                // Raw SO_REUSEADDR: the managed ReuseAddress option would also set SO_REUSEPORT, which changes delivery.
                Interop.SocketOptions.SetInt(socket, Interop.SocketOptions.SOL_SOCKET, Interop.SocketOptions.SO_REUSEADDR, 1);
                if (!TryBind(socket, local))
                {
                    // A socket on this 2-tuple holds the lock (or never set SO_REUSEADDR): not ours to share now.
                    socket.Dispose();
                    return Claim.Locked;
                }

                // Critical section: with SO_REUSEADDR cleared no other socket can bind this 2-tuple (CONFORMANCE E7).
                Interop.SocketOptions.SetInt(socket, Interop.SocketOptions.SOL_SOCKET, Interop.SocketOptions.SO_REUSEADDR, 0);
                var owner = client.LookupUdp(local, remote);
                if (owner is null || owner.Cookie != Interop.SocketOptions.GetCookie(socket))
                {
                    // A socket already connected on the 4-tuple outranks ours, or one that bound before our lock comes
                    // first. This socket never connected, so discarding it is enough (connectx dissolves it, then raises
                    // EADDRINUSE).
                    socket.Dispose();
                    return owner is { HasRemote: true } ? Claim.Connected : Claim.Locked;
                }
            }

            socket.Connect(remote);
            Interop.SocketOptions.SetInt(socket, Interop.SocketOptions.SOL_SOCKET, Interop.SocketOptions.SO_REUSEADDR, 1);
            SliceGuard.EnsureInSlice(socket, Slice, LocalAddress, remote);
            claimed = socket;
            return Claim.Won;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static bool TryBind(Socket socket, IPEndPoint local) => SliceGuard.TryBind(socket, local);

    /// <summary>
    /// Slice offsets where a UDP socket would take datagrams from <paramref name="remote"/>: connected to it, or bound and
    /// unconnected. For an IPv4 flow the IPv6 sockets are listed too: a dual-stack socket on <c>[::]</c> (or on the
    /// IPv4-mapped address) receives IPv4 datagrams.
    /// </summary>
    private bool[] BusyToward(SockDiagClient client, IPAddress local, IPEndPoint remote, PortHints hints, long now, ref bool transient)
    {
        var busy = new bool[Slice.Count];
        var families = remote.AddressFamily == AddressFamily.InterNetwork
            ? new[] { AddressFamily.InterNetwork, AddressFamily.InterNetworkV6 }
            : [AddressFamily.InterNetworkV6];
        foreach (var family in families)
        {
            foreach (var s in client.Dump(family, ProtocolType.Udp, SocketStates.Established | SocketStates.Close, Slice.Span))
            {
                var index = Slice.IndexOf(s.Local.Port);
                if (index < 0 || !(SameAddress(s.Local.Address, local) || IsAny(s.Local.Address)))
                {
                    continue;
                }

                if (!s.HasRemote || (SameAddress(s.Remote.Address, remote.Address) && s.Remote.Port == remote.Port))
                {
                    busy[index] = true;
                    transient |= !s.HasRemote;
                    if (s.HasRemote)
                    {
                        hints.MarkRefused(index, now);
                    }
                }
            }
        }

        return busy;
    }

    /// <summary>
    /// connectx step 1: the source address the routing table picks toward <paramref name="remote"/>. Asked of the kernel's
    /// routing table (rtnetlink), so no probe socket binds a port: connectx's probe connects with SO_REUSEADDR and can sit
    /// for a moment on a 4-tuple another flow holds. Remembered per destination address for <see cref="RevalidateInterval"/>.
    /// </summary>
    private IPAddress DiscoverSourceAddress(IPEndPoint remote)
    {
        var now = Environment.TickCount64;
        if (_sources.TryGetValue(remote.Address, out var known) && known.Until > now)
        {
            return known.Source;
        }

        var source = RouteLookup.PreferredSource(_env, remote.Address) ?? Probe(remote);
        if (_sources.Count >= MaxRememberedSources)
        {
            _sources.Clear();
        }

        _sources[remote.Address] = (source, now + (long)RevalidateInterval.TotalMilliseconds);
        return source;
    }

    /// <summary>A route that names no source: ask a probe socket's connect (without SO_REUSEADDR, so it never shares a 4-tuple).</summary>
    private IPAddress Probe(IPEndPoint remote)
    {
        using var probe = _env.CreateSocket(remote.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            probe.Connect(remote);
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.WouldBlock)
        {
            throw new SliceExhaustedException(Slice, null, remote, SocketError.WouldBlock, "every ephemeral port of this network namespace is in use, so the source address could not be found; give the egress address");
        }

        return ((IPEndPoint)probe.LocalEndPoint!).Address;
    }

    /// <summary>Equal addresses, an IPv4-mapped IPv6 address equal to its IPv4 address, and a link-local address equal with or without its scope.</summary>
    private static bool SameAddress(IPAddress a, IPAddress b)
    {
        if (a.IsIPv4MappedToIPv6)
        {
            a = a.MapToIPv4();
        }

        if (b.IsIPv4MappedToIPv6)
        {
            b = b.MapToIPv4();
        }

        if (a.AddressFamily != b.AddressFamily)
        {
            return false;
        }

        Span<byte> x = stackalloc byte[16];
        Span<byte> y = stackalloc byte[16];
        a.TryWriteBytes(x, out var n);
        b.TryWriteBytes(y, out _);
        return x[..n].SequenceEqual(y[..n])
            && (a.AddressFamily != AddressFamily.InterNetworkV6 || a.ScopeId == 0 || b.ScopeId == 0 || a.ScopeId == b.ScopeId);
    }

    private SockDiagClient RentClient() => _clients.TryTake(out var client) ? client : SockDiagClient.Open(_env);

    private void ReturnClient(SockDiagClient client)
    {
        if (_disposed || _clients.Count >= MaxPooledClients)
        {
            client.Dispose();
        }
        else
        {
            _clients.Add(client);
        }
    }

    private static bool IsAny(IPAddress address) => address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any) || (address.IsIPv4MappedToIPv6 && address.MapToIPv4().Equals(IPAddress.Any));

}
