using System.CommandLine;
using System.Globalization;
using PortShare.Routing;
using Spectre.Console;

namespace PortShare.Cli.Commands;

/// <summary><c>portshare router apply|remove|show</c>: the return path on the router.</summary>
internal static class RouterCommand
{
    private static readonly Argument<FileInfo> s_plan = new("PLAN.json") { Description = "The plan (from 'portshare plan')." };
    private static readonly Option<RouterBackend> s_backend = RoutingOptions.Backend();
    private static readonly Option<bool> s_dryRun = RoutingOptions.DryRun();
    private static readonly Option<string?> s_netns = RoutingOptions.Netns();
    private static readonly Option<bool> s_reassemble = new("--reassemble")
    {
        Description = "nftables: reassemble fragments on the router (loads nf_defrag) so that large UDP datagrams, whose later fragments carry no port, reach their host. Off by default: it costs memory per fragmented datagram.",
    };

    private static readonly Option<int> s_priority = new("--priority-base") { Description = "First ip rule priority PortShare owns (it owns 100).", DefaultValueFactory = _ => 5300 };
    private static readonly Option<int> s_table = new("--table-base") { Description = "First routing table PortShare owns (it owns 100; host N uses base+N).", DefaultValueFactory = _ => 5300 };

    public static Command Create(CliConsole console)
    {
        var command = new Command("router", "Route replies to the shared egress IP back to the host owning the destination port, with no conntrack and no NAT.");

        var apply = new Command("apply", "Install or update the return path for a plan: changes only what differs, in one batch per step; a failure rolls back to the previous state. Ports no slice owns are dropped. The iprule backend cannot route a slice ending at 65535 and does not steer ICMP errors.")
        {
            s_plan, s_backend, s_reassemble, s_dryRun, s_netns, s_priority, s_table,
        };
        apply.SetAction((p, ct) => CommandRunner.RunAsync(console, () => Task.FromResult(Apply(console, p))));

        var remove = new Command("remove", "Delete every rule, route and nftables table PortShare made (nothing else).") { s_dryRun, s_netns, s_priority, s_table };
        remove.SetAction((p, ct) => CommandRunner.RunAsync(console, () =>
        {
            var router = Make(p);
            var dry = p.GetValue(s_dryRun);
            if (!dry)
            {
                RoutingOptions.RequireRoot();
            }

            var change = router.Remove(dry);
            Report(console, change, dry, "removed");
            return Task.FromResult(ExitCodes.Success);
        }));

        var show = new Command("show", "List the slices installed on this router.") { s_netns, s_priority, s_table };
        show.SetAction((p, ct) => CommandRunner.RunAsync(console, () =>
        {
            var slices = Make(p).Show();
            if (slices.Count == 0)
            {
                console.Out.MarkupLine("[grey]No PortShare slices are installed.[/]");
                return Task.FromResult(ExitCodes.Success);
            }

            console.Out.Write(SliceTable(slices));
            return Task.FromResult(ExitCodes.Success);
        }));

        command.Subcommands.Add(apply);
        command.Subcommands.Add(remove);
        command.Subcommands.Add(show);
        return command;
    }

    internal static Table SliceTable(IReadOnlyList<InstalledSlice> slices)
    {
        var table = new Table().AddColumns("egress", "ports", "table", "next hop");
        foreach (var s in slices)
        {
            table.AddRow(
                s.Egress.ToString(),
                s.Range.ToString(),
                s.Table.ToString(CultureInfo.InvariantCulture),
                (s.NextHop ?? "(missing)").EscapeMarkup());
        }

        return table;
    }

    private static Router Make(ParseResult p) => new(new NetTools(p.GetValue(s_netns)), new RouterOptions
    {
        Backend = p.GetValue(s_backend),
        Reassemble = p.GetValue(s_reassemble),
        PriorityBase = p.GetValue(s_priority),
        TableBase = p.GetValue(s_table),
    });

    private static int Apply(CliConsole console, ParseResult p)
    {
        var routes = PlanRoutes.Load(p.GetRequiredValue(s_plan).FullName);
        var dry = p.GetValue(s_dryRun);
        if (!dry)
        {
            RoutingOptions.RequireRoot();
        }

        var router = Make(p);
        var change = router.Apply(routes, dry);
        foreach (var w in change.Warnings)
        {
            console.WriteWarning(w);
        }

        Report(console, change, dry, "applied");
        return ExitCodes.Success;
    }

    private static void Report(CliConsole console, RouterChange change, bool dry, string verb)
    {
        if (dry)
        {
            foreach (var line in change.Describe())
            {
                console.RawOut.WriteLine(line);
            }

            return;
        }

        console.Out.MarkupLine(change.IsEmpty
            ? "[green]Nothing to change:[/] the router already matches."
            : $"[green]{verb}:[/] {change.Count} change(s).");
    }
}
