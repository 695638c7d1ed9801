using System.Collections.Concurrent;
using System.ComponentModel;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace PortShare.Connect;

/// <summary>
/// A dedicated thread that has entered a named network namespace (<c>/run/netns/NAME</c>, as made by <c>ip netns add</c>).
/// Work posted to it runs inside that namespace: creating sockets, reading <c>/proc/sys/net</c>. Sockets made here stay in
/// the namespace and may then be used from any thread. Needs CAP_SYS_ADMIN (root).
/// </summary>
internal sealed class NetworkNamespace : ISocketEnvironment, IDisposable
{
    private readonly BlockingCollection<Action> _work = new();
    private readonly Thread _thread;

    private NetworkNamespace(string name)
    {
        Name = name;
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _thread = new Thread(() => Loop(ready)) { IsBackground = true, Name = $"netns {name}" };
        _thread.Start();
        ready.Task.GetAwaiter().GetResult();
    }

    public string Name { get; }

    /// <summary>Enters <c>/run/netns/<paramref name="name"/></c> on a new dedicated thread.</summary>
    public static NetworkNamespace Enter(string name) => new(name);

    public T Run<T>(Func<T> func)
    {
        ArgumentNullException.ThrowIfNull(func);
        if (Thread.CurrentThread == _thread)
        {
            return func();
        }

        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        _work.Add(() =>
        {
            try
            {
                done.SetResult(func());
            }
            catch (Exception ex)
            {
                done.SetException(ex);
            }
        });
        return done.Task.GetAwaiter().GetResult();
    }

    public void Run(Action action) => Run(() =>
    {
        action();
        return true;
    });

    public Socket CreateSocket(AddressFamily family, SocketType type, ProtocolType protocol) => Run(() => new Socket(family, type, protocol));

    public T CreateSocket<T>(Func<T> factory)
        where T : Socket => Run(factory);

    public Socket CreateNetlinkSocket(int protocol) => Run(() => Interop.Netlink.OpenSocket(protocol));

    public PortRange ReadNetnsRange() => Run(HostFacts.ReadNetnsRange);

    public IReadOnlyList<PortRange> ReadReservedPorts() => Run(HostFacts.ReadReservedPorts);

    public void Dispose()
    {
        _work.CompleteAdding();
        _thread.Join();
        _work.Dispose();
    }

    private void Loop(TaskCompletionSource ready)
    {
        try
        {
            using (var fd = File.OpenHandle(Path.Combine("/run/netns", Name), FileMode.Open, FileAccess.Read))
            {
                if (Interop.Sys.Setns((int)fd.DangerousGetHandle(), Interop.Sys.CLONE_NEWNET) != 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    throw new Win32Exception(errno, $"Cannot enter network namespace '{Name}': {Marshal.GetPInvokeErrorMessage(errno)} (needs root).");
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or Win32Exception)
        {
            ready.SetException(ex is Win32Exception ? ex : new PortShareException($"Cannot open network namespace '{Name}': {ex.Message}", ex));
            return;
        }

        ready.SetResult();
        foreach (var item in _work.GetConsumingEnumerable())
        {
            item();
        }
    }
}
