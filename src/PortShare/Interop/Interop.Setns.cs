using System.Runtime.InteropServices;

namespace PortShare;

internal static partial class Interop
{
    internal static partial class Sys
    {
        internal const int CLONE_NEWNET = 0x40000000;

        /// <summary>setns(2): moves the calling thread into the namespace <paramref name="fd"/> refers to.</summary>
        [LibraryImport("libc", EntryPoint = "setns", SetLastError = true)]
        internal static partial int Setns(int fd, int nstype);
    }
}
