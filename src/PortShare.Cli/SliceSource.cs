using System.CommandLine;
using System.Net;
using PortShare.Planning;

namespace PortShare.Cli;

/// <summary>
/// Where a command's slice comes from: <c>--slice LO-HI</c>, or <c>--plan PLAN --host NAME [--egress IP]</c>, or, with
/// neither, this host's slice file written by <c>portshare host apply</c> (whose egress address becomes the local address).
/// </summary>
internal static class SliceSource
{
    public static readonly Option<string?> Plan = new("--plan") { Description = "Take the slice from this plan file (with --host)." };
    public static readonly Option<string?> Host = new("--host") { Description = "The host whose slice to use (with --plan)." };
    public static readonly Option<IPAddress?> Egress = new("--egress")
    {
        Description = "With --plan: the egress IP whose slice to use (needed when the host has several).",
        CustomParser = r => Commands.CliParsers.Address(r),
    };

    public static IEnumerable<Option> All => [Plan, Host, Egress];

    /// <summary>The slice and the local address to bind (null: let routing choose), and a note on where they came from.</summary>
    public static (PortRange Slice, IPAddress? Local, string From) Resolve(ParseResult parse, Option<PortRange?> sliceOption, IPAddress? local)
    {
        var slice = parse.GetValue(sliceOption);
        var plan = parse.GetValue(Plan);
        var host = parse.GetValue(Host);
        if (slice is { } s)
        {
            if (plan is not null || host is not null)
            {
                throw new UsageException("Give either --slice or --plan with --host, not both.");
            }

            return (s, local, "--slice");
        }

        if (plan is not null || host is not null)
        {
            if (plan is null || host is null)
            {
                throw new UsageException("--plan and --host go together: --plan PLAN.json --host NAME.");
            }

            var loaded = PlanFile.LoadForHost(plan, host);
            var egress = parse.GetValue(Egress);
            var assignments = egress is null ? loaded.GetSlices(host).ToList() : [loaded.GetAssignment(host, egress)];
            if (assignments.Count == 0)
            {
                throw new PortShareException($"Host '{host}' owns no slice in {plan}.");
            }

            if (assignments.Count > 1)
            {
                throw new UsageException($"Host '{host}' owns slices on {assignments.Count} egress IPs in {plan} ({string.Join(", ", assignments.Select(a => a.Egress))}): choose one with --egress.");
            }

            // One IP_LOCAL_PORT_RANGE value per socket: the largest of the host's ranges on that egress IP.
            var range = assignments[0].KernelRanges.MaxBy(r => r.Count);
            return (range, local, $"plan {plan}, host {host}, egress {assignments[0].Egress}");
        }

        var file = HostSliceFile.Load();
        var mine = file.For(parse.GetValue(Egress));
        return (mine.Range, local ?? mine.Egress, $"host file {HostSliceFile.ResolvePath()} (host {file.Host})");
    }
}
