using PortShare.Planning;

namespace PortShare.Routing;

/// <summary>Turns the planner's <see cref="Plan"/> into the router's and hosts' inputs.</summary>
public static class PlanRoutes
{
    /// <summary>
    /// One <see cref="RouteSlice"/> per range the router routes at <paramref name="now"/> (<see cref="EffectivePlan.Routes"/>):
    /// every host's slice (a slice may be several ranges after a re-plan), except that ports still in quarantine go to
    /// their old owner — also one that has left the plan — until the quarantine ends.
    /// </summary>
    public static IReadOnlyList<RouteSlice> From(Plan plan, DateTimeOffset now) => From(plan.At(now));

    /// <summary>The routes of a plan at a time (see <see cref="From(Plan, DateTimeOffset)"/>).</summary>
    public static IReadOnlyList<RouteSlice> From(EffectivePlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var routes = new List<RouteSlice>();
        foreach (var slice in plan.Routes)
        {
            foreach (var r in slice.Ranges)
            {
                routes.Add(new RouteSlice(slice.Egress, slice.Host, slice.NextHop, r));
            }
        }

        return routes;
    }

    /// <summary>
    /// Loads a plan file and converts it for <paramref name="now"/>. The plan is validated once, on load, by
    /// <see cref="PlanValidator"/> — which holds the router's rules too — so a plan that fails throws
    /// <see cref="PlanFileException"/> listing every problem.
    /// </summary>
    public static IReadOnlyList<RouteSlice> Load(string path, DateTimeOffset now) => From(PlanFile.Load(path), now);
}
