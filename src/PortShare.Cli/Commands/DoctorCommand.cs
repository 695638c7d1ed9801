using System.CommandLine;
using PortShare.Cli.Doctor;

namespace PortShare.Cli.Commands;

/// <summary>
/// <c>portshare doctor</c>: checks this host (or, with <c>--router</c>, this router) against what PortShare needs, each
/// check passing, warning or failing with its fix in one line; exit code 1 on any failure.
/// </summary>
internal static class DoctorCommand
{
    private static readonly Option<bool> s_json = CliOptions.Json();
    private static readonly Option<string?> s_plan = new("--plan") { Description = "The plan to check against (with --host, or with --router)." };
    private static readonly Option<string?> s_host = new("--host") { Description = "This host's name in the plan (default: the host file's)." };
    private static readonly Option<bool> s_router = new("--router") { Description = "Check this machine as the router of --plan instead of as a host." };
    private static readonly Option<string?> s_hostFile = new("--host-file") { Description = $"The host file to check (default {HostSliceFile.DefaultPath}, or $PORTSHARE_HOST_FILE)." };
    private static readonly Option<string?> s_netns = RoutingOptions.Netns();

    public static Command Create(CliConsole console)
    {
        var command = new Command("doctor", "Check this host (from --plan and --host, or the host file) or, with --router, this router: every condition PortShare needs, each with its fix; exit code 1 on any failure.")
        {
            s_plan, s_host, s_router, s_hostFile, s_netns, s_json,
        };
        command.SetAction((parseResult, ct) => CommandRunner.RunAsync(console, () => Task.FromResult(Run(console, parseResult))));
        return command;
    }

    private static int Run(CliConsole console, ParseResult p)
    {
        var plan = p.GetValue(s_plan);
        var host = p.GetValue(s_host);
        var netns = p.GetValue(s_netns);
        var hostFile = p.GetValue(s_hostFile);
        var router = p.GetValue(s_router);
        if (plan is not null && !File.Exists(plan))
        {
            throw new UsageException($"--plan: file '{plan}' does not exist.");
        }

        if (router && plan is null)
        {
            throw new UsageException("doctor --router needs --plan PLAN.json (what the router should hold).");
        }

        if (router && host is not null)
        {
            throw new UsageException("--host checks a host; drop it with --router.");
        }

        if (host is not null && plan is null)
        {
            throw new UsageException("--host needs --plan PLAN.json (the plan the host is checked against).");
        }

        if (netns is not null)
        {
            RoutingOptions.RequireRoot();
        }

        using var facts = new SystemDoctorFacts(netns);
        DoctorResult result;
        if (router)
        {
            result = DoctorRunner.Router(facts, plan!, netns, console.Now);
        }
        else
        {
            // --plan alone: the host the host file names.
            host ??= plan is null ? null : DoctorRunner.ReadHostFile(hostFile).Slices?.Host
                ?? throw new UsageException("--plan needs --host NAME: no host file names this host.");
            result = DoctorRunner.Host(facts, plan, host, hostFile, netns, console.Now);
        }

        if (p.GetValue(s_json))
        {
            console.RawOut.WriteLine(DoctorRunner.ToJson(result, facts.NetnsRange.ToString()));
        }
        else
        {
            DoctorRunner.WriteTables(console, [result]);
        }

        return result.Passed ? ExitCodes.Success : ExitCodes.Failure;
    }
}
