using System.Net;
using System.Net.Sockets;
using PortShare.Diagnostics;
using PortShare.IntegrationTests.Infrastructure;

namespace PortShare.IntegrationTests.Diagnostics;

[Trait("Category", "RequiresRoot")]
public sealed class SliceStatusTests
{
    [Fact]
    public async Task A_listeners_accepted_connections_are_not_counted_as_the_slices_own()
    {
        Root.Require();
        using var ns = TestNetns.Create();
        var slice = new PortRange(40000, 40063);

        // A server listening on a port inside the slice, with two clients connected to it from outside the slice.
        using var listener = ns.Listen(IPAddress.Loopback, 40010);
        var clients = new List<Socket>();
        var accepted = new List<Socket>();
        try
        {
            for (var i = 0; i < 2; i++)
            {
                var c = ns.Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                c.Bind(new IPEndPoint(IPAddress.Loopback, 41000 + i));
                await c.ConnectAsync(listener.LocalEndPoint!, TestContext.Current.CancellationToken);
                clients.Add(c);
                accepted.Add(await listener.AcceptAsync(TestContext.Current.CancellationToken));
            }

            // And one real flow out of the slice.
            var connector = new PortShare.Connect.SliceConnector(slice, IPAddress.Loopback, PortShare.Connect.ConnectStrategy.Fallback, ns.Ns);
            using var other = ns.Listen(IPAddress.Loopback);
            using var flow = await connector.ConnectAsync((IPEndPoint)other.LocalEndPoint!, TestContext.Current.CancellationToken);

            foreach (var local in new IPAddress?[] { null, IPAddress.Loopback })
            {
                var report = SliceStatusReader.Read([slice], local, ns.Ns);
                Assert.Equal(1, report.Slices[0].TcpSockets);
            }
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
            accepted.ForEach(a => a.Dispose());
        }
    }
}
