using System.Net;

namespace PortShare.Planning;

/// <summary>
/// A plan as it holds at one time (<see cref="Plan.At"/>): the one function that decides, for the plan-file path, what the
/// router routes and what each host may use while re-planned ports are in quarantine. A port of a move still in
/// quarantine (<see cref="PortMove.IsActive"/>) is routed to its old owner and is in no host's file; every other port is
/// routed to, and usable by, the owner the plan's slices name. After every quarantine the routes are the plan's slices.
/// </summary>
public sealed class EffectivePlan
{
    private IReadOnlyList<SliceAssignment>? _routes;

    internal EffectivePlan(Plan plan, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(plan);
        Plan = plan;
        Now = now;
        var quarantined = new List<QuarantinedPorts>();
        var handedOver = new List<QuarantinedPorts>();
        foreach (var egress in plan.Egress)
        {
            foreach (var m in egress.Moves)
            {
                var row = new QuarantinedPorts(egress.Address, m.Ports, m.From, m.FromNextHop, m.To, m.Until);
                (m.IsActive(now) ? quarantined : handedOver).Add(row);
            }
        }

        Quarantined = quarantined;
        HandedOver = handedOver;
    }

    public Plan Plan { get; }

    public DateTimeOffset Now { get; }

    /// <summary>Ports still in quarantine at <see cref="Now"/>: routed to their old owner, usable by nobody.</summary>
    public IReadOnlyList<QuarantinedPorts> Quarantined { get; }

    /// <summary>Moves the plan records whose quarantine has passed by <see cref="Now"/>: the new owner has them.</summary>
    public IReadOnlyList<QuarantinedPorts> HandedOver { get; }

    /// <summary>When the next quarantine ends (the routes and host files change then), or null.</summary>
    public DateTimeOffset? NextHandOver => Quarantined.Count == 0 ? null : Quarantined.Min(q => q.Until);

    /// <summary>
    /// What the router installs at <see cref="Now"/>: per egress IP and host, the ranges whose replies go to that host —
    /// its usable ports plus the ports it still holds in quarantine. A host that left the plan but holds ports is here
    /// with the next hop its move recorded. Disjoint per egress IP; hosts with nothing routed are left out.
    /// </summary>
    public IReadOnlyList<SliceAssignment> Routes => _routes ??= BuildRoutes();

    /// <summary>This host's file at <see cref="Now"/> (<see cref="Plan.HostFile(string, DateTimeOffset)"/>).</summary>
    public HostSliceFile HostFile(string host) => Plan.HostFile(host, Now);

    /// <summary>The host the router sends replies to <paramref name="port"/> of <paramref name="egress"/> to at
    /// <see cref="Now"/> (the old owner during a quarantine), or null when no host gets them.</summary>
    public SliceAssignment? RouteOf(IPAddress egress, ushort port)
    {
        ArgumentNullException.ThrowIfNull(egress);
        var e = Plan.FindEgress(egress);
        if (e is null)
        {
            return null;
        }

        foreach (var m in e.Moves)
        {
            if (m.IsActive(Now) && m.Ports.Any(r => r.Contains(port)))
            {
                return new SliceAssignment(e.Address, m.From, m.FromNextHop, m.Ports);
            }
        }

        return Plan.Owner(egress, port) is { } slice ? new SliceAssignment(e.Address, slice.Host, slice.NextHop, slice.Ranges) : null;
    }

    private List<SliceAssignment> BuildRoutes()
    {
        var routes = new List<SliceAssignment>();
        foreach (var egress in Plan.Egress)
        {
            var held = Held(egress, Now);
            if (held.Count == 0)
            {
                foreach (var s in egress.Slices)
                {
                    routes.Add(new SliceAssignment(egress.Address, s.Host, s.NextHop, s.Ranges));
                }

                continue;
            }

            // Each holder's ports, by host (a holder may still own a slice here too).
            var holders = new Dictionary<string, (IPAddress Hop, List<PortRange> Ranges)>(StringComparer.Ordinal);
            foreach (var m in egress.Moves)
            {
                if (m.IsActive(Now))
                {
                    if (!holders.TryGetValue(m.From, out var h))
                    {
                        holders[m.From] = h = (m.FromNextHop, []);
                    }

                    h.Ranges.AddRange(m.Ports);
                }
            }

            foreach (var s in egress.Slices)
            {
                var ranges = Subtract(PortSet.Normalize(s.Ranges), held);
                if (holders.Remove(s.Host, out var h))
                {
                    ranges = PortSet.Normalize(ranges.Concat(h.Ranges));
                }

                if (ranges.Count > 0)
                {
                    routes.Add(new SliceAssignment(egress.Address, s.Host, s.NextHop, ranges));
                }
            }

            foreach (var (host, h) in holders.OrderBy(x => x.Key, StringComparer.Ordinal))
            {
                routes.Add(new SliceAssignment(egress.Address, host, h.Hop, PortSet.Normalize(h.Ranges)));
            }
        }

        return routes;
    }

    /// <summary>The ports of <paramref name="egress"/> in quarantine at <paramref name="now"/>, normalized.</summary>
    internal static List<PortRange> Held(EgressPlan egress, DateTimeOffset now)
    {
        var held = new List<PortRange>();
        foreach (var m in egress.Moves)
        {
            if (m.IsActive(now))
            {
                held.AddRange(m.Ports);
            }
        }

        return held.Count == 0 ? held : PortSet.Normalize(held);
    }

    /// <summary><paramref name="from"/> minus <paramref name="remove"/> (both normalized); <paramref name="from"/> itself
    /// when nothing is removed (the usual slice, untouched by any quarantine).</summary>
    internal static List<PortRange> Subtract(List<PortRange> from, List<PortRange> remove) =>
        remove.Count == 0 || from.Count == 0 ? from : PortSet.Subtract(from, remove);
}
