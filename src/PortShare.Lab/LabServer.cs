using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using PortShare.Connect;

using PortShare.Routing;

namespace PortShare.Lab;

/// <summary>
/// The lab's server: answers each TCP connection with the peer endpoint it saw (<c>ADDRESS:PORT\n</c>, IPv6 in
/// brackets), then echoes what it receives until the peer sends <c>q</c> or closes; it closes first, so TIME_WAIT stays
/// on the server. Its listening socket is made inside the server's namespace.
/// </summary>
public sealed class LabServer : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private readonly ConcurrentBag<Task> _connections = [];

    private LabServer(Socket listener)
    {
        _listener = listener;
        _accepting = Task.Run(AcceptLoopAsync);
    }

    /// <summary>Every peer endpoint the server has seen.</summary>
    public ConcurrentQueue<IPEndPoint> Seen { get; } = new();

    /// <summary>Starts listening on <paramref name="address"/>:<see cref="LabTopology.ServerPort"/> in namespace <paramref name="netns"/>.</summary>
    public static LabServer Start(string netns, IPAddress address)
    {
        using var ns = NetworkNamespace.Enter(netns);
        var s = ns.CreateSocket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            s.Bind(new IPEndPoint(address, LabTopology.ServerPort));
            s.Listen(1024);
        }
        catch
        {
            s.Dispose();
            throw;
        }

        return new LabServer(s);
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            _connections.Add(Task.Run(() => ServeAsync(client)));
        }
    }

    private async Task ServeAsync(Socket client)
    {
        using (client)
        {
            try
            {
                var peer = (IPEndPoint)client.RemoteEndPoint!;
                Seen.Enqueue(peer);
                await client.SendAsync(Encoding.ASCII.GetBytes(peer + "\n"), SocketFlags.None, _stop.Token).ConfigureAwait(false);
                var buffer = new byte[4096];
                while (true)
                {
                    var n = await client.ReceiveAsync(buffer, SocketFlags.None, _stop.Token).ConfigureAwait(false);
                    if (n == 0 || buffer[0] == (byte)'q')
                    {
                        return;
                    }

                    await client.SendAsync(buffer.AsMemory(0, n), SocketFlags.None, _stop.Token).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                // The peer went away or the server stops: nothing to report per connection.
            }
        }
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        await _accepting.ConfigureAwait(false);
        await Task.WhenAll(_connections).ConfigureAwait(false);
        _stop.Dispose();
    }
}
