using System.Globalization;
using System.Runtime.InteropServices;

namespace PortShare;

/// <summary>
/// The one way PortShare writes an output file (<c>-o</c>, <c>--history</c>, <c>--state</c>, the host file): a regular
/// file (or a new one) is replaced atomically — a temporary file in the same directory, renamed over the target, and
/// removed on every path; anything else is written through and left what it is (a symlink's target is replaced, the
/// link stays; a device node or a FIFO is written to, never replaced by a regular file). An output that is one of the
/// command's inputs is refused before anything is written.
/// </summary>
public static class SafeFile
{
    private const uint S_IFDIR = 0x4000;
    private const uint S_IFREG = 0x8000;
    private const uint S_IFLNK = 0xA000;

    /// <summary>
    /// Writes <paramref name="content"/> to <paramref name="path"/> (see the type's summary). <paramref name="what"/>
    /// names the output in messages (e.g. "-o"); <paramref name="inputs"/> are files the command read.
    /// </summary>
    /// <exception cref="PortShareException">The path is empty, a directory, one of the inputs, or cannot be written; the message says which.</exception>
    public static void Write(string path, string content, string what = "the output", IEnumerable<string>? inputs = null)
    {
        ArgumentNullException.ThrowIfNull(content);
        Write(path, new System.Text.UTF8Encoding(false).GetBytes(content), what, inputs);
    }

    /// <summary>Writes <paramref name="utf8"/> to <paramref name="path"/>, as <see cref="Write(string, string, string, IEnumerable{string}?)"/>.</summary>
    /// <exception cref="PortShareException">As that overload.</exception>
    public static void Write(string path, byte[] utf8, string what = "the output", IEnumerable<string>? inputs = null)
    {
        ArgumentNullException.ThrowIfNull(utf8);
        Write(path, new ReadOnlyMemory<byte>(utf8), what, inputs);
    }

    /// <summary>Writes <paramref name="utf8"/> to <paramref name="path"/>, as <see cref="Write(string, string, string, IEnumerable{string}?)"/>
    /// (a buffer's written part, without copying it into an array first).</summary>
    /// <exception cref="PortShareException">As that overload.</exception>
    public static void Write(string path, ReadOnlyMemory<byte> utf8, string what = "the output", IEnumerable<string>? inputs = null)
    {
        var target = Check(path, what, inputs);
        if (target.WriteThrough)
        {
            Guard(path, what, () => File.WriteAllBytes(target.Path, utf8.Span));
            return;
        }

        var dir = Path.GetDirectoryName(target.Path) ?? ".";
        Guard(path, what, () => Directory.CreateDirectory(dir));
        RemoveStaleTemporaries(dir, Path.GetFileName(target.Path));
        var tmp = Path.Combine(dir, string.Create(CultureInfo.InvariantCulture, $".{Path.GetFileName(target.Path)}.{Environment.ProcessId}.tmp"));
        try
        {
            Guard(path, what, () =>
            {
                File.WriteAllBytes(tmp, utf8.Span);
                File.Move(tmp, target.Path, overwrite: true);
            });
        }
        finally
        {
            File.Delete(tmp);
        }
    }

    /// <summary>
    /// Checks that <paramref name="path"/> can be written as <paramref name="what"/> without writing it; returns the file
    /// to write (a symlink resolved) and whether it is written through. Call it before doing work the output records.
    /// </summary>
    /// <exception cref="PortShareException">As <c>Write</c>.</exception>
    public static (string Path, bool WriteThrough) Check(string path, string what = "the output", IEnumerable<string>? inputs = null)
    {
        if (string.IsNullOrWhiteSpace(path))
        {
            throw new PortShareException($"{what}: the path is empty; give a file path.");
        }

        var full = Path.GetFullPath(path);
        var resolved = full;
        var errno = Interop.Sys.Statx(full, followLinks: false, out var type, out _, out _);
        if (errno == 0 && type == S_IFLNK)
        {
            // Replace what the link points to, keep the link.
            resolved = Path.GetFullPath(File.ResolveLinkTarget(full, returnFinalTarget: true)?.FullName ?? full);
            errno = Interop.Sys.Statx(resolved, followLinks: true, out type, out _, out _);
        }

        var dir = Path.GetDirectoryName(resolved);
        if (dir is not null && File.Exists(dir))
        {
            throw new PortShareException($"{what} {path} cannot be written: {dir} is a file, not a directory.");
        }

        if (errno != 0 && errno != Interop.Sys.ENOENT)
        {
            throw new PortShareException($"{what} {path} cannot be written: {Marshal.GetPInvokeErrorMessage(errno)}.");
        }

        if (errno == 0 && type == S_IFDIR)
        {
            throw new PortShareException($"{what} {path} is a directory: give a file path.");
        }

        foreach (var input in inputs ?? [])
        {
            if (SameFile(resolved, input))
            {
                throw new PortShareException($"{what} {path} is also an input ({input}): writing it would destroy what was read. Write to another file.");
            }
        }

        // Anything that exists and is not a regular file (a FIFO, a character or block device, a socket) is written to.
        return (resolved, errno == 0 && type != S_IFREG);
    }

    /// <summary>
    /// Reads a small input file as text, refusing what is not a regular file (a directory, a FIFO or a device, which
    /// would hang or never end) or is larger than <paramref name="maxBytes"/>.
    /// </summary>
    /// <exception cref="PortShareException">The message names <paramref name="what"/>, the path and what is wrong.</exception>
    public static string ReadSmallText(string path, string what, long maxBytes = 1 << 20)
    {
        ArgumentNullException.ThrowIfNull(path);
        var errno = Interop.Sys.Statx(Path.GetFullPath(path), followLinks: true, out var type, out _, out _);
        if (errno != 0)
        {
            throw new PortShareException(errno == Interop.Sys.ENOENT
                ? $"{what} {path} does not exist."
                : $"{what} {path} cannot be read: {Marshal.GetPInvokeErrorMessage(errno)}.");
        }

        if (type != S_IFREG)
        {
            throw new PortShareException(type == S_IFDIR ? $"{what} {path} is a directory, not a file." : $"{what} {path} is not a regular file (a FIFO, a device or a socket).");
        }

        var length = new FileInfo(path).Length;
        if (length > maxBytes)
        {
            throw new PortShareException($"{what} {path} is {length:N0} bytes, more than the {maxBytes:N0} it may be.");
        }

        string text = string.Empty;
        Guard(path, what, () => text = File.ReadAllText(path));
        return text;
    }

    private static bool SameFile(string a, string b)
    {
        if (string.IsNullOrEmpty(b))
        {
            return false;
        }

        if (Interop.Sys.Statx(a, true, out _, out var inoA, out var devA) != 0 || Interop.Sys.Statx(Path.GetFullPath(b), true, out _, out var inoB, out var devB) != 0)
        {
            return string.Equals(Path.GetFullPath(a), Path.GetFullPath(b), StringComparison.Ordinal);
        }

        return inoA == inoB && devA == devB;
    }

    /// <summary>Temporaries of this file left by a process that was killed (its PID no longer runs).</summary>
    private static void RemoveStaleTemporaries(string dir, string name)
    {
        try
        {
            foreach (var tmp in Directory.EnumerateFiles(dir, $".{name}.*.tmp"))
            {
                var pid = Path.GetFileName(tmp)[(name.Length + 2)..^4];
                if (int.TryParse(pid, NumberStyles.None, CultureInfo.InvariantCulture, out var p) && p != Environment.ProcessId && !Directory.Exists($"/proc/{p}"))
                {
                    File.Delete(tmp);
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Best effort: a stale temporary is litter, not an error.
        }
    }

    private static void Guard(string path, string what, Action write)
    {
        try
        {
            write();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            var why = ex is DirectoryNotFoundException ? "its directory does not exist" : ex.Message.TrimEnd('.');
            throw new PortShareException($"{what} {path} cannot be written: {why}.", ex);
        }
    }
}
