using PortShare.Planning;

namespace PortShare.Routing;

/// <summary>Turns the planner's <see cref="Plan"/> into the router's and hosts' inputs.</summary>
public static class PlanRoutes
{
    /// <summary>One <see cref="RouteSlice"/> per range of every host's slice (a slice may be several ranges after a re-plan).</summary>
    public static IReadOnlyList<RouteSlice> From(Plan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        return plan.Assignments()
            .SelectMany(a => a.Ranges.Select(r => new RouteSlice(a.Egress, a.Host, a.NextHop, r)))
            .ToList();
    }

    /// <summary>Loads and validates a plan file and converts it; a plan that fails validation throws, listing every problem.</summary>
    public static IReadOnlyList<RouteSlice> Load(string path)
    {
        var routes = From(PlanFile.Load(path));
        RouteValidation.ThrowIfInvalid(routes);
        return routes;
    }
}
