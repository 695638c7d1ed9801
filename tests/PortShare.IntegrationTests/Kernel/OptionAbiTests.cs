using System.Net;
using System.Net.Sockets;
using PortShare.IntegrationTests.Infrastructure;

namespace PortShare.IntegrationTests.Kernel;

/// <summary>CONFORMANCE.md section A: the IP_LOCAL_PORT_RANGE socket option ABI, against the live kernel.</summary>
[Trait("Category", "RequiresRoot")]
public class OptionAbiTests
{
    public static TheoryData<AddressFamily, SocketType, ProtocolType> FourKinds => new()
    {
        { AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp },
        { AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp },
        { AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp },
        { AddressFamily.InterNetworkV6, SocketType.Dgram, ProtocolType.Udp },
    };

    [Theory]
    [MemberData(nameof(FourKinds))]
    public void Get_set_round_trip_raw_and_unset(AddressFamily family, SocketType type, ProtocolType protocol)
    {
        Root.Require();
        using var ns = TestNetns.Create();
        using var s = ns.Socket(family, type, protocol);

        Assert.Equal(0u, Interop.SocketOptions.GetLocalPortRange(s)); // A1
        Interop.SocketOptions.SetLocalPortRange(s, PortRange.PackRaw(12345, 54321)); // A2 (outside the netns range: stored raw)
        Assert.Equal(PortRange.PackRaw(12345, 54321), Interop.SocketOptions.GetLocalPortRange(s));
        Interop.SocketOptions.SetLocalPortRange(s, 0); // A3
        Assert.Equal(0u, Interop.SocketOptions.GetLocalPortRange(s));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(8)]
    [InlineData(0)]
    [InlineData(3)]
    public void Wrong_option_length_is_EINVAL(int length)
    {
        Root.Require();
        using var ns = TestNetns.Create();
        using var s = ns.Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var bytes = new byte[length];
        if (length >= 2)
        {
            BitConverter.TryWriteBytes(bytes.AsSpan(0, 2), (ushort)40000);
        }

        var ex = Assert.Throws<SocketException>(() => s.SetRawSocketOption(0, Interop.SocketOptions.IP_LOCAL_PORT_RANGE, bytes)); // A4-A6, A17

        // .NET passes a NULL pointer for an empty span, which fails as EFAULT before the length check.
        Assert.Equal(length == 0 ? SocketError.Fault : SocketError.InvalidArgument, ex.SocketErrorCode);
    }

    [Fact]
    public void Low_above_high_is_EINVAL_and_leaves_the_previous_value()
    {
        Root.Require();
        using var ns = TestNetns.Create();
        using var s = ns.Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        Interop.SocketOptions.SetLocalPortRange(s, PortRange.PackRaw(40000, 40009));
        var ex = Assert.Throws<SocketException>(() => Interop.SocketOptions.SetLocalPortRange(s, PortRange.PackRaw(40222, 40111))); // A7
        Assert.Equal(SocketError.InvalidArgument, ex.SocketErrorCode);
        Assert.Equal(PortRange.PackRaw(40000, 40009), Interop.SocketOptions.GetLocalPortRange(s)); // A9
    }

    [Theory]
    [InlineData(45000, 45000)]
    [InlineData(0, 40000)]
    [InlineData(49999, 0)]
    [InlineData(65535, 0)]
    [InlineData(1, 65535)]
    [InlineData(60000, 60000)]
    public void Edge_values_are_accepted_verbatim(int lo, int hi)
    {
        Root.Require();
        using var ns = TestNetns.Create();
        using var s = ns.Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
        Interop.SocketOptions.SetLocalPortRange(s, PortRange.PackRaw((ushort)lo, (ushort)hi)); // A8, A12
        Assert.Equal(PortRange.PackRaw((ushort)lo, (ushort)hi), Interop.SocketOptions.GetLocalPortRange(s));
    }

    [Fact]
    public void Getsockopt_copies_at_most_four_bytes()
    {
        Root.Require();
        using var ns = TestNetns.Create();
        using var s = ns.Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        Interop.SocketOptions.SetLocalPortRange(s, PortRange.PackRaw(40001, 40100));
        var big = new byte[8];
        Assert.Equal(4, s.GetRawSocketOption(0, 51, big)); // A10
        var small = new byte[2];
        Assert.Equal(2, s.GetRawSocketOption(0, 51, small));
        Assert.Equal(40001, BitConverter.ToUInt16(small));
    }

    [Fact]
    public void Level_IPPROTO_IPV6_silently_sets_another_option()
    {
        Root.Require();
        using var ns = TestNetns.Create();
        using var s = ns.Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);

        // A13: 51 at level 41 is IPV6_RECVHOPLIMIT. The call succeeds and the range stays unset, which is why
        // PortShare always uses level SOL_IP.
        s.SetRawSocketOption(41, 51, BitConverter.GetBytes(PortRange.PackRaw(40000, 40009)));
        Assert.Equal(0u, Interop.SocketOptions.GetLocalPortRange(s));
    }

    [Fact]
    public void Setting_after_bind_does_not_move_the_port()
    {
        Root.Require();
        using var ns = TestNetns.Create();
        using var s = ns.Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 45555));
        Interop.SocketOptions.SetLocalPortRange(s, PortRange.PackRaw(40000, 40009)); // A15
        Assert.Equal(45555, ((IPEndPoint)s.LocalEndPoint!).Port);
        Assert.Equal(PortRange.PackRaw(40000, 40009), Interop.SocketOptions.GetLocalPortRange(s));
    }

    [Fact]
    public void Typed_SetSocketOption_cannot_set_option_51()
    {
        Root.Require();
        using var ns = TestNetns.Create();
        using var s = ns.Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var ex = Assert.Throws<SocketException>(() => s.SetSocketOption(SocketOptionLevel.IP, (SocketOptionName)51, (int)PortRange.PackRaw(40000, 40009))); // A16
        Assert.Equal(SocketError.OperationNotSupported, ex.SocketErrorCode);
        Assert.True(HostFacts.SupportsLocalPortRange()); // A14: this kernel has the option; older ones answer ENOPROTOOPT
    }
}
