using System.CommandLine;
using System.Net;
using System.Net.Sockets;
using PortShare.Planning;

namespace PortShare.Cli;

/// <summary>
/// Where a command's slice comes from: <c>--slice LO-HI[,LO-HI…]</c>, or <c>--plan PLAN --host NAME [--egress IP]</c>, or,
/// with neither, this host's slice file written by <c>portshare host apply</c>. The plan and the host file give the
/// host's exact ranges (from <see cref="Plan.HostFile"/>, the one function that says which ports a host owns) and its
/// egress address, which becomes the local address every socket binds.
/// </summary>
internal static class SliceSource
{
    public static readonly Option<string?> Plan = new("--plan") { Description = "Take the slice from this plan file (with --host).", HelpName = "PLAN.json" };
    public static readonly Option<string?> Host = new("--host") { Description = "The host whose slice to use (with --plan).", HelpName = "NAME" };
    public static readonly Option<IPAddress?> Egress = new("--egress")
    {
        Description = "With --plan or the host file: the egress IP whose slice to use (needed when the host has several of the destination's family).",
        HelpName = "IP",
        CustomParser = r => Commands.CliParsers.Address(r),
    };

    public static IEnumerable<Option> All => [Plan, Host, Egress];

    /// <summary>A resolved slice: its ports, the address to bind (null: let routing choose), and where it came from.</summary>
    public sealed record Resolved(PortSlice Slice, IPAddress? Local, string From);

    /// <summary>
    /// The slice and the local address. <paramref name="family"/> (the destination's) picks the host's slice when it
    /// owns slices on several egress IPs and none was named; a plan gives the ports usable at <paramref name="now"/>
    /// (none still in quarantine).
    /// </summary>
    public static Resolved Resolve(ParseResult parse, Option<PortSlice?> sliceOption, IPAddress? local, DateTimeOffset now, AddressFamily? family = null)
    {
        var slice = parse.GetValue(sliceOption);
        var plan = parse.GetValue(Plan);
        var host = parse.GetValue(Host);
        var egress = parse.GetValue(Egress);
        if (slice is not null)
        {
            if (plan is not null || host is not null)
            {
                throw new UsageException("Give either --slice or --plan with --host, not both.");
            }

            if (egress is not null)
            {
                throw new UsageException("--egress chooses a slice of --plan or of the host file; with --slice, give the address to bind as --local-address.");
            }

            return new Resolved(slice, local, "--slice");
        }

        HostSliceFile file;
        string from;
        if (plan is not null || host is not null)
        {
            if (plan is null || host is null)
            {
                throw new UsageException("--plan and --host go together: --plan PLAN.json --host NAME.");
            }

            file = PlanFile.LoadForHost(plan, host).HostFile(host, now);
            from = $"plan {plan}, host {host}";
        }
        else
        {
            file = HostSliceFile.Load();
            from = $"host file {HostSliceFile.ResolvePath()} (host {file.Host})";
        }

        EgressSlice mine;
        try
        {
            mine = file.For(egress, family ?? local?.AddressFamily);
        }
        catch (PortShareException ex) when (egress is null && file.Slices.Count > 1)
        {
            throw new UsageException($"{ex.Message} Choose one with --egress IP.");
        }

        if (local is not null && !Connect.SliceGuard.Unmap(local)!.Equals(Connect.SliceGuard.Unmap(mine.Egress)))
        {
            throw new UsageException($"--local-address {local} is not host {file.Host}'s egress address {mine.Egress}: its ports are only routed back on {mine.Egress}. Drop --local-address, or choose the slice with --egress.");
        }

        return new Resolved(mine.Ports, mine.Egress, $"{from}, egress {AddressText.Format(mine.Egress)}");
    }
}
