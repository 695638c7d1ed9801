using System.Net;
using PortShare.Diagnostics;
using PortShare.Routing;

namespace PortShare.Fleet;

/// <summary>
/// The agent's host side on a real host (or inside a named network namespace): <see cref="HostSetup.Serve"/> for the
/// addresses and the host file, sock_diag for live connections.
/// </summary>
public sealed class HostAgentHost : IAgentHost, IDisposable
{
    private readonly HostSetup _setup;
    private readonly Lazy<SocketTable> _sockets;
    private readonly string _path;

    /// <summary>Creates the host side for namespace <paramref name="netns"/> (null: this one), writing the host file at <paramref name="hostFile"/> (null: the default rule).</summary>
    public HostAgentHost(string? netns, string? hostFile)
    {
        var tools = new NetTools(netns);
        _setup = new HostSetup(tools, netns is null ? CurrentSysctl.Instance : new NetnsSysctl(tools), new HostOptions { StatePath = hostFile });
        _sockets = new Lazy<SocketTable>(() => SocketTable.Open(netns));
        _path = HostSliceFile.ResolvePath(hostFile);
    }

    /// <summary>The host file's path.</summary>
    public string HostFilePath => _path;

    /// <inheritdoc/>
    public void Serve(HostSliceFile serving, IReadOnlyCollection<IPAddress> egress) => _setup.Serve(serving, egress);

    /// <inheritdoc/>
    public void Renew(HostSliceFile serving) => _setup.Renew(serving);

    /// <inheritdoc/>
    public HostSliceFile? Current()
    {
        try
        {
            return File.Exists(_path) ? HostSliceFile.Load(_path) : null;
        }
        catch (PortShareException)
        {
            return null;
        }
    }

    /// <inheritdoc/>
    public IReadOnlyList<DiagSocket> Sockets(IPAddress egress, PortRange range) => _sockets.Value.SocketsOn(egress, range);

    /// <inheritdoc/>
    public int LiveConnections(IPAddress egress, PortRange range) => _sockets.Value.LiveConnections(egress, range);

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_sockets.IsValueCreated)
        {
            _sockets.Value.Dispose();
        }
    }
}
