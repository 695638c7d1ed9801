using System.Net;
using System.Net.Sockets;
using BenchmarkDotNet.Attributes;
using PortShare.Diagnostics;

namespace PortShare.Benchmarks;

/// <summary>
/// The sock_diag messages of a UDP claim and a slice status: encode an exact lookup (the baseline), encode a dump request
/// with the local-port bytecode filter, and decode a dump reply of 64 sockets (what one status datagram holds).
/// </summary>
[MemoryDiagnoser]
public class NetlinkBenchmarks
{
    private readonly byte[] _buffer = new byte[256];
    private readonly InetDiagSockId _id = new(IPAddress.Parse("127.0.0.2"), 1111, IPAddress.Parse("127.0.0.1"), 44000, 0, SockDiag.INET_DIAG_NOCOOKIE);
    private readonly InetDiagSockId _empty = InetDiagSockId.Empty(AddressFamily.InterNetwork);
    private readonly PortRange _slice = new(40000, 40511);
    private byte[] _reply = null!;

    [GlobalSetup]
    public void Setup()
    {
        // 64 inet_diag_msg replies (72-byte body each, plus an 8-byte attribute the reader skips) and NLMSG_DONE.
        var reply = new List<byte>();
        for (var i = 0; i < 64; i++)
        {
            var m = new byte[SockDiag.NLMSG_HDRLEN + SockDiag.MsgSize + 8];
            BitConverter.TryWriteBytes(m.AsSpan(0), m.Length);
            BitConverter.TryWriteBytes(m.AsSpan(4), SockDiag.SOCK_DIAG_BY_FAMILY);
            BitConverter.TryWriteBytes(m.AsSpan(6), SockDiag.NLM_F_MULTI);
            var p = m.AsSpan(SockDiag.NLMSG_HDRLEN);
            p[0] = SockDiag.AF_INET;
            p[1] = 1; // TCP_ESTABLISHED
            var id = new InetDiagSockId(IPAddress.Parse("192.0.2.1"), (ushort)(40000 + i), IPAddress.Parse("203.0.113.10"), 443, 0, (ulong)i);
            NetlinkWriter.WriteSockId(p.Slice(4, SockDiag.SockIdSize), id);
            BitConverter.TryWriteBytes(p[(4 + SockDiag.SockIdSize + 12)..], 1000u);
            BitConverter.TryWriteBytes(p[(4 + SockDiag.SockIdSize + 16)..], 12345u + (uint)i);
            BitConverter.TryWriteBytes(m.AsSpan(m.Length - 8), (ushort)8);
            reply.AddRange(m);
        }

        var done = new byte[SockDiag.NLMSG_HDRLEN + 4];
        BitConverter.TryWriteBytes(done.AsSpan(0), done.Length);
        BitConverter.TryWriteBytes(done.AsSpan(4), SockDiag.NLMSG_DONE);
        reply.AddRange(done);
        _reply = [.. reply];
        if (DecodeDump() != 64)
        {
            throw new InvalidOperationException("The synthetic dump reply does not decode to 64 sockets.");
        }
    }

    [Benchmark(Baseline = true)]
    public int EncodeExactLookup()
    {
        var writer = new NetlinkWriter(_buffer);
        var start = writer.BeginMessage(SockDiag.SOCK_DIAG_BY_FAMILY, SockDiag.NLM_F_REQUEST, 7);
        writer.WriteInetDiagRequest(AddressFamily.InterNetwork, ProtocolType.Udp, SocketStates.Established, _id);
        writer.EndMessage(start);
        return writer.Length;
    }

    [Benchmark]
    public int EncodeDumpWithPortFilter()
    {
        var writer = new NetlinkWriter(_buffer);
        var start = writer.BeginMessage(SockDiag.SOCK_DIAG_BY_FAMILY, SockDiag.NLM_F_REQUEST | SockDiag.NLM_F_DUMP, 1);
        writer.WriteInetDiagRequest(AddressFamily.InterNetwork, ProtocolType.Tcp, SocketStates.All, _empty);
        writer.WriteLocalPortFilter(_slice);
        writer.EndMessage(start);
        return writer.Length;
    }

    /// <summary>Decodes a 64-socket dump datagram into <see cref="DiagSocket"/>s.</summary>
    [Benchmark]
    public int DecodeDump()
    {
        var reader = new NetlinkReader(_reply);
        var n = 0;
        while (reader.TryReadMessage(out var header, out var payload) && header.Type != SockDiag.NLMSG_DONE)
        {
            if (NetlinkReader.TryReadInetDiagMessage(payload, ProtocolType.Tcp, out var socket) && socket.Local.Port != 0)
            {
                n++;
            }
        }

        return n;
    }
}
