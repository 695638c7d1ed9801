using System.Globalization;
using System.Net;
using System.Net.Sockets;
using PortShare.Connect;

namespace PortShare.IntegrationTests.Infrastructure;

/// <summary>
/// A fresh, uniquely named network namespace with loopback up, entered by a dedicated thread
/// (<see cref="NetworkNamespace"/>): sockets made through <see cref="Ns"/> live in it. Always deleted on dispose.
/// </summary>
internal sealed class TestNetns : IDisposable
{
    private static int s_counter;
    private static int s_listenPort;

    private TestNetns(string name)
    {
        Name = name;
        Proc.Check("ip", "netns", "add", name);
        try
        {
            Proc.Check("ip", "-n", name, "link", "set", "lo", "up");
            Ns = NetworkNamespace.Enter(name);
        }
        catch
        {
            Proc.Run("ip", "netns", "del", name);
            throw;
        }
    }

    public string Name { get; }

    public NetworkNamespace Ns { get; }

    /// <summary>Creates a namespace named <c>pst-PID-N</c> (unique per process and call) with the given netns port range.</summary>
    public static TestNetns Create(int lo = 40000, int hi = 49999)
    {
        var name = string.Create(CultureInfo.InvariantCulture, $"pst-{Environment.ProcessId}-{Interlocked.Increment(ref s_counter)}");
        var ns = new TestNetns(name);
        try
        {
            ns.SetPortRange(lo, hi);
        }
        catch
        {
            ns.Dispose();
            throw;
        }

        return ns;
    }

    public void SetPortRange(int lo, int hi) => Sysctl("net/ipv4/ip_local_port_range", $"{lo} {hi}");

    public void SetReservedPorts(string list) => Sysctl("net/ipv4/ip_local_reserved_ports", list);

    /// <summary>Writes a per-namespace sysctl from inside the namespace.</summary>
    public void Sysctl(string key, string value) => Ns.Run(() => File.WriteAllText(Path.Combine("/proc/sys", key), value));

    /// <summary>Runs <c>ip -n NAME args…</c>.</summary>
    public string Ip(params string[] args) => Proc.Check("ip", ["-n", Name, .. args]);

    /// <summary>
    /// A listening TCP socket inside the namespace, on <paramref name="address"/>. Port 0 picks a port below 32768, outside
    /// every test's ip_local_port_range: a listener inside a slice would hold one of its ports (connect() skips ports
    /// held by an explicit bind, CONFORMANCE D11) and make exact-capacity tests flaky.
    /// </summary>
    public Socket Listen(IPAddress address, int port = 0, int backlog = 512) => Ns.Run(() =>
    {
        var s = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        s.Bind(new IPEndPoint(address, port != 0 ? port : 20000 + (Interlocked.Increment(ref s_listenPort) % 10000)));
        s.Listen(backlog);
        return s;
    });

    public Socket Socket(AddressFamily family, SocketType type, ProtocolType protocol) => Ns.CreateSocket(family, type, protocol);

    public void Dispose()
    {
        Ns?.Dispose();
        Proc.Run("ip", "netns", "del", Name);
    }
}
