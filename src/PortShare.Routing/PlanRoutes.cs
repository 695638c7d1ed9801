using PortShare.Planning;

namespace PortShare.Routing;

/// <summary>Turns the planner's <see cref="Plan"/> into the router's and hosts' inputs.</summary>
public static class PlanRoutes
{
    /// <summary>One <see cref="RouteSlice"/> per range of every host's slice (a slice may be several ranges after a re-plan).</summary>
    public static IReadOnlyList<RouteSlice> From(Plan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var routes = new List<RouteSlice>();
        foreach (var egress in plan.Egress)
        {
            foreach (var slice in egress.Slices)
            {
                foreach (var r in slice.Ranges)
                {
                    routes.Add(new RouteSlice(egress.Address, slice.Host, slice.NextHop, r));
                }
            }
        }

        return routes;
    }

    /// <summary>
    /// Loads a plan file and converts it. The plan is validated once, on load, by <see cref="PlanValidator"/> — which
    /// holds the router's rules too — so a plan that fails throws <see cref="PlanFileException"/> listing every problem.
    /// </summary>
    public static IReadOnlyList<RouteSlice> Load(string path) => From(PlanFile.Load(path));

    /// <summary>The routes of <paramref name="host"/> only (what <c>host apply</c> needs), read as <see cref="PlanFile.LoadForHost"/> reads.</summary>
    public static IReadOnlyList<RouteSlice> LoadForHost(string path, string host) => From(PlanFile.LoadForHost(path, host));
}
