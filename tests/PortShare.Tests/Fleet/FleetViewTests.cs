using System.Net;
using PortShare.Fleet;

namespace PortShare.Tests.Fleet;

public class FleetViewTests
{
    private static readonly IPAddress s_egress = IPAddress.Parse("192.0.2.1");
    private static readonly PortRange s_unit0 = new(40000, 40063);
    private static readonly PortRange s_unit1 = new(40064, 40127);
    private readonly FleetKeys _keys = new();

    private static string Owner(string host, string hop) => new UnitOwner(host, [IPAddress.Parse(hop)]).ToJson();

    private FleetView NewView()
    {
        var spec = """{"unit_size": 64, "egress": [{"address": "192.0.2.1", "usable_range": "40000-40255"}]}""";
        var view = new FleetView(_keys);
        view.Reset([KeyValuePair.Create(_keys.Pool, new FleetEntry(spec, 2, 0))], 10);
        return view;
    }

    [Fact]
    public void Owned_and_quarantined_units_are_routed_and_adjacent_units_of_a_host_merge()
    {
        var view = NewView();
        Assert.True(view.Apply(_keys.Unit(s_egress, s_unit0), new FleetEntry(Owner("h1", "198.51.100.2"), 0, 7), 11));
        Assert.True(view.Apply(_keys.Quarantine(s_egress, s_unit0), new FleetEntry(Owner("h1", "198.51.100.2"), 0, 8), 11));
        Assert.True(view.Apply(_keys.Quarantine(s_egress, s_unit1), new FleetEntry(Owner("h1", "198.51.100.2"), 0, 9), 12));

        var routes = view.Routes();
        var route = Assert.Single(routes);
        Assert.Equal(("h1", "40000-40127"), (route.Host, route.Range.ToString()));

        var units = view.Units();
        Assert.Equal(11, units[0].Epoch);
        Assert.False(units[0].IsQuarantined);
        Assert.True(units[1].IsQuarantined);
        Assert.True(units[2].IsFree);
    }

    [Fact]
    public void A_stale_or_replayed_event_is_ignored()
    {
        var view = NewView();
        var key = _keys.Unit(s_egress, s_unit0);
        Assert.True(view.Apply(key, new FleetEntry(Owner("h1", "198.51.100.2"), 0, 7), 11));
        Assert.True(view.Apply(key, null, 15)); // h1's lease expired
        Assert.True(view.Apply(key, new FleetEntry(Owner("h2", "198.51.100.3"), 0, 8), 20)); // h2 claimed it

        // A replay of h1's claim, and an out-of-order delete, change nothing.
        Assert.False(view.Apply(key, new FleetEntry(Owner("h1", "198.51.100.2"), 0, 7), 11));
        Assert.False(view.Apply(key, null, 15));
        Assert.Equal("h2", view.Units()[0].Owner?.Host);
        Assert.Equal(20, view.Revision);

        // An event older than the snapshot for a key the snapshot did not have is stale too.
        Assert.False(view.Apply(_keys.Unit(s_egress, s_unit1), new FleetEntry(Owner("h3", "198.51.100.4"), 0, 9), 9));
        Assert.True(view.Units()[1].IsFree);
    }

    [Fact]
    public void Drain_orders_are_seen_per_host_and_per_egress()
    {
        var view = NewView();
        view.Apply(_keys.DrainHost("h1"), new FleetEntry(string.Empty, 0, 0), 11);
        view.Apply(_keys.DrainEgress(s_egress), new FleetEntry(string.Empty, 0, 0), 12);
        Assert.True(view.IsDrained("h1"));
        Assert.False(view.IsDrained("h2"));
        Assert.True(view.IsDrained(s_egress));
    }
}
