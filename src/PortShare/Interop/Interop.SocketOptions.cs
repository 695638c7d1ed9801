using System.Buffers.Binary;
using System.Net.Sockets;

namespace PortShare;

internal static partial class Interop
{
    /// <summary>
    /// Socket options .NET has no typed name for. <c>Socket.SetSocketOption</c> rejects them
    /// (<c>OperationNotSupported</c>), so they go through <c>SetRawSocketOption</c>: no P/Invoke needed.
    /// </summary>
    internal static class SocketOptions
    {
        internal const int SOL_SOCKET = 1;
        internal const int SOL_IP = 0;
        internal const int SO_REUSEADDR = 2;
        internal const int SO_COOKIE = 57;
        internal const int IP_BIND_ADDRESS_NO_PORT = 24;
        internal const int IP_LOCAL_PORT_RANGE = 51;

        /// <summary>Sets <c>IP_LOCAL_PORT_RANGE</c> at level SOL_IP (also on AF_INET6 sockets: level 41 would set IPV6_RECVHOPLIMIT instead).</summary>
        internal static void SetLocalPortRange(Socket socket, uint packed)
        {
            Span<byte> value = stackalloc byte[sizeof(uint)];
            BinaryPrimitives.WriteUInt32LittleEndian(value, packed);
            if (!BitConverter.IsLittleEndian)
            {
                BinaryPrimitives.WriteUInt32BigEndian(value, packed);
            }

            socket.SetRawSocketOption(SOL_IP, IP_LOCAL_PORT_RANGE, value);
        }

        /// <summary>Reads <c>IP_LOCAL_PORT_RANGE</c>: the raw packed value that was set, 0 when never set.</summary>
        internal static uint GetLocalPortRange(Socket socket)
        {
            Span<byte> value = stackalloc byte[sizeof(uint)];
            var n = socket.GetRawSocketOption(SOL_IP, IP_LOCAL_PORT_RANGE, value);
            if (n != sizeof(uint))
            {
                throw new SocketException((int)SocketError.InvalidArgument);
            }

            return BitConverter.IsLittleEndian ? BinaryPrimitives.ReadUInt32LittleEndian(value) : BinaryPrimitives.ReadUInt32BigEndian(value);
        }

        internal static void SetInt(Socket socket, int level, int name, int value)
        {
            Span<byte> bytes = stackalloc byte[sizeof(int)];
            BitConverter.TryWriteBytes(bytes, value);
            socket.SetRawSocketOption(level, name, bytes);
        }

        internal static int GetInt(Socket socket, int level, int name)
        {
            Span<byte> bytes = stackalloc byte[sizeof(int)];
            socket.GetRawSocketOption(level, name, bytes);
            return BitConverter.ToInt32(bytes);
        }

        /// <summary><c>SO_COOKIE</c>: the socket's 64-bit cookie, the same value sock_diag reports for it.</summary>
        internal static ulong GetCookie(Socket socket)
        {
            Span<byte> bytes = stackalloc byte[sizeof(ulong)];
            var n = socket.GetRawSocketOption(SOL_SOCKET, SO_COOKIE, bytes);
            if (n != sizeof(ulong))
            {
                throw new SocketException((int)SocketError.InvalidArgument);
            }

            return BitConverter.ToUInt64(bytes);
        }

        /// <summary><c>IP_BIND_ADDRESS_NO_PORT</c>: <c>bind(ip, 0)</c> defers the port choice to <c>connect()</c>, so ports are shared across destinations.</summary>
        internal static void SetBindAddressNoPort(Socket socket) => SetInt(socket, SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1);
    }
}
