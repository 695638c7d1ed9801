using PortShare.Planning;
using PortShare.Lab;

namespace PortShare.Cli.Doctor;

/// <summary><c>lab doctor</c>: the router checks in the lab's router namespace and the host checks in every host's.</summary>
internal static class LabDoctor
{
    /// <summary>The lab's plan as a file (so every fix names a real path), in the lab's own state directory.</summary>
    public static string PlanPath(LabState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        var path = Path.Combine(state.StateDir, "plan.json");
        Directory.CreateDirectory(state.StateDir);
        PlanFile.Save(NetLab.PlanOf(state), path);
        return path;
    }

    /// <summary>The host file <c>host apply</c> wrote for <paramref name="host"/> in the lab.</summary>
    public static string HostFilePath(LabState state, string host)
    {
        ArgumentNullException.ThrowIfNull(state);
        return Path.Combine(state.StateDir, host + ".json");
    }

    public static IReadOnlyList<(DoctorResult Result, string NetnsRange)> Run(LabState state, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(state);
        var plan = PlanPath(state);
        var results = new List<(DoctorResult, string)>();
        var routerNs = LabTopology.RouterNs(state.Prefix);
        using (var facts = new SystemDoctorFacts(routerNs))
        {
            results.Add((DoctorRunner.Router(facts, plan, routerNs, now), facts.NetnsRange.ToString()));
        }

        foreach (var host in state.Hosts)
        {
            var ns = LabTopology.HostNs(state.Prefix, host);
            using var facts = new SystemDoctorFacts(ns);
            var result = DoctorRunner.Host(facts, plan, host, HostFilePath(state, host), ns, now);
            results.Add((result with { Subject = $"{host} ({ns})" }, facts.NetnsRange.ToString()));
        }

        return results;
    }
}
