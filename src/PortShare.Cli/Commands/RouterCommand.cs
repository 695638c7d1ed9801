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
    private static readonly Option<int> s_table = new("--table-base") { Description = "First routing table PortShare owns (nftables and iprule backends; host N uses base+N, and mark 0x5053000 + N).", DefaultValueFactory = _ => 5300 };
    private static readonly Option<int> s_tableCount = new("--table-count")
    {
        Description = "How many tables and marks PortShare owns from --table-base (nftables and iprule backends): at most count-1 hosts. A host's number is a hash of its name, so the same plan always gets the same tables; the default spans the whole 16-bit mark space.",
        DefaultValueFactory = _ => 65536,
        Validators = { r => { if (r.GetValueOrDefault<int>() is < 2 or > 65536) { r.AddError($"--table-count must be 2-65536, not {r.GetValueOrDefault<int>()}."); } } },
    };

    private static readonly Option<string[]> s_uplink = new("--uplink")
    {
        Description = "netdev backend: the device(s) replies arrive on (default: the devices of the default routes). An unknown device is an error.",
        AllowMultipleArgumentsPerToken = true,
    };

    private static readonly Option<bool> s_json = CliOptions.Json();
    private static readonly Option<bool> s_counters = new("--counters") { Description = "netdev backend: packets and bytes forwarded to each host, and replies dropped because no slice owns their port." };

    public static Command Create(CliConsole console)
    {
        var command = new Command("router", "Route replies to the shared egress IP back to the host owning the destination port, with no conntrack and no NAT.");

        var apply = new Command("apply", "Install or update the return path for a plan: changes only what differs, in one batch per step; a failure rolls back to the previous state. Ports no slice owns are dropped. The iprule backend cannot route a slice ending at 65535 and does not steer ICMP errors.")
        {
            s_plan, s_backend, s_uplink, s_reassemble, s_dryRun, s_netns, s_priority, s_table, s_tableCount,
        };
        apply.SetAction((p, ct) => CommandRunner.RunAsync(console, () => Task.FromResult(Apply(console, p))));

        var remove = new Command("remove", "Delete every rule, route and nftables table PortShare made (nothing else).") { s_dryRun, s_netns, s_priority, s_table, s_tableCount };
        remove.SetAction((p, ct) => CommandRunner.RunAsync(console, () =>
        {
            var router = Make(p);
            var dry = p.GetValue(s_dryRun);
            if (!dry)
            {
                RoutingOptions.RequireRoot();
            }

            var change = router.Remove(dry);
            foreach (var w in change.Warnings)
            {
                console.WriteWarning(w);
            }

            Report(console, change, dry, "removed");
            return Task.FromResult(ExitCodes.Success);
        }));

        var show = new Command("show", "List the slices installed on this router, the plan generation and a digest of the installed state (equal on routers that serve the same plan).") { s_netns, s_priority, s_table, s_tableCount, s_json, s_counters };
        show.SetAction((p, ct) => CommandRunner.RunAsync(console, () =>
        {
            var status = Make(p).Status();
            if (p.GetValue(s_json))
            {
                console.RawOut.WriteLine(System.Text.Json.JsonSerializer.Serialize(RouterShowJson.From(status, p.GetValue(s_counters)), RouterJsonContext.Default.RouterShowJson));
                return Task.FromResult(ExitCodes.Success);
            }

            foreach (var f in status.Foreign.Take(5))
            {
                console.WriteWarning($"not PortShare's (left alone): {f}");
            }

            if (status.Slices.Count == 0)
            {
                console.Out.MarkupLine("[grey]No PortShare slices are installed.[/]");
                return Task.FromResult(ExitCodes.Success);
            }

            console.Out.MarkupLine($"backend [bold]{status.Backend}[/], plan generation {(status.Generation?.ToString(CultureInfo.InvariantCulture) ?? "unknown")}, digest [bold]{status.Digest}[/], {status.Slices.Count} slice(s)");
            if (p.GetValue(s_counters))
            {
                console.Out.Write(CounterTable(status));
            }
            else
            {
                console.Out.Write(SliceTable(status.Slices));
            }

            return Task.FromResult(ExitCodes.Success);
        }));

        command.Subcommands.Add(apply);
        command.Subcommands.Add(remove);
        command.Subcommands.Add(show);
        command.Subcommands.Add(CreateFollow(console));
        return command;
    }

    private static Command CreateFollow(CliConsole console)
    {
        var etcd = FleetCommand.Etcd();
        var prefix = FleetCommand.Prefix();
        var metrics = AgentCommand.Metrics();
        var follow = new Command("follow", "Follow a fleet pool on etcd: install its routes (owned and quarantined units to their host), then apply every change in revision order. A lost watch or a compaction reads the pool again; with etcd lost the router keeps forwarding with what it has.")
        {
            etcd, prefix, s_backend, s_uplink, s_reassemble, s_netns, s_priority, s_table, s_tableCount, metrics,
        };
        follow.SetAction((p, ct) => CommandRunner.RunAsync(console, async () =>
        {
            RoutingOptions.RequireRoot();
            var router = Make(p);
            using var fleet = new Fleet.EtcdFleet(p.GetRequiredValue(etcd), p.GetRequiredValue(prefix));
            var log = AgentCommand.Log(console);
            var follower = new Fleet.FleetFollower(fleet, (routes, revision) =>
            {
                // A pool with no owned or quarantined unit routes nothing: PortShare's rules go.
                var change = routes.Count == 0 ? router.Remove() : router.Apply(routes, generation: revision);
                foreach (var w in change.Warnings)
                {
                    log($"warning: {w}");
                }

                return change.Count;
            }, log);
            using var exporter = AgentCommand.Export(p.GetValue(metrics), () => Fleet.FleetMetrics.ForFollower(follower));
            await follower.RunAsync(ct);
            return ExitCodes.Success;
        }));
        return follow;
    }

    internal static Table SliceTable(IReadOnlyList<InstalledSlice> slices)
    {
        var table = new Table().AddColumns("egress", "ports", "host / table", "next hop");
        foreach (var s in slices)
        {
            table.AddRow(
                s.Egress.ToString(),
                s.Range.ToString(),
                (s.Host ?? s.Table.ToString(CultureInfo.InvariantCulture)).EscapeMarkup(),
                (s.NextHop ?? "(missing)").EscapeMarkup());
        }

        return table;
    }

    private static Table CounterTable(RouterStatus status)
    {
        var table = new Table().AddColumns("host", "packets", "bytes");
        if (status.Counters is not { } c)
        {
            table.Caption("counters need the netdev backend");
            return table;
        }

        foreach (var (host, (packets, bytes)) in c.Hosts.OrderBy(h => h.Key, StringComparer.Ordinal))
        {
            table.AddRow(host.EscapeMarkup(), packets.ToString(CultureInfo.InvariantCulture), bytes.ToString(CultureInfo.InvariantCulture));
        }

        table.AddRow("[yellow](dropped: no slice owns the port)[/]", c.UnownedPackets.ToString(CultureInfo.InvariantCulture), c.UnownedBytes.ToString(CultureInfo.InvariantCulture));
        return table;
    }

    private static Router Make(ParseResult p) => new(new NetTools(p.GetValue(s_netns)), new RouterOptions
    {
        Backend = p.GetValue(s_backend),
        Reassemble = p.GetValue(s_reassemble),
        PriorityBase = p.GetValue(s_priority),
        TableBase = p.GetValue(s_table),
        TableCount = p.GetValue(s_tableCount),
        Uplinks = p.GetValue(s_uplink) ?? [],
    });

    private static int Apply(CliConsole console, ParseResult p)
    {
        // The plan file is parsed and validated once here; the router checks the slices once more as routes, and nothing else.
        // Ports still in quarantine are routed to their previous owner; an apply after the quarantine hands them over.
        var plan = Planning.PlanFile.Load(p.GetRequiredValue(s_plan).FullName);
        var now = console.Now;
        var at = plan.At(now);
        var routes = PlanRoutes.From(at);
        var dry = p.GetValue(s_dryRun);
        if (!dry)
        {
            RoutingOptions.RequireRoot();
        }

        var router = Make(p);
        var change = router.Apply(routes, dry, plan.Generation);
        foreach (var w in change.Warnings)
        {
            console.WriteWarning(w);
        }

        Report(console, change, dry, "applied");
        QuarantineNotes.Write(console, at.Quarantined, now, toStderr: dry);
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

/// <summary>The JSON of <c>router show --json</c>.</summary>
internal sealed record RouterShowJson(string Backend, long? Generation, string Digest, IReadOnlyList<RouterShowSlice> Slices, Dictionary<string, RouterShowCounter>? Counters, RouterShowCounter? DroppedUnowned, IReadOnlyList<string> Foreign)
{
    public static RouterShowJson From(RouterStatus s, bool counters) => new(
        s.Backend,
        s.Generation,
        s.Digest,
        s.Slices.Select(x => new RouterShowSlice(x.Egress.ToString(), x.Range.ToString(), x.Host, x.Table == 0 ? null : x.Table, x.NextHop)).ToList(),
        counters && s.Counters is { } c ? c.Hosts.ToDictionary(h => h.Key, h => new RouterShowCounter(h.Value.Packets, h.Value.Bytes), StringComparer.Ordinal) : null,
        counters && s.Counters is { } d ? new RouterShowCounter(d.UnownedPackets, d.UnownedBytes) : null,
        s.Foreign);
}

/// <summary>One slice in <see cref="RouterShowJson"/>.</summary>
internal sealed record RouterShowSlice(string Egress, string Ports, string? Host, int? Table, string? NextHop);

/// <summary>A packet and byte count.</summary>
internal sealed record RouterShowCounter(long Packets, long Bytes);

[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.SnakeCaseLower)]
[System.Text.Json.Serialization.JsonSerializable(typeof(RouterShowJson))]
internal sealed partial class RouterJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
