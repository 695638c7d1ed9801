using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace PortShare;

internal static partial class Interop
{
    internal static partial class Sys
    {
        internal const int AT_FDCWD = -100;
        internal const int AT_SYMLINK_NOFOLLOW = 0x100;
        internal const uint STATX_TYPE = 0x1;
        internal const uint STATX_INO = 0x100;
        internal const int ENOENT = 2;

        // struct statx (include/uapi/linux/stat.h) is 256 bytes with the same layout on every architecture, unlike
        // struct stat: stx_mode is a u16 at offset 28, stx_ino a u64 at 32, stx_dev_major/minor u32s at 136/140.
        private const int StatxSize = 256;

        [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        private static unsafe partial int StatxNative(int dirfd, string path, int flags, uint mask, byte* buffer);

        /// <summary>The type bits of <c>st_mode</c> (S_IFMT), inode and device of <paramref name="path"/>; errno 0 on success.</summary>
        internal static unsafe int Statx(string path, bool followLinks, out uint type, out ulong inode, out ulong device)
        {
            type = 0;
            inode = 0;
            device = 0;
            var buffer = stackalloc byte[StatxSize];
            if (StatxNative(AT_FDCWD, path, followLinks ? 0 : AT_SYMLINK_NOFOLLOW, STATX_TYPE | STATX_INO, buffer) != 0)
            {
                return Marshal.GetLastPInvokeError();
            }

            var s = new ReadOnlySpan<byte>(buffer, StatxSize);
            type = (uint)BinaryPrimitives.ReadUInt16LittleEndian(s[28..]) & 0xF000;
            inode = BinaryPrimitives.ReadUInt64LittleEndian(s[32..]);
            device = ((ulong)BinaryPrimitives.ReadUInt32LittleEndian(s[136..]) << 32) | BinaryPrimitives.ReadUInt32LittleEndian(s[140..]);
            return 0;
        }
    }
}
