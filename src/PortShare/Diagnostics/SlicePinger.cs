using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using PortShare.Connect;

namespace PortShare.Diagnostics;

/// <summary>One echo reply.</summary>
/// <param name="Sequence">The echo sequence number it answers.</param>
/// <param name="From">The address that answered.</param>
/// <param name="RoundTrip">Time from sending the request to receiving this reply.</param>
/// <param name="Bytes">The ICMP message's size (header and payload).</param>
public sealed record PingReply(ushort Sequence, IPAddress From, TimeSpan RoundTrip, int Bytes);

/// <summary>
/// ICMP echo from a shared egress address, with an echo id inside the host's slice, so the router steers the reply back
/// to this host (it looks echo replies up by id in the same port map; an id no slice owns is dropped, and an id in
/// another host's slice reaches that host). Uses a ping socket (<c>SOCK_DGRAM</c>, <c>IPPROTO_ICMP</c> or
/// <c>IPPROTO_ICMPV6</c>): the bound "port" of a ping socket is its echo id, and <c>IP_LOCAL_PORT_RANGE</c> does not
/// apply to it, which is why a plain <c>ping -I SHARED_IP</c> gets an arbitrary id and no reply. Needs the caller's group
/// inside <c>net.ipv4.ping_group_range</c> (which governs IPv6 too); root is not exempt. One request at a time.
/// </summary>
public sealed class SlicePinger : IDisposable
{
    /// <summary>The payload size of each request, as <c>ping</c> sends by default.</summary>
    public const int PayloadSize = 56;

    private const int HeaderSize = 8;
    private readonly Socket _socket;
    private readonly byte[] _request = new byte[HeaderSize + PayloadSize];
    private readonly byte[] _reply = new byte[1500];

    /// <summary>Opens a ping socket on <paramref name="egress"/> bound to a free echo id inside <paramref name="ranges"/>.</summary>
    /// <exception cref="ArgumentException">No ranges, or an address that is neither IPv4 nor IPv6.</exception>
    /// <exception cref="PortShareException">Ping sockets are not allowed for this group, the address is not on this
    /// host, or every id of the slice is taken by other ping sockets; the message says which and how to fix it.</exception>
    public SlicePinger(IReadOnlyList<PortRange> ranges, IPAddress egress)
        : this(ranges, egress, CurrentNamespace.Instance)
    {
    }

    internal SlicePinger(IReadOnlyList<PortRange> ranges, IPAddress egress, ISocketEnvironment environment)
    {
        ArgumentNullException.ThrowIfNull(ranges);
        ArgumentNullException.ThrowIfNull(egress);
        if (ranges.Count == 0)
        {
            throw new ArgumentException("A slice needs at least one range to pick an echo id from.", nameof(ranges));
        }

        if (egress.AddressFamily is not (AddressFamily.InterNetwork or AddressFamily.InterNetworkV6))
        {
            throw new ArgumentException($"Egress address {egress} is neither IPv4 nor IPv6.", nameof(egress));
        }

        Egress = egress;
        Ranges = ranges;
        var v6 = egress.AddressFamily == AddressFamily.InterNetworkV6;
        try
        {
            _socket = environment.CreateSocket(egress.AddressFamily, SocketType.Dgram, v6 ? ProtocolType.IcmpV6 : ProtocolType.Icmp);
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.AccessDenied or SocketError.ProtocolNotSupported or SocketError.OperationNotSupported)
        {
            throw new PortShareException(
                $"Cannot open an {(v6 ? "ICMPv6" : "ICMP")} ping socket ({ex.Message}): this process's group is outside net.ipv4.ping_group_range (root is not exempt; the range governs IPv6 too). Fix: sysctl -w net.ipv4.ping_group_range='0 2147483647'.",
                ex);
        }

        try
        {
            // .NET creates the socket with SO_REUSEADDR, and the kernel lets two ping sockets share an echo id when both
            // have it: replies would then reach only one of them. Without it, a taken id is EADDRINUSE (and no later
            // socket can take ours).
            Interop.SocketOptions.SetInt(_socket, Interop.SocketOptions.SOL_SOCKET, Interop.SocketOptions.SO_REUSEADDR, 0);
            Id = BindId(ranges, egress);
        }
        catch
        {
            _socket.Dispose();
            throw;
        }
    }

    /// <summary>The egress address requests leave from.</summary>
    public IPAddress Egress { get; }

    /// <summary>The slice the echo id was chosen from.</summary>
    public IReadOnlyList<PortRange> Ranges { get; }

    /// <summary>The echo id of every request (the ping socket's bound port), inside <see cref="Ranges"/>.</summary>
    public ushort Id { get; }

    /// <summary>
    /// Sends one echo request with <paramref name="sequence"/> to <paramref name="destination"/> and waits up to
    /// <paramref name="timeout"/> for its reply; null when none came in time. Late replies to earlier requests are skipped.
    /// </summary>
    /// <exception cref="ArgumentException">The destination's family differs from the egress address's.</exception>
    /// <exception cref="SocketException">The kernel refused to send (e.g. no route).</exception>
    public async ValueTask<PingReply?> PingAsync(IPAddress destination, ushort sequence, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(destination);
        if (destination.AddressFamily != Egress.AddressFamily)
        {
            throw new ArgumentException($"Destination {destination} is not of the family of egress address {Egress}.", nameof(destination));
        }

        var v6 = Egress.AddressFamily == AddressFamily.InterNetworkV6;
        WriteRequest(_request, v6, Id, sequence);
        var sent = Stopwatch.GetTimestamp();
        await _socket.SendToAsync(_request, SocketFlags.None, new IPEndPoint(destination, 0), cancellationToken).ConfigureAwait(false);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            while (true)
            {
                var received = await _socket.ReceiveFromAsync(_reply, SocketFlags.None, new IPEndPoint(v6 ? IPAddress.IPv6Any : IPAddress.Any, 0), deadline.Token).ConfigureAwait(false);
                if (TryReadReply(_reply.AsSpan(0, received.ReceivedBytes), v6, out var seq) && seq == sequence)
                {
                    return new PingReply(seq, ((IPEndPoint)received.RemoteEndPoint).Address, Stopwatch.GetElapsedTime(sent), received.ReceivedBytes);
                }
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }

    /// <summary>Closes the socket (and frees the echo id).</summary>
    public void Dispose() => _socket.Dispose();

    /// <summary>An echo request: type, code, checksum and id are the kernel's to fill in on a ping socket except type and sequence.</summary>
    internal static void WriteRequest(Span<byte> buffer, bool v6, ushort id, ushort sequence)
    {
        buffer.Clear();
        buffer[0] = v6 ? (byte)128 : (byte)8;
        BinaryPrimitives.WriteUInt16BigEndian(buffer[4..], id);
        BinaryPrimitives.WriteUInt16BigEndian(buffer[6..], sequence);
        for (var i = HeaderSize; i < buffer.Length; i++)
        {
            buffer[i] = (byte)i;
        }
    }

    /// <summary>Reads an echo reply's sequence number; false for anything else or a short message.</summary>
    internal static bool TryReadReply(ReadOnlySpan<byte> message, bool v6, out ushort sequence)
    {
        sequence = 0;
        if (message.Length < HeaderSize || message[0] != (v6 ? 129 : 0) || message[1] != 0)
        {
            return false;
        }

        sequence = BinaryPrimitives.ReadUInt16BigEndian(message[6..]);
        return true;
    }

    /// <summary>The <paramref name="k"/>-th id of the slice, counting across its ranges in order.</summary>
    internal static ushort NthId(IReadOnlyList<PortRange> ranges, long k)
    {
        foreach (var r in ranges)
        {
            if (k < r.Count)
            {
                return (ushort)(r.Low + k);
            }

            k -= r.Count;
        }

        throw new ArgumentOutOfRangeException(nameof(k));
    }

    private ushort BindId(IReadOnlyList<PortRange> ranges, IPAddress egress)
    {
        // From a random id, walk every id of the slice once: other ping sockets (health checks, other pingers) may hold some.
        var total = ranges.Sum(r => (long)r.Count);
        var start = Random.Shared.NextInt64(total);
        for (long i = 0; i < total; i++)
        {
            var id = NthId(ranges, (start + i) % total);
            try
            {
                _socket.Bind(new IPEndPoint(egress, id));
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AddressAlreadyInUse)
            {
                continue;
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AddressNotAvailable)
            {
                throw new PortShareException($"Cannot bind a ping socket to {egress}: the address is not on this host. Fix: portshare host apply (it puts the egress address on lo).", ex);
            }

            // Fail closed, as the connectors do: the id the kernel reports must be the one asked for.
            var bound = ((IPEndPoint)_socket.LocalEndPoint!).Port;
            if (bound != id)
            {
                throw new SliceMisconfiguredException($"The ping socket on {egress} was bound to echo id {id} but reports {bound}; refusing to send from an id outside the slice.");
            }

            return id;
        }

        throw new PortShareException($"Every echo id of the slice {string.Join(", ", ranges)} on {egress} is held by another ping socket; close some, or wait.");
    }
}
