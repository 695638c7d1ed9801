using System.Net.Sockets;

namespace PortShare;

internal static partial class Interop
{
    /// <summary>What an errno means for a port-slice socket, in words a person understands.</summary>
    internal static class Errors
    {
        /// <summary>The <see cref="SocketError"/> of a Linux errno that netlink returns (as the runtime's table maps them).</summary>
        internal static SocketError FromErrno(int errno) => errno switch
        {
            1 or 13 => SocketError.AccessDenied,          // EPERM, EACCES
            11 => SocketError.WouldBlock,                // EAGAIN
            22 => SocketError.InvalidArgument,           // EINVAL
            97 => SocketError.AddressFamilyNotSupported, // EAFNOSUPPORT
            99 => SocketError.AddressNotAvailable,       // EADDRNOTAVAIL
            101 => SocketError.NetworkUnreachable,       // ENETUNREACH
            113 => SocketError.HostUnreachable,          // EHOSTUNREACH
            _ => SocketError.SocketError,
        };

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
            SocketError.HostNotFound => "no such host (the name does not resolve)",
            SocketError.TryAgain => "the name could not be resolved now (DNS temporarily failed; try again)",
            SocketError.NoData => "the name has no address",
            SocketError.NoRecovery => "the name could not be resolved (DNS failed)",
            _ => $"socket error {(int)error} ({error})",
        };
    }
}
