using System.Text.Json;
using PortShare.Planning;
using PortShare.Routing;
using Spectre.Console;

namespace PortShare.Cli.Doctor;

/// <summary>Runs the host and router checks against real namespaces and prints them (a table, or JSON).</summary>
internal static class DoctorRunner
{
    /// <summary>The host checks: slices from <paramref name="planPath"/> and <paramref name="host"/>, or from the host file.</summary>
    public static DoctorResult Host(IHostDoctorFacts facts, string? planPath, string? host, string? hostFilePath, string? netns, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(facts);
        var file = ReadHostFile(hostFilePath);
        var where = (netns is null ? string.Empty : $" --netns {netns}") + (hostFilePath is null ? string.Empty : $" --state {hostFilePath}");
        if (planPath is not null && host is not null)
        {
            var plan = PlanFile.Load(planPath);
            var slices = HostSlices.From(plan, host, now);
            // Plan.HostFile names the plan's hosts when this one is not among them.
            return HostChecks.Run(facts, slices, file, planPath, $"portshare host apply {planPath} --host {host}{where}");
        }

        if (file.Slices is { } mine)
        {
            return HostChecks.Run(facts, mine, file, null, $"portshare host apply PLAN.json --host {mine.Host}{where}");
        }

        // Not a PortShare host (yet): what the kernel offers, and how to get further.
        var checks = HostChecks.Kernel(facts, new HostSlices("(none)", new Dictionary<System.Net.IPAddress, IReadOnlyList<PortRange>>())).ToList();
        checks.Add(DoctorCheck.Pass("netns_port_range", $"ip_local_port_range {facts.NetnsRange} ({facts.NetnsRange.Count} ports); reserved: {(facts.ReservedPorts.Count == 0 ? "none" : HostSlices.Format(facts.ReservedPorts))}"));
        checks.Add(file.Error is { } error
            ? DoctorCheck.Fail("host_file", $"{file.Path} does not parse: {error}", "portshare host apply PLAN.json --host NAME (rewrites it)")
            : DoctorCheck.Warn("host_file", $"no host file at {file.Path}: this host is not set up to share an egress address, so only the kernel was checked", "portshare doctor --plan PLAN.json --host NAME, or portshare host apply PLAN.json --host NAME"));
        checks.Add(HostChecks.PingGroup(facts));
        return new DoctorResult("host", "(not set up)", checks);
    }

    /// <summary>The router checks for the plan at <paramref name="planPath"/>, as it holds at <paramref name="now"/>.</summary>
    public static DoctorResult Router(IRouterDoctorFacts facts, string planPath, string? netns, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(facts);
        var plan = PlanFile.Load(planPath);
        var routes = PlanRoutes.From(plan, now);
        RouteValidation.ThrowIfInvalid(routes);
        var apply = $"portshare router apply {planPath}{(netns is null ? string.Empty : " --netns " + netns)}";
        return RouterChecks.Run(facts, routes, apply, plan.Generation, netns ?? "this router");
    }

    public static HostFileStatus ReadHostFile(string? path)
    {
        var resolved = HostSliceFile.ResolvePath(path);
        if (!File.Exists(resolved))
        {
            return new HostFileStatus(resolved, null, null);
        }

        try
        {
            return new HostFileStatus(resolved, HostSlices.From(HostSliceFile.Load(resolved)), null);
        }
        catch (PortShareException ex)
        {
            return new HostFileStatus(resolved, null, ex.InnerException?.Message ?? ex.Message);
        }
    }

    /// <summary>Writes the results as tables (one per result) and a summary line each.</summary>
    public static void WriteTables(CliConsole console, IEnumerable<DoctorResult> results)
    {
        ArgumentNullException.ThrowIfNull(console);
        foreach (var result in results)
        {
            var table = new Table { Title = new TableTitle($"portshare doctor: {result.Target} {result.Subject.EscapeMarkup()}") }
                .AddColumns("", "check", "found", "fix");
            foreach (var c in result.Checks)
            {
                table.AddRow(
                    c.Status switch { CheckStatus.Pass => "[green]pass[/]", CheckStatus.Warn => "[yellow]warn[/]", _ => "[red]FAIL[/]" },
                    c.Id.EscapeMarkup(),
                    c.Detail.EscapeMarkup(),
                    (c.Fix ?? string.Empty).EscapeMarkup());
            }

            console.Out.Write(table);
            var passed = result.Checks.Count - result.Failures - result.Warnings;
            console.Out.MarkupLine(result.Passed
                ? $"[green]{result.Target} {result.Subject.EscapeMarkup()}: {passed} passed, {result.Warnings} warning(s), no failure.[/]"
                : $"[red]{result.Target} {result.Subject.EscapeMarkup()}: {result.Failures} failed[/], {result.Warnings} warning(s), {passed} passed.");
        }
    }

    public static string ToJson(DoctorResult result, string? netnsRange) =>
        JsonSerializer.Serialize(DoctorJson.From(result, netnsRange), DoctorJsonContext.Default.DoctorJson);
}
