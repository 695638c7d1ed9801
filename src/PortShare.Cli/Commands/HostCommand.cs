using System.CommandLine;
using PortShare.Connect;
using PortShare.Routing;
using Spectre.Console;

namespace PortShare.Cli.Commands;

/// <summary><c>portshare host apply|show|remove</c>: prepare a host to egress from the shared IP.</summary>
internal static class HostCommand
{
    private static readonly Argument<FileInfo> s_plan = new("PLAN.json") { Description = "The plan (from 'portshare plan')." };
    private static readonly Option<string> s_host = new("--host") { Description = "This host's name in the plan.", Required = true };
    private static readonly Option<bool> s_sysctl = new("--sysctl")
    {
        Description = "Also narrow the namespace's net.ipv4.ip_local_port_range to the host's slice (one slice only), so unmodified programs stay inside it.",
    };

    private static readonly Option<string?> s_state = new("--state") { Description = $"Where the host's slices are written (default {HostSliceFile.DefaultPath}, or $PORTSHARE_HOST_FILE)." };
    private static readonly Option<bool> s_dryRun = RoutingOptions.DryRun();
    private static readonly Option<string?> s_netns = RoutingOptions.Netns();

    public static Command Create(CliConsole console)
    {
        var command = new Command("host", "Set up this host: the shared egress IP on lo, ARP settings, conntrack/NAT exemption and the slice file applications read.");
        var apply = new Command("apply", "Apply the plan's slices for one host (idempotent).") { s_plan, s_host, s_sysctl, s_state, s_dryRun, s_netns };
        apply.SetAction((p, ct) => CommandRunner.RunAsync(console, () =>
        {
            // The host's ports as they are now: those still in quarantine for their previous owner are left out until it
            // ends, and a later 'host apply' (after the router's) hands them over.
            var host = p.GetRequiredValue(s_host);
            var now = console.Now;
            var plan = Planning.PlanFile.LoadForHost(p.GetRequiredValue(s_plan).FullName, host);
            var slices = plan.HostFile(host, now);
            var notes = plan.At(now).Quarantined.Where(q => q.From == host || q.To == host).ToList();
            var dry = p.GetValue(s_dryRun);
            if (!dry)
            {
                RoutingOptions.RequireRoot();
            }

            return Task.FromResult(With(p, setup =>
            {
                if (dry)
                {
                    foreach (var line in setup.Describe(slices))
                    {
                        console.RawOut.WriteLine(line);
                    }

                    QuarantineNotes.Write(console, notes, now, toStderr: true);
                    return ExitCodes.Success;
                }

                foreach (var warning in setup.Apply(slices))
                {
                    console.WriteWarning(warning);
                }

                var usable = slices.Slices.Count == 0 ? "no usable ports yet" : string.Join(", ", slices.Slices.Select(s => $"{s.Egress} ports {s.Ports}"));
                console.Out.MarkupLine($"[green]Host {slices.Host.EscapeMarkup()} applied:[/] {usable.EscapeMarkup()}; host file {HostSliceFile.ResolvePath(p.GetValue(s_state)).EscapeMarkup()}.");
                QuarantineNotes.Write(console, notes, now, toStderr: false);
                return ExitCodes.Success;
            }));
        }));

        var show = new Command("show", "Show the host's slices and whether its setup is in place.") { s_state, s_netns };
        show.SetAction((p, ct) => CommandRunner.RunAsync(console, () => Task.FromResult(With(p, setup =>
        {
            var r = setup.Show();
            var table = new Table().AddColumns("egress", "ports", "on lo");
            foreach (var s in r.Slices.Slices)
            {
                table.AddRow(s.Egress.ToString(), s.Ports.ToString(), r.AddressesPresent[s.Egress] ? "[green]yes[/]" : "[red]no[/]");
            }

            console.Out.MarkupLine($"host [bold]{r.Slices.Host.EscapeMarkup()}[/]; conntrack exemption: {(r.ConntrackExempt ? "[green]installed[/]" : "[red]missing[/]")}; ip_local_port_range: {r.PortRange.EscapeMarkup()}");
            console.Out.Write(table);
            return ExitCodes.Success;
        }))));

        var remove = new Command("remove", "Undo 'host apply': addresses, exemption table, port range and the slice file.") { s_state, s_netns };
        remove.SetAction((p, ct) => CommandRunner.RunAsync(console, () =>
        {
            RoutingOptions.RequireRoot();
            return Task.FromResult(With(p, setup =>
            {
                var removal = setup.Remove();
                foreach (var line in removal.Undone)
                {
                    console.Out.MarkupLine($"[grey]{line.EscapeMarkup()}[/]");
                }

                if (!removal.HadHostFile)
                {
                    console.WriteWarning($"no host file at {HostSliceFile.ResolvePath(p.GetValue(s_state))}: only PortShare's nftables table could be recognised{(removal.Undone.Count == 0 ? " (none was installed)" : string.Empty)}; addresses on lo and sysctls were left as they are.");
                }
                else
                {
                    console.Out.MarkupLine("[green]Host setup removed.[/]");
                }
                return ExitCodes.Success;
            }));
        }));

        command.Subcommands.Add(apply);
        command.Subcommands.Add(show);
        command.Subcommands.Add(remove);
        return command;
    }

    private static int With(ParseResult p, Func<HostSetup, int> action)
    {
        var netns = p.GetValue(s_netns);
        var options = new HostOptions { StatePath = p.GetValue(s_state), NarrowPortRange = p.GetValue(s_sysctl) };
        if (netns is null)
        {
            return action(new HostSetup(new NetTools(), CurrentSysctl.Instance, options));
        }

        var tools = new NetTools(netns);
        return action(new HostSetup(tools, new NetnsSysctl(tools), options));
    }
}
