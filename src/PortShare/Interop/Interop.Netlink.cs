using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace PortShare;

internal static partial class Interop
{
    /// <summary>
    /// The one native call netlink needs: the managed <see cref="Socket"/> constructor rejects AF_NETLINK, so the fd is made
    /// here and wrapped in a <see cref="SafeSocketHandle"/>; from there on it is managed Send/Receive.
    /// </summary>
    internal static partial class Netlink
    {
        internal const int AF_NETLINK = 16;
        internal const int SOCK_RAW = 3;
        internal const int SOCK_CLOEXEC = 0x80000;
        internal const int NETLINK_ROUTE = 0;
        internal const int NETLINK_SOCK_DIAG = 4;

        [LibraryImport("libc", EntryPoint = "socket", SetLastError = true)]
        private static partial int CreateSocket(int domain, int type, int protocol);

        /// <summary>Opens a netlink socket of <paramref name="protocol"/> in the calling thread's network namespace.</summary>
        internal static Socket OpenSocket(int protocol)
        {
            var fd = CreateSocket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
            if (fd < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                throw new PortShareException($"Cannot open a netlink socket (protocol {protocol}): {Marshal.GetPInvokeErrorMessage(errno)}.");
            }

            return new Socket(new SafeSocketHandle(fd, ownsHandle: true));
        }
    }
}
