using System.Net;
using PortShare.Fleet;

namespace PortShare.Tests.Fleet;

public class PoolSpecTests
{
    private const string Spec = """{"unit_size": 64, "min_units": 2, "egress": [{"address": "192.0.2.1", "usable_range": "40000-40511", "reserved": ["40100"]}, {"address": "2001:db8:1::1", "usable_range": "40001-40200"}]}""";

    [Fact]
    public void Units_are_aligned_power_of_two_blocks_clear_of_reserved_ports()
    {
        var spec = PoolSpec.Parse(Spec, "test");
        var v4 = spec.UnitsOf(spec.Egress[0]);
        Assert.Equal(7, v4.Count); // 40064-40127 holds reserved 40100
        Assert.DoesNotContain(v4, u => u.Low == 40064);
        Assert.All(v4, u => Assert.True(u.Low % 2 == 0 && u.High % 2 == 1 && u.Count == 64));

        // 40001-40200: the first aligned unit starts at 40064, the last that fits ends at 40191.
        Assert.Equal(["40064-40127", "40128-40191"], spec.UnitsOf(spec.Egress[1]).Select(u => u.ToString()));
    }

    [Theory]
    [InlineData("""{"unit_size": 1, "egress": [{"address": "192.0.2.1"}]}""", "unit_size 1")]
    [InlineData("""{"unit_size": 48, "egress": [{"address": "192.0.2.1"}]}""", "unit_size 48")]
    [InlineData("""{"egress": [{"address": "192.0.2.1"}]}""", "unit_size is missing")]
    [InlineData("""{"unit_size": 64, "egress": [{"address": "nope"}]}""", "egress[0].address 'nope'")]
    [InlineData("""{"unit_size": 64, "egress": []}""", "no egress")]
    [InlineData("""{"unit_size": 64, "egress": [{"address": "192.0.2.1", "usable_range": "40001-40063"}]}""", "holds no aligned unit")]
    [InlineData("""{"unit_size": 64, "lease_ttl_seconds": 1, "egress": [{"address": "192.0.2.1"}]}""", "lease_ttl_seconds 1")]
    [InlineData("""{"unit_size": 64,""", "not valid JSON")]
    [InlineData("""{"unit_size": 64, "min_units": 3, "max_units": 2, "egress": [{"address": "192.0.2.1"}]}""", "max_units 2 is less than min_units 3")]
    [InlineData("""{"unit_size": 64, "max_units": 9, "egress": [{"address": "192.0.2.1", "usable_range": "40960-41471"}]}""", "max_units 9 is more than the 8 units")]
    [InlineData("""{"unit_size": 64, "egress": [{"address": "192.0.2.1", "usable_range": "40960-41471", "min_units": 4, "max_units": 2}]}""", "egress 192.0.2.1: max_units 2 is less than min_units 4")]
    [InlineData("""{"unit_size": 64, "grow_at": 1.5, "egress": [{"address": "192.0.2.1"}]}""", "grow_at 1.5")]
    [InlineData("""{"unit_size": 64, "shrink_below": 1, "egress": [{"address": "192.0.2.1"}]}""", "shrink_below 1")]
    [InlineData("""{"unit_size": 64, "idle_seconds": 0, "egress": [{"address": "192.0.2.1"}]}""", "idle_seconds 0")]
    public void Bad_specs_are_one_clear_error_naming_the_field(string json, string expected)
    {
        var ex = Assert.Throws<FleetException>(() => PoolSpec.Parse(json, "spec.json"));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
        Assert.StartsWith("spec.json", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', ex.Message);
    }

    [Fact]
    public void The_stored_record_round_trips_and_differences_are_named()
    {
        var spec = PoolSpec.Parse(Spec, "test");
        var again = PoolSpec.Parse(spec.ToJson(), "record");
        Assert.Empty(spec.Differences(again));
        var other = again with { UnitSize = 32 };
        Assert.Contains("unit_size 64 (pool) vs 32 (spec)", spec.Differences(other));
        Assert.Equal(IPAddress.Parse("2001:db8:1::1"), again.Egress[1].Address);
    }

    [Fact]
    public void Elastic_bounds_come_from_the_egress_entry_then_the_pool_and_round_trip_through_json()
    {
        var spec = PoolSpec.Parse("""{"unit_size": 64, "min_units": 1, "max_units": 4, "grow_at": 0.75, "egress": [{"address": "192.0.2.1", "usable_range": "40960-41471"}, {"address": "192.0.2.2", "usable_range": "40960-41471", "min_units": 2, "max_units": 6}]}""", "spec");
        Assert.True(spec.IsElastic);
        Assert.Equal((1, 4), (spec.MinFor(spec.Egress[0]), spec.MaxFor(spec.Egress[0])));
        Assert.Equal((2, 6), (spec.MinFor(spec.Egress[1]), spec.MaxFor(spec.Egress[1])));
        var again = PoolSpec.Parse(spec.ToJson(), "stored");
        Assert.Empty(spec.Differences(again));
        Assert.Equal(0.75, again.GrowAt);

        var fixedSize = PoolSpec.Parse("""{"unit_size": 64, "min_units": 2, "egress": [{"address": "192.0.2.1"}]}""", "spec");
        Assert.False(fixedSize.IsElastic);
        Assert.Equal(2, fixedSize.MaxFor(fixedSize.Egress[0]));
    }
}
