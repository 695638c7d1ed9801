using PortShare.Routing;

namespace PortShare.Tests.Routing;

public class RouterOptionsTests
{
    [Theory]
    [InlineData(2147483548, "Priority range 2147483548+100 must lie in 1-32765")]
    [InlineData(32700, "Priority range 32700+100 must lie in 1-32765")]
    [InlineData(0, "Priority range 0+100")]
    public void A_priority_range_that_overflows_or_reaches_the_main_table_is_refused(int priorityBase, string expected)
    {
        var ex = Assert.Throws<RoutingException>(() => new RouterOptions { PriorityBase = priorityBase }.Validate());
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(RouterBackend.IpRule, "--reassemble applies to the nftables backend")]
    [InlineData(RouterBackend.Netdev, "--reassemble does not work with the netdev backend")]
    public void Reassembly_is_refused_where_it_would_be_ignored(RouterBackend backend, string expected)
    {
        var ex = Assert.Throws<RoutingException>(() => new RouterOptions { Backend = backend, Reassemble = true }.Validate());
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
        new RouterOptions { Backend = RouterBackend.Nftables, Reassemble = true }.Validate();
    }
}
