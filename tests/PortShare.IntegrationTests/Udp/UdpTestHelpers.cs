using System.Net;
using System.Net.Sockets;
using PortShare.Diagnostics;
using PortShare.IntegrationTests.Infrastructure;

namespace PortShare.IntegrationTests.Udp;

internal static class UdpTestHelpers
{
    /// <summary>A bound UDP socket inside the namespace, on <paramref name="address"/> (port 0 = any free).</summary>
    public static Socket UdpListen(this TestNetns ns, IPAddress address, int port = 0) => ns.Ns.Run(() =>
    {
        var s = new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        s.Bind(new IPEndPoint(address, port));
        return s;
    });

    public static IPEndPoint Endpoint(this Socket s) => (IPEndPoint)s.LocalEndPoint!;

    /// <summary>
    /// <paramref name="count"/> destination addresses in the namespace: 127.0.0.1.. on IPv4 (lo covers 127/8), or fd00:5::1..
    /// added to lo on IPv6 (nodad, so they are usable at once).
    /// </summary>
    public static IPAddress[] Destinations(this TestNetns ns, AddressFamily family, int count)
    {
        var result = new IPAddress[count];
        for (var i = 0; i < count; i++)
        {
            if (family == AddressFamily.InterNetwork)
            {
                result[i] = IPAddress.Parse($"127.0.0.{i + 1}");
            }
            else if (i == 0)
            {
                result[i] = IPAddress.IPv6Loopback;
            }
            else
            {
                result[i] = IPAddress.Parse($"fd00:5::{i + 1:x}");
                ns.Ip("addr", "add", $"{result[i]}/128", "dev", "lo", "nodad");
            }
        }

        return result;
    }

    public static IReadOnlyList<DiagSocket> DumpUdp(this TestNetns ns, AddressFamily family, SocketStates states = SocketStates.Established | SocketStates.Close)
    {
        using var client = SockDiagClient.Open(ns.Ns);
        return client.Dump(family, ProtocolType.Udp, states);
    }

    public static void SetReuseAddr(Socket s, bool on) =>
        s.SetRawSocketOption(1, 2, BitConverter.GetBytes(on ? 1 : 0));

    /// <summary>Receives datagrams until none arrives for <paramref name="quiet"/>; returns each sender.</summary>
    public static List<IPEndPoint> DrainSenders(Socket listener, TimeSpan quiet)
    {
        var senders = new List<IPEndPoint>();
        var buffer = new byte[256];
        listener.ReceiveTimeout = (int)quiet.TotalMilliseconds;
        while (true)
        {
            EndPoint from = new IPEndPoint(listener.AddressFamily == AddressFamily.InterNetwork ? IPAddress.Any : IPAddress.IPv6Any, 0);
            try
            {
                listener.ReceiveFrom(buffer, ref from);
                senders.Add((IPEndPoint)from);
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.TimedOut or SocketError.WouldBlock)
            {
                return senders;
            }
        }
    }
}
