using System.Net;
using System.Net.Sockets;
using PortShare.Connect;
using PortShare.IntegrationTests.Infrastructure;

namespace PortShare.IntegrationTests;

[Trait("Category", "RequiresRoot")]
public class KernelConnectTests
{
    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("::1")]
    public async Task Kernel_path_connects_from_the_slice(string address)
    {
        Root.Require();
        using var ns = TestNetns.Create();
        var ip = IPAddress.Parse(address);
        using var listener = ns.Listen(ip);
        var connector = new SliceConnector(new PortRange(40100, 40103), null, ConnectStrategy.Kernel, ns.Ns);
        using var s = await connector.ConnectAsync((IPEndPoint)listener.LocalEndPoint!, TestContext.Current.CancellationToken);
        var local = (IPEndPoint)s.LocalEndPoint!;
        Assert.InRange(local.Port, 40100, 40103);
    }
}
