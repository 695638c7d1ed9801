using System.Net.Sockets;

namespace PortShare;

internal static partial class Interop
{
    /// <summary>What an errno means for a port-slice socket, in words a person understands.</summary>
    internal static class Errors
    {
        internal static string Describe(SocketError error) => error switch
        {
            SocketError.ConnectionRefused => "connection refused (nothing listens there)",
            SocketError.TimedOut => "timed out",
            SocketError.HostUnreachable => "host unreachable",
            SocketError.NetworkUnreachable => "network unreachable (no route)",
            SocketError.AddressNotAvailable => "address not available (the local address is not on this host, or every port is busy toward this destination)",
            SocketError.AddressAlreadyInUse => "address already in use",
            SocketError.AccessDenied => "permission denied",
            SocketError.ProtocolOption => "the kernel does not know this socket option (ENOPROTOOPT)",
            SocketError.InvalidArgument => "invalid argument (EINVAL)",
            SocketError.WouldBlock => "resource temporarily unavailable (EAGAIN)",
            SocketError.AddressFamilyNotSupported => "address family not supported (is IPv6 disabled?)",
            _ => error.ToString(),
        };
    }
}
