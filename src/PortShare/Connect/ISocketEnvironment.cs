using System.Net.Sockets;

namespace PortShare.Connect;

/// <summary>
/// Where sockets are made and sysctls read. Sockets belong to the network namespace of the thread that creates them,
/// so a connector bound to another namespace (see <see cref="NetworkNamespace"/>) creates every socket there, even
/// when a retry runs on a thread-pool thread after an await.
/// </summary>
internal interface ISocketEnvironment
{
    Socket CreateSocket(AddressFamily family, SocketType type, ProtocolType protocol);

    /// <summary>Runs a socket factory where this environment's sockets are made (for socket subclasses).</summary>
    T CreateSocket<T>(Func<T> factory)
        where T : Socket;

    /// <summary>An AF_NETLINK socket of <paramref name="protocol"/> (e.g. NETLINK_SOCK_DIAG) in this namespace.</summary>
    Socket CreateNetlinkSocket(int protocol);

    PortRange ReadNetnsRange();

    IReadOnlyList<PortRange> ReadReservedPorts();
}

/// <summary>The calling thread's own network namespace.</summary>
internal sealed class CurrentNamespace : ISocketEnvironment
{
    public static readonly CurrentNamespace Instance = new();

    public Socket CreateSocket(AddressFamily family, SocketType type, ProtocolType protocol) => new(family, type, protocol);

    public T CreateSocket<T>(Func<T> factory)
        where T : Socket => factory();

    public Socket CreateNetlinkSocket(int protocol) => Interop.Netlink.OpenSocket(protocol);

    public PortRange ReadNetnsRange() => HostFacts.ReadNetnsRange();

    public IReadOnlyList<PortRange> ReadReservedPorts() => HostFacts.ReadReservedPorts();
}
