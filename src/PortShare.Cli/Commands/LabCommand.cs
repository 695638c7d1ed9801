using System.CommandLine;
using System.Globalization;
using PortShare.Routing;
using PortShare.Lab;
using Spectre.Console;

namespace PortShare.Cli.Commands;

/// <summary><c>portshare lab up|test|show|down|demo|replan</c>: prove the design in network namespaces on this machine.</summary>
internal static class LabCommand
{
    private static readonly Option<int> s_hosts = new("--hosts") { Description = "Hosts sharing the egress IP.", DefaultValueFactory = _ => 3 };
    private static readonly Option<int> s_connections = new("--connections") { Description = "Connections per host.", DefaultValueFactory = _ => 100 };
    private static readonly Option<bool> s_reassemble = new("--reassemble") { Description = "nftables backend: the router reassembles fragments, so large UDP datagrams reach their host." };
    private static readonly Option<bool> s_ipv6 = new("--ipv6") { Description = "Share 2001:db8:1::1 instead of 192.0.2.1." };
    private static readonly Option<RouterBackend> s_backend = RoutingOptions.Backend();
    private static readonly Option<string> s_state = new("--state") { Description = "The lab state file.", DefaultValueFactory = _ => LabState.DefaultPath };
    private static readonly Option<bool> s_all = new("--all") { Description = $"Remove every namespace named {LabTopology.NamePrefix}* (also after a crash)." };
    private static readonly Option<bool> s_addHost = new("--add-host") { Description = "Add a host and re-plan live." };
    private static readonly Option<string?> s_removeHost = new("--remove-host") { Description = "Remove this host and re-plan live." };
    private static readonly Option<int> s_quarantine = new("--quarantine")
    {
        Description = "Seconds the moved ports stay routed to their previous owner (and out of the new owner's host file), so connections held on them live on; 'lab apply' after that hands them over. 0 hands them over at once.",
        HelpName = "SECONDS",
        DefaultValueFactory = _ => 60,
        Validators =
        {
            r =>
            {
                if (r.GetValueOrDefault<int>() is < 0 or > Planning.PortMove.MaxQuarantineSeconds)
                {
                    r.AddError($"--quarantine must be 0 to {Planning.PortMove.MaxQuarantineSeconds} seconds, not {r.GetValueOrDefault<int>()}.");
                }
            },
        },
    };
    private static readonly Option<string?> s_failRouter = new("--fail-router")
    {
        Description = "With a two-router lab: hold long-lived connections from every host (a byte every 100 ms), remove this router (r1 or r2) half-way, and report per host the connections that survived and the longest stall. The router stays gone: 'lab down' afterwards.",
        Validators = { r => { if (r.GetValueOrDefault<string?>() is { } v && v is not ("r1" or "r2")) { r.AddError($"--fail-router must be r1 or r2, not '{v}'."); } } },
    };

    private static readonly Option<bool> s_fleet = new("--fleet")
    {
        Description = "Fleet mode instead: a 3-member etcd cluster in the lab's namespaces, 'portshare router follow' on the router and 'portshare agent' on three hosts; hosts join, one crashes (its units quarantined, then free), restarts and gets its units back, another restarts within its lease, the etcd leader is killed — with every reply checked and a checker sampling etcd, the router and every host file throughout.",
    };

    private static readonly Option<int> s_routers = new("--routers")
    {
        Description = "Routers serving the same plan (1 or 2): with 2, the server reaches the egress address and each host its default route over both (ECMP).",
        DefaultValueFactory = _ => 1,
        Validators = { r => { if (r.GetValueOrDefault<int>() is < 1 or > 2) { r.AddError($"--routers must be 1 or 2, not {r.GetValueOrDefault<int>()}."); } } },
    };

    public static Command Create(CliConsole console)
    {
        var command = new Command("lab", "A router, N hosts sharing one egress IP, and a server in network namespaces (root): shows that every host egresses only from its slice and every reply returns to its owner, with zero conntrack entries.");

        var up = new Command("up", "Create a lab and apply a plan (equal weights) to its router and hosts.") { s_hosts, s_ipv6, s_backend, s_reassemble, s_routers, s_state };
        up.SetAction((p, ct) => Run(console, () =>
        {
            var path = p.GetValue(s_state)!;
            SafeFile.Check(path, "--state");
            if (File.Exists(path) && NetLab.Exists(LabState.Load(path)))
            {
                throw new PortShareException($"A lab is already running ({path}); run 'portshare lab down' first.");
            }

            var state = NetLab.Up(Options(p), Progress(console), ct);
            state.Save(path);
            console.Out.MarkupLine($"[green]Lab {state.Prefix.EscapeMarkup()} is up.[/] Next: 'portshare lab test', 'lab show', 'lab down'.");
            return Task.FromResult(ExitCodes.Success);
        }, ct));

        var test = new Command("test", "Connect from every host through the router and check each reply reached its owner and no other host; with --fail-router, a router failure test.") { s_connections, s_failRouter, s_state };
        test.SetAction((p, ct) => Run(console, async () =>
        {
            var state = LabState.Load(p.GetValue(s_state)!);
            if (p.GetValue(s_failRouter) is { } fail)
            {
                var failover = await LabFailover.RunAsync(state, FailoverMode.PortShare, failRouter: fail[1] - '0', progress: Progress(console), cancellationToken: ct).ConfigureAwait(false);
                WriteFailover(console, [failover]);
                return failover.Survived == failover.Connections ? ExitCodes.Success : ExitCodes.Failure;
            }

            var report = await NetLab.TestAsync(state, Connections(p), Progress(console), ct).ConfigureAwait(false);
            WriteReport(console, state, report);
            return report.Passed ? ExitCodes.Success : ExitCodes.Failure;
        }));

        var show = new Command("show", "Show the lab's namespaces, the router's installed slices and each host's setup.") { s_state };
        show.SetAction((p, ct) => Run(console, () =>
        {
            Show(console, LabState.Load(p.GetValue(s_state)!));
            return Task.FromResult(ExitCodes.Success);
        }));

        var down = new Command("down", "Remove the lab's namespaces.") { s_all, s_state };
        down.SetAction((p, ct) => Run(console, () =>
        {
            var path = p.GetValue(s_state)!;
            if (p.GetValue(s_all))
            {
                var removed = NetLab.DownAll();
                DeleteIfPresent(path);
                console.Out.MarkupLine($"[green]Removed {removed.Count} lab namespace(s).[/]");
                return Task.FromResult(ExitCodes.Success);
            }

            var state = LabState.Load(path);
            NetLab.Down(state);
            DeleteIfPresent(path);
            console.Out.MarkupLine($"[green]Lab {state.Prefix.EscapeMarkup()} removed.[/]");
            return Task.FromResult(ExitCodes.Success);
        }));

        var demo = new Command("demo", "lab up + test + show + down, with a report and a verdict; by default for IPv4 and IPv6 with both backends (--ipv6 or --backend picks one). Always cleans up.") { s_hosts, s_connections, s_ipv6, s_backend, s_reassemble, s_routers, s_fleet };
        demo.SetAction((p, ct) => Run(console, () => p.GetValue(s_fleet)
            ? FleetDemoAsync(console, p, ct)
            : p.GetValue(s_routers) > 1
            ? FailoverDemoAsync(console, Options(p), ct)
            : p.GetResult(s_ipv6) is null or { Implicit: true } && p.GetResult(s_backend) is null or { Implicit: true }
            ? DemoMatrixAsync(console, Options(p), Connections(p), ct)
            : DemoAsync(console, Options(p), Connections(p), ct), ct));

        var replan = new Command("replan", "Apply an updated plan while connections stay open: ports that do not move keep working, ports that move stay with their previous owner for --quarantine seconds (then 'lab apply' hands them over), and no reply reaches the wrong host.") { s_addHost, s_removeHost, s_quarantine, s_state };
        replan.SetAction((p, ct) => Run(console, () =>
        {
            var path = p.GetValue(s_state)!;
            var add = p.GetValue(s_addHost);
            var remove = p.GetValue(s_removeHost);
            if (add == (remove is not null))
            {
                throw new UsageException("Give exactly one of --add-host or --remove-host NAME.");
            }

            var state = LabState.Load(path);
            var (next, movement) = NetLab.Replan(state, add, remove, progress: Progress(console), quarantineSeconds: p.GetValue(s_quarantine), clock: console.Clock);
            next.Save(path);
            console.Out.MarkupLine($"[green]Re-planned[/] to generation {movement.Generation}: {movement.MovedPorts} of {movement.PreviouslyOwnedPorts} owned ports moved.");
            var moved = new Table().AddColumns("host", "ports before", "after", "kept", "released", "acquired");
            foreach (var h in movement.Hosts)
            {
                moved.AddRow(
                    h.Host.EscapeMarkup(),
                    h.Before.ToString(CultureInfo.InvariantCulture),
                    h.After.ToString(CultureInfo.InvariantCulture),
                    h.Kept.ToString(CultureInfo.InvariantCulture),
                    h.Released.ToString(CultureInfo.InvariantCulture),
                    h.Acquired.ToString(CultureInfo.InvariantCulture));
            }

            console.Out.Write(moved);
            Show(console, next);
            QuarantineNotes.Write(console, movement.Quarantined, console.Now, toStderr: false, "portshare lab apply");
            return Task.FromResult(ExitCodes.Success);
        }));

        var apply = new Command("apply", "Apply the lab's plan again as it holds now: the router, then every host. After a re-plan's quarantine, this hands the moved ports to their new owners (and removes departed hosts).") { s_state };
        apply.SetAction((p, ct) => Run(console, () =>
        {
            var path = p.GetValue(s_state)!;
            var next = NetLab.Apply(LabState.Load(path), Progress(console), console.Clock);
            next.Save(path);
            Show(console, next);
            var waiting = NetLab.PlanOf(next).At(console.Now).Quarantined;
            QuarantineNotes.Write(console, waiting, console.Now, toStderr: false, "portshare lab apply");
            console.Out.MarkupLine(waiting.Count == 0
                ? "[green]Applied:[/] every moved port is with its new owner."
                : $"[green]Applied[/]; {waiting.Count} move(s) still in quarantine.");
            return Task.FromResult(ExitCodes.Success);
        }));

        command.Subcommands.Add(up);
        command.Subcommands.Add(test);
        command.Subcommands.Add(show);
        command.Subcommands.Add(down);
        command.Subcommands.Add(demo);
        command.Subcommands.Add(replan);
        command.Subcommands.Add(apply);
        command.Subcommands.Add(LabDoctorCommand.Create(console, s_state));
        return command;
    }

    private static void DeleteIfPresent(string path)
    {
        if (File.Exists(path))
        {
            File.Delete(path);
        }
    }

    private static LabOptions Options(ParseResult p)
    {
        var hosts = p.GetValue(s_hosts);
        if (hosts is < 1 or > LabTopology.MaxHosts)
        {
            throw new UsageException($"--hosts must be between 1 and {LabTopology.MaxHosts}.");
        }

        return new LabOptions { Hosts = hosts, Ipv6 = p.GetValue(s_ipv6), Backend = p.GetValue(s_backend), Reassemble = p.GetValue(s_reassemble), Routers = p.GetValue(s_routers) };
    }

    private static int Connections(ParseResult p)
    {
        var n = p.GetValue(s_connections);
        return n is >= 1 and <= 100_000 ? n : throw new UsageException("--connections must be between 1 and 100000.");
    }

    private static Task<int> Run(CliConsole console, Func<Task<int>> action, CancellationToken ct = default) => CommandRunner.RunAsync(
        console,
        () =>
        {
            RoutingOptions.RequireRoot();
            return action();
        },
        ct);

    private static Action<string> Progress(CliConsole console) => line => console.Error.MarkupLine($"[grey]› {line.EscapeMarkup()}[/]");

    /// <summary>The demo for every combination of address family and backend, then one summary table.</summary>
    private static async Task<int> DemoMatrixAsync(CliConsole console, LabOptions options, int connections, CancellationToken ct)
    {
        var summary = new Table { Title = new TableTitle("PortShare lab: summary") }.AddColumns("egress", "backend", "connections", "verdict");
        var failed = 0;
        foreach (var backend in new[] { RouterBackend.Netdev, RouterBackend.Nftables, RouterBackend.IpRule })
        {
            foreach (var ipv6 in new[] { false, true })
            {
                var one = options with { Ipv6 = ipv6, Backend = backend, Reassemble = options.Reassemble && backend == RouterBackend.Nftables };
                var code = await DemoAsync(console, one, connections, ct).ConfigureAwait(false);
                console.Out.WriteLine();
                failed += code == ExitCodes.Success ? 0 : 1;
                summary.AddRow(
                    ipv6 ? "IPv6 2001:db8:1::1" : "IPv4 192.0.2.1",
                    NetLab.BackendName(backend),
                    (connections * options.Hosts).ToString(CultureInfo.InvariantCulture),
                    code == ExitCodes.Success ? "[green]PASS[/]" : "[red]FAIL[/]");
            }
        }

        console.Out.Write(summary);
        console.Out.MarkupLine(failed == 0
            ? "[bold green]PASS: IPv4 and IPv6, netdev, nftables and iprule: every host egressed only from its slice, every reply returned to its owner, 0 conntrack entries.[/]"
            : $"[bold red]FAIL: {failed} of 6 lab runs failed (see above).[/]");
        return failed == 0 ? ExitCodes.Success : ExitCodes.Failure;
    }

    /// <summary>
    /// <c>lab demo --routers 2</c>: the failover test with PortShare, then the same with SNAT + conntrack on two routers,
    /// each in a fresh lab, side by side.
    /// </summary>
    private static async Task<int> FailoverDemoAsync(CliConsole console, LabOptions options, CancellationToken ct)
    {
        var progress = Progress(console);
        var reports = new List<FailoverReport>();
        foreach (var mode in (FailoverMode[])[FailoverMode.PortShare, FailoverMode.Snat])
        {
            console.Out.Write(new Rule($"[bold]Router failure[/]: {options.Hosts} hosts, two routers with ECMP both ways, {(mode == FailoverMode.Snat ? "SNAT + conntrack on each router" : "PortShare " + NetLab.BackendName(options.Backend))}").LeftJustified());
            var state = NetLab.Up(options with { Ipv6 = false, Routers = 2 }, progress, ct);
            try
            {
                if (mode == FailoverMode.Snat)
                {
                    LabFailover.UseSnat(state);
                }

                reports.Add(await LabFailover.RunAsync(state, mode, progress: progress, cancellationToken: ct).ConfigureAwait(false));
            }
            finally
            {
                progress($"removing the lab's namespaces ({state.Prefix}*)");
                NetLab.Down(state);
            }
        }

        WriteFailover(console, reports);
        var portShare = reports[0];
        var snat = reports[1];
        var passed = portShare.Survived == portShare.Connections;
        console.Out.MarkupLine(passed
            ? $"[bold green]PASS: router r1 failed; PortShare kept {portShare.Survived}/{portShare.Connections} connections (no router holds per-flow state); SNAT + conntrack kept {snat.Survived}/{snat.Connections}.[/]"
            : $"[bold red]FAIL: PortShare kept only {portShare.Survived}/{portShare.Connections} connections through the router failure (SNAT: {snat.Survived}/{snat.Connections}).[/]");
        return passed ? ExitCodes.Success : ExitCodes.Failure;
    }

    /// <summary><c>lab demo --fleet</c>: see <see cref="FleetDemo"/>.</summary>
    private static async Task<int> FleetDemoAsync(CliConsole console, ParseResult p, CancellationToken ct)
    {
        if (p.GetValue(s_ipv6) || p.GetValue(s_routers) > 1 || p.GetValue(s_reassemble))
        {
            throw new UsageException("lab demo --fleet runs IPv4 with one router: leave out --ipv6, --routers and --reassemble.");
        }

        var backend = p.GetResult(s_backend) is null or { Implicit: true } ? RouterBackend.Netdev : p.GetValue(s_backend);
        var options = new FleetLabOptions { Cli = SelfCommand(), Backend = backend };
        console.Out.Write(new Rule($"[bold]PortShare fleet lab[/]: 3 hosts lease units of one IPv4 egress address from a 3-member etcd cluster; router follows ({NetLab.BackendName(backend)})").LeftJustified());
        var table = new Table { Title = new TableTitle("fleet mode, step by step") }.AddColumns("", "what happened", "what was seen");
        var steps = await FleetDemo.RunAsync(options, Progress(console), s =>
        {
            console.Out.MarkupLine($"{(s.Passed ? "[green]ok[/]" : "[red]FAIL[/]")} {s.What.EscapeMarkup()}: [grey]{s.Detail.EscapeMarkup()}[/]");
            table.AddRow(s.Passed ? "[green]ok[/]" : "[red]FAIL[/]", s.What.EscapeMarkup(), s.Detail.EscapeMarkup());
        }, ct).ConfigureAwait(false);
        console.Out.Write(table);
        var passed = steps.Count > 0 && steps.All(s => s.Passed);
        console.Out.MarkupLine(passed
            ? "[bold green]PASS: fleet mode on etcd: hosts joined, crashed and restarted, the etcd leader died, and no port ever had two owners; every reply reached its owner.[/]"
            : $"[bold red]FAIL: {steps.Count(s => !s.Passed)} of {steps.Count} fleet steps failed (see above).[/]");
        return passed ? ExitCodes.Success : ExitCodes.Failure;
    }

    /// <summary>How to run this very portshare again (the apphost, or <c>dotnet PortShare.Cli.dll</c>).</summary>
    internal static string[] SelfCommand()
    {
        var process = Environment.ProcessPath ?? throw new PortShareException("Cannot tell where this portshare runs from, so the fleet lab cannot start its agents.");
        return Path.GetFileNameWithoutExtension(process) == "dotnet"
            ? [process, typeof(LabCommand).Assembly.Location]
            : [process];
    }

    private static void WriteFailover(CliConsole console, IReadOnlyList<FailoverReport> reports)
    {
        var table = new Table { Title = new TableTitle($"router {reports[0].FailedRouter} removed half-way: connections that survived, longest stall") };
        table.AddColumn("host");
        foreach (var r in reports)
        {
            var name = r.Mode == FailoverMode.Snat ? "SNAT + conntrack" : "PortShare";
            table.AddColumn($"{name}: survived");
            table.AddColumn($"{name}: longest stall");
        }

        foreach (var host in reports[0].Hosts.Select(h => h.Host))
        {
            var row = new List<string> { host.EscapeMarkup() };
            foreach (var r in reports)
            {
                var h = r.Hosts.Single(x => x.Host == host);
                row.Add(h.Survived == h.Connections ? $"[green]{h.Survived}/{h.Connections}[/]" : $"[red]{h.Survived}/{h.Connections}[/]");
                row.Add(string.Create(CultureInfo.InvariantCulture, $"{h.LongestStall.TotalMilliseconds:N0} ms"));
            }

            table.AddRow(row.ToArray());
        }

        console.Out.Write(table);
    }

    private static async Task<int> DemoAsync(CliConsole console, LabOptions options, int connections, CancellationToken ct)
    {
        var family = options.Ipv6 ? "IPv6" : "IPv4";
        console.Out.Write(new Rule($"[bold]PortShare lab[/]: {options.Hosts} hosts share one {family} egress address, {NetLab.BackendName(options.Backend)} backend").LeftJustified());
        var progress = Progress(console);
        var state = NetLab.Up(options, progress, ct);
        try
        {
            var report = await NetLab.TestAsync(state, connections, progress, ct).ConfigureAwait(false);
            Show(console, state);
            WriteReport(console, state, report);
            return report.Passed ? ExitCodes.Success : ExitCodes.Failure;
        }
        finally
        {
            progress($"removing the lab's namespaces ({state.Prefix}*)");
            NetLab.Down(state);
        }
    }

    private static void Show(CliConsole console, LabState state)
    {
        var plan = NetLab.PlanOf(state);
        var egress = NetLab.Egress(state);
        console.Out.MarkupLine($"lab [bold]{state.Prefix.EscapeMarkup()}[/]: router {LabTopology.RouterNs(state.Prefix).EscapeMarkup()}, server {LabTopology.ServerNs(state.Prefix).EscapeMarkup()} ({NetLab.Server(state)}:{LabTopology.ServerPort}), egress {egress}, backend {NetLab.BackendName(state.Backend)}, plan generation {plan.Generation}");
        var installed = NetLab.RouterOf(state).Show();
        var table = RouterCommand.SliceTable(installed);
        table.Title = new TableTitle("router: installed slices");
        console.Out.Write(table);
        foreach (var h in state.Hosts)
        {
            var r = NetLab.ShowHost(state, h);
            var ok = r.ConntrackExempt && r.AddressesPresent.Values.All(v => v);
            var slice = r.Slices.Slices.Count == 0 ? "no usable ports yet" : string.Join(", ", r.Slices.Slices.Select(s => s.Ports));
            var coming = string.Join(", ", r.Slices.Quarantine.Where(q => q.To == h).Select(q => $"{q.Ports} after {Planning.QuarantinedPorts.FormatTime(q.Until, console.Now)}"));
            console.Out.MarkupLine($"  {h.EscapeMarkup()}: slice {slice.EscapeMarkup()}{(coming.Length > 0 ? $" (then {coming.EscapeMarkup()})" : string.Empty)}, ip_local_port_range {r.PortRange.EscapeMarkup()}, {(ok ? "[green]egress IP on lo, untracked[/]" : "[red]setup incomplete[/]")}");
        }

        foreach (var h in state.Departing)
        {
            console.Out.MarkupLine($"  {h.EscapeMarkup()}: [yellow]departing[/]: removed from the plan, still gets the replies of its open connections until its quarantine ends");
        }
    }

    private static void WriteReport(CliConsole console, LabState state, LabTestReport report)
    {
        var table = new Table { Title = new TableTitle($"{report.Connections} connections in {report.Elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s") };
        table.AddColumns("host", "slice", "conns", "ports", "replies", "outside", "misdelivered", "");
        foreach (var h in report.Hosts)
        {
            table.AddRow(
                h.Host.EscapeMarkup(),
                h.WaitingUntil is { } until ? $"(in quarantine until {Planning.QuarantinedPorts.FormatTime(until, console.Now)})" : string.Join(", ", h.Slice),
                h.Attempted.ToString(CultureInfo.InvariantCulture),
                h.DistinctPorts.ToString(CultureInfo.InvariantCulture),
                $"{h.Ok}/{h.Attempted}",
                h.OutsideSlice.ToString(CultureInfo.InvariantCulture),
                h.Misdelivered.ToString(CultureInfo.InvariantCulture),
                h.Passed ? "[green]ok[/]" : "[red]FAIL[/]");
        }

        console.Out.Write(table);
        foreach (var h in report.Hosts.Where(h => h.Errors.Count > 0))
        {
            foreach (var e in h.Errors)
            {
                console.Error.MarkupLine($"[red]{h.Host.EscapeMarkup()}:[/] {e.EscapeMarkup()}");
            }
        }

        console.Out.MarkupLine($"router {LabTopology.RouterNs(state.Prefix).EscapeMarkup()}: conntrack entries [bold]{report.RouterConntrackEntries}[/], NAT rules [bold]{(report.RouterNatRules.Count == 0 ? "none" : string.Join("; ", report.RouterNatRules).EscapeMarkup())}[/]; server saw foreign ports: {report.ServerSawForeign}");
        console.Out.MarkupLine(report.Passed ? $"[bold green]{report.Verdict.EscapeMarkup()}[/]" : $"[bold red]{report.Verdict.EscapeMarkup()}[/]");
    }
}
