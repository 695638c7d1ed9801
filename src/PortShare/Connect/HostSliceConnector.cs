using System.Net;
using System.Net.Sockets;

namespace PortShare.Connect;

/// <summary>
/// A TCP connector that follows this host's slice file (<see cref="HostSliceFile"/>): when <c>host apply</c> or the fleet
/// agent rewrites it, the next connect uses the new ranges, with no restart. The file is checked for a change at most
/// every <see cref="CheckInterval"/> (a <c>stat</c>); a file that disappears or stops parsing fails connects closed
/// rather than keeping ports that may have been handed to another host. Thread-safe.
/// </summary>
public sealed class HostSliceConnector
{
    /// <summary>How often the file is checked for a change.</summary>
    public static readonly TimeSpan CheckInterval = TimeSpan.FromMilliseconds(250);

    private readonly string _path;
    private readonly IPAddress? _egress;
    private readonly ConnectStrategy _strategy;
    private readonly ISocketEnvironment _env;
    private readonly Lock _lock = new();
    private State _state;

    /// <summary>Reads the host file and creates the connector for its slice on <paramref name="egress"/> (the only slice when null).</summary>
    /// <exception cref="PortShareException">The file is missing or malformed, or has no matching slice.</exception>
    public HostSliceConnector(IPAddress? egress = null, ConnectStrategy strategy = ConnectStrategy.Auto, string? path = null)
        : this(egress, strategy, path, CurrentNamespace.Instance)
    {
    }

    /// <summary>As the public constructor, with sockets made in <paramref name="env"/> (the lab's host namespaces).</summary>
    internal HostSliceConnector(IPAddress? egress, ConnectStrategy strategy, string? path, ISocketEnvironment env)
    {
        _path = HostSliceFile.ResolvePath(path);
        _egress = egress;
        _strategy = strategy;
        _env = env;
        _state = Load(Stamp(_path));
    }

    /// <summary>The host file followed.</summary>
    public string Path => _path;

    /// <summary>The connector for the file as last read (reloaded when the file changed).</summary>
    /// <exception cref="PortShareException">The file changed and can no longer be used.</exception>
    public SliceConnector Current => CurrentState().Connector;

    /// <summary>The host file as last read.</summary>
    public HostSliceFile File => Volatile.Read(ref _state).File;

    /// <inheritdoc cref="SliceConnector.ConnectAsync(IPEndPoint, CancellationToken)"/>
    public ValueTask<Socket> ConnectAsync(IPEndPoint remote, CancellationToken cancellationToken = default)
    {
        var state = CurrentState();
        var task = state.Connector.ConnectAsync(remote, cancellationToken);
        return state.PoolFull is null || task.IsCompletedSuccessfully ? task : Hinted(task, state.PoolFull);
    }

    /// <inheritdoc cref="SliceConnector.ConnectAsync(string, int, CancellationToken)"/>
    public ValueTask<Socket> ConnectAsync(string host, int port, CancellationToken cancellationToken = default)
    {
        var state = CurrentState();
        var task = state.Connector.ConnectAsync(host, port, cancellationToken);
        return state.PoolFull is null || task.IsCompletedSuccessfully ? task : Hinted(task, state.PoolFull);
    }

    private State CurrentState()
    {
        var state = Volatile.Read(ref _state);
        if (Environment.TickCount64 - state.CheckedAt < (long)CheckInterval.TotalMilliseconds)
        {
            state.File.EnsureValid(_path);
            return state;
        }

        lock (_lock)
        {
            state = _state;
            if (Environment.TickCount64 - state.CheckedAt >= (long)CheckInterval.TotalMilliseconds)
            {
                var stamp = Stamp(_path);
                state = stamp == state.Stamp ? state with { CheckedAt = Environment.TickCount64 } : Load(stamp);
                Volatile.Write(ref _state, state);
            }

            state.File.EnsureValid(_path);
            return state;
        }
    }

    /// <summary>
    /// An exhaustion of a slice the fleet agent could not grow says the pool is full, not just this host's share. Only
    /// a connect from such a slice pays for this wrapper.
    /// </summary>
    private static async ValueTask<Socket> Hinted(ValueTask<Socket> connect, EgressSlice slice)
    {
        try
        {
            return await connect.ConfigureAwait(false);
        }
        catch (SliceExhaustedException ex) when (slice.Ports.Equals(ex.Slice))
        {
            throw new SliceExhaustedException(ex.Slice!, ex.LocalAddress, ex.Remote, ex.SocketError, $"the fleet pool is full on {slice.Egress}: this host's agent asked for another unit and none was free");
        }
    }

    private State Load((DateTime, long) stamp)
    {
        var file = HostSliceFile.Load(_path);
        var slice = file.For(_egress);
        return new State(file, new SliceConnector(slice.Ports, slice.Egress, _strategy, _env), stamp, Environment.TickCount64, slice.PoolFull ? slice : null);
    }

    private static (DateTime, long) Stamp(string path)
    {
        var info = new FileInfo(path);
        return info.Exists ? (info.LastWriteTimeUtc, info.Length) : (DateTime.MinValue, -1);
    }

    /// <param name="File">The host file as read.</param>
    /// <param name="Connector">The connector for its slice.</param>
    /// <param name="Stamp">The file's write time and length when read.</param>
    /// <param name="CheckedAt">When the stamp was last compared (Environment.TickCount64).</param>
    /// <param name="PoolFull">The followed slice when the agent marked its pool full, else null.</param>
    private sealed record State(HostSliceFile File, SliceConnector Connector, (DateTime, long) Stamp, long CheckedAt, EgressSlice? PoolFull);
}
