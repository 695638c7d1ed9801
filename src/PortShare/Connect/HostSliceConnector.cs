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
    public SliceConnector Current
    {
        get
        {
            var state = Volatile.Read(ref _state);
            if (Environment.TickCount64 - state.CheckedAt < (long)CheckInterval.TotalMilliseconds)
            {
                state.File.EnsureValid(_path);
                return state.Connector;
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
                return state.Connector;
            }
        }
    }

    /// <summary>The host file as last read.</summary>
    public HostSliceFile File => Volatile.Read(ref _state).File;

    /// <inheritdoc cref="SliceConnector.ConnectAsync(IPEndPoint, CancellationToken)"/>
    public ValueTask<Socket> ConnectAsync(IPEndPoint remote, CancellationToken cancellationToken = default)
    {
        var connector = Current;
        var task = connector.ConnectAsync(remote, cancellationToken);
        return task.IsCompletedSuccessfully ? task : Hinted(task);
    }

    /// <inheritdoc cref="SliceConnector.ConnectAsync(string, int, CancellationToken)"/>
    public ValueTask<Socket> ConnectAsync(string host, int port, CancellationToken cancellationToken = default)
    {
        var task = Current.ConnectAsync(host, port, cancellationToken);
        return task.IsCompletedSuccessfully ? task : Hinted(task);
    }

    /// <summary>An exhaustion on a slice the fleet agent could not grow says the pool is full, not just this host's share.</summary>
    private async ValueTask<Socket> Hinted(ValueTask<Socket> connect)
    {
        try
        {
            return await connect.ConfigureAwait(false);
        }
        catch (SliceExhaustedException ex) when (File.Slices.FirstOrDefault(s => s.Ports.Equals(ex.Slice)) is { PoolFull: true } slice)
        {
            throw new SliceExhaustedException(ex.Slice!, ex.LocalAddress, ex.Remote, ex.SocketError, $"the fleet pool is full on {slice.Egress}: this host's agent asked for another unit and none was free");
        }
    }

    private State Load((DateTime, long) stamp)
    {
        var file = HostSliceFile.Load(_path);
        var slice = file.For(_egress);
        return new State(file, new SliceConnector(slice.Ports, slice.Egress, _strategy, _env), stamp, Environment.TickCount64);
    }

    private static (DateTime, long) Stamp(string path)
    {
        var info = new FileInfo(path);
        return info.Exists ? (info.LastWriteTimeUtc, info.Length) : (DateTime.MinValue, -1);
    }

    private sealed record State(HostSliceFile File, SliceConnector Connector, (DateTime, long) Stamp, long CheckedAt);
}
