using System.Net;
using System.Net.Sockets;
using PortShare.Connect;
using PortShare.IntegrationTests.Infrastructure;

namespace PortShare.IntegrationTests.Connect;

/// <summary>
/// Ports whose last connection to a destination is in TIME_WAIT are reusable toward it as the kernel allows
/// (tcp_tw_reuse): neither strategy counts a TIME_WAIT socket as a live connection.
/// </summary>
[Trait("Category", "RequiresRoot")]
[Collection(ExclusiveCollection.Name)]
public sealed class TimeWaitTests
{
    [Theory]
    [InlineData(ConnectStrategy.Kernel, ConnectStrategy.Kernel)]
    [InlineData(ConnectStrategy.Fallback, ConnectStrategy.Fallback)]
    [InlineData(ConnectStrategy.Kernel, ConnectStrategy.Fallback)]
    public async Task A_slice_whose_ports_are_all_in_TIME_WAIT_still_connects(ConnectStrategy first, ConnectStrategy then)
    {
        Strategies.Require(first);
        Strategies.Require(then);
        using var ns = TestNetns.Create();
        using var listener = ns.Listen(IPAddress.Loopback);
        var remote = (IPEndPoint)listener.LocalEndPoint!;
        var slice = new PortRange(40100, 40103);

        // Four connections, closed by the client first: every port of the slice is in TIME_WAIT toward the server.
        var a = new SliceConnector(slice, IPAddress.Loopback, first, ns.Ns);
        var held = new List<Socket>();
        for (var i = 0; i < 4; i++)
        {
            held.Add(await a.ConnectAsync(remote, TestContext.Current.CancellationToken));
        }

        var accepted = new List<Socket>();
        for (var i = 0; i < 4; i++)
        {
            accepted.Add(await listener.AcceptAsync(TestContext.Current.CancellationToken));
        }

        held.ForEach(s => s.Dispose());
        await Task.Delay(200, TestContext.Current.CancellationToken);
        accepted.ForEach(s => s.Dispose());
        await Task.Delay(200, TestContext.Current.CancellationToken);
        var timeWait = Proc.Run("ip", "netns", "exec", ns.Name, "ss", "-Htn", "state", "time-wait").StdOut;
        Assert.True(timeWait.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length >= 4, timeWait);

        // tcp_tw_reuse (2: loopback) lets a connect take over a TIME_WAIT 4-tuple once its last timestamp is a second old.
        await Task.Delay(1100, TestContext.Current.CancellationToken);
        var b = new SliceConnector(slice, IPAddress.Loopback, then, ns.Ns);
        var again = new List<Socket>();
        try
        {
            for (var i = 0; i < 4; i++)
            {
                again.Add(await b.ConnectAsync(remote, TestContext.Current.CancellationToken));
            }

            Assert.Equal([40100, 40101, 40102, 40103], again.Select(s => ((IPEndPoint)s.LocalEndPoint!).Port).Order());
        }
        finally
        {
            again.ForEach(s => s.Dispose());
        }
    }
}
