using PortShare.Planning;

namespace PortShare.Tests.Planning;

public class SpecValidatorTests
{
    [Fact]
    public void An_odd_slice_size_and_an_empty_egress_list_are_refused_naming_the_host()
    {
        var spec = PlanTestData.Example();
        var h = spec.Hosts[0];
        spec = spec with { Hosts = [h with { SliceSize = 4097 }, spec.Hosts[1] with { Egress = [] }, .. spec.Hosts.Skip(2)] };
        var problems = SpecValidator.Validate(spec);
        Assert.Contains(problems, p => p.Contains($"host '{h.Name}': slice_size 4097 is odd", StringComparison.Ordinal) && p.Contains("use 4096 or 4098", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains($"host '{spec.Hosts[1].Name}': egress is an empty list", StringComparison.Ordinal));
    }

    [Fact]
    public void A_null_inside_a_list_is_named_by_its_place()
    {
        var spec = PlanTestData.Example();
        spec = spec with { Hosts = [spec.Hosts[0], null!], Egress = [null!, .. spec.Egress] };
        var problems = SpecValidator.Validate(spec);
        Assert.Equal(["egress[0] is null.", "hosts[1] is null."], problems);
    }

    [Fact]
    public void A_host_that_got_fewer_ports_than_its_slice_size_is_a_warning()
    {
        var spec = PlanTestData.Example();
        var plan = Planner.Create(spec);
        Assert.Empty(SpecValidator.Shortfalls(spec, plan));
        var web1 = spec.Hosts.Single(x => x.Name == "web-1");
        var greedy = spec with { Hosts = [.. spec.Hosts.Select(x => x.Name == "web-1" ? x with { SliceSize = 60000 } : x)] };
        var warnings = SpecValidator.Shortfalls(greedy, plan);
        Assert.Equal(2, warnings.Count); // on both of its egress IPs
        Assert.All(warnings, w => Assert.StartsWith($"host '{web1.Name}' asked for slice_size 60000 but got", w, StringComparison.Ordinal));
    }
}
