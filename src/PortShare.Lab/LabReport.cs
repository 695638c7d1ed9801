using PortShare.Routing;

namespace PortShare.Lab;

/// <summary>One host's outcome in <c>lab test</c>.</summary>
/// <param name="Host">The host.</param>
/// <param name="Slice">Its ranges.</param>
/// <param name="Attempted">Connections tried.</param>
/// <param name="Ok">Connections whose reply named this host's own endpoint, with a port in its slice.</param>
/// <param name="DistinctPorts">Distinct source ports the server saw from this host.</param>
/// <param name="OutsideSlice">Connections whose source port lay outside the host's slice (must be 0).</param>
/// <param name="Misdelivered">Packets for another host's (or no host's) ports that reached this host (must be 0).</param>
/// <param name="Errors">The first few connection errors.</param>
/// <param name="WaitingUntil">Set when the host has no usable port yet because every port it receives is still in
/// quarantine (after a re-plan): no connection is tried, and the host file gets them after this time.</param>
public sealed record LabHostResult(string Host, IReadOnlyList<PortRange> Slice, int Attempted, int Ok, int DistinctPorts, int OutsideSlice, long Misdelivered, IReadOnlyList<string> Errors, DateTimeOffset? WaitingUntil = null)
{
    /// <summary>Connections that failed or got a wrong reply.</summary>
    public int Failed => Attempted - Ok;

    /// <summary>True when every connection worked and nothing strayed (for a waiting host: nothing strayed).</summary>
    public bool Passed => (Attempted > 0 || WaitingUntil is not null) && Ok == Attempted && OutsideSlice == 0 && Misdelivered == 0;
}

/// <summary>The outcome of <c>lab test</c>.</summary>
/// <param name="Hosts">Per host.</param>
/// <param name="RouterConntrackEntries">Conntrack entries on the router (must be 0).</param>
/// <param name="RouterNatRules">NAT statements found in the router's ruleset (must be none).</param>
/// <param name="ServerSawForeign">Connections the server saw from a port whose owner is not the host that made it.</param>
/// <param name="Elapsed">How long the connections took.</param>
public sealed record LabTestReport(IReadOnlyList<LabHostResult> Hosts, long RouterConntrackEntries, IReadOnlyList<string> RouterNatRules, int ServerSawForeign, TimeSpan Elapsed)
{
    /// <summary>True when every check held.</summary>
    public bool Passed => Hosts.Count > 0 && Hosts.All(h => h.Passed) && RouterConntrackEntries == 0 && RouterNatRules.Count == 0 && ServerSawForeign == 0;

    /// <summary>All connections tried.</summary>
    public int Connections => Hosts.Sum(h => h.Attempted);

    /// <summary>One line saying whether the lab proved the design.</summary>
    public string Verdict => Passed
        ? $"PASS: {Connections} connections; every host egressed only from its slice, every reply reached its owner and no other host; router conntrack entries: {RouterConntrackEntries}, NAT rules: none."
        : $"FAIL: {Hosts.Sum(h => h.Failed)} failed or wrong replies, {Hosts.Sum(h => h.OutsideSlice)} ports outside a slice, {Hosts.Sum(h => h.Misdelivered)} misdelivered packets, router conntrack entries {RouterConntrackEntries}, NAT rules {RouterNatRules.Count}.";
}
