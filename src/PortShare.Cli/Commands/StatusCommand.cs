using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;
using PortShare.Connect;
using PortShare.Diagnostics;
using Spectre.Console;

namespace PortShare.Cli.Commands;

/// <summary>
/// <c>portshare status --slice LO-HI [--slice …] [--local-address IP] [--json] [--watch N]</c>: how full each slice is
/// (TCP and UDP sockets, distinct destinations, the fullest destination), and flows on the egress address that use no
/// slice. Reads sock_diag.
/// </summary>
internal static class StatusCommand
{
    private static readonly Option<PortSlice[]> s_slice = new("--slice")
    {
        Description = "A port slice LO-HI[,LO-HI…] to report on, one row per range (repeat for several). Without --slice or --plan: every range this host owns in its host file (portshare host apply).",
        HelpName = "LO-HI[,LO-HI…]",
        CustomParser = CliParsers.Slices,
    };

    private static readonly Option<IPAddress?> s_localAddress = new("--local-address")
    {
        Description = "The egress address: count only sockets on it, and warn about its flows outside every slice.",
        HelpName = "IP",
        CustomParser = CliParsers.Address,
    };

    private static readonly Option<bool> s_json = new("--json") { Description = "Print JSON (one document per refresh) instead of a table." };

    private static readonly Option<int?> s_watch = new("--watch")
    {
        Description = "Refresh every N seconds until interrupted.",
        HelpName = "N",
    };

    static StatusCommand()
    {
        s_watch.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int?>() is < 1 or > 3600)
            {
                r.AddError("--watch: the refresh interval must be between 1 and 3600 seconds.");
            }
        });
    }

    public static Command Create(CliConsole console)
    {
        var command = new Command("status", "Show how full each port slice is: sockets, destinations, the fullest destination (from sock_diag).")
        {
            s_slice,
            s_localAddress,
            s_json,
            s_watch,
            SliceSource.Plan,
            SliceSource.Host,
        };
        command.SetAction((parseResult, ct) => CommandRunner.RunAsync(console, () =>
        {
            var (slices, local) = ResolveSlices(parseResult, console.Now);
            return RunAsync(console, slices, local, parseResult.GetValue(s_json), parseResult.GetValue(s_watch), CurrentNamespace.Instance, ct);
        }));
        return command;
    }

    /// <summary>--slice (repeatable), or every range of --plan/--host, or every range of this host's host file: one row per range.</summary>
    private static (IReadOnlyList<PortRange> Slices, IPAddress? Local) ResolveSlices(ParseResult parse, DateTimeOffset now)
    {
        var given = parse.GetValue(s_slice) ?? [];
        var local = parse.GetValue(s_localAddress);
        var plan = parse.GetValue(SliceSource.Plan);
        var host = parse.GetValue(SliceSource.Host);
        if (given.Length > 0)
        {
            return plan is null && host is null ? ([.. given.SelectMany(g => g.Ranges)], local) : throw new UsageException("Give either --slice or --plan with --host, not both.");
        }

        if ((plan is null) != (host is null))
        {
            throw new UsageException("--plan and --host go together: --plan PLAN.json --host NAME.");
        }

        var file = plan is null ? HostSliceFile.Load() : Planning.PlanFile.Load(plan).HostFile(host!, now);
        var mine = file.Slices.Where(s => local is null || s.Egress.Equals(local)).ToList();
        if (mine.Count == 0)
        {
            throw new PortShareException($"Host {file.Host} owns no slice on {local} ({(plan is null ? HostSliceFile.ResolvePath() : plan)}).");
        }

        var ips = mine.Select(s => s.Egress).Distinct().ToList();
        return ([.. mine.SelectMany(s => s.Ports.Ranges).Distinct()], local ?? (ips.Count == 1 ? ips[0] : null));
    }

    internal static async Task<int> RunAsync(CliConsole console, IReadOnlyList<PortRange> slices, IPAddress? local, bool json, int? watch, ISocketEnvironment env, CancellationToken ct)
    {
        CheckSlices(slices);
        while (true)
        {
            var report = SliceStatusReader.Read(slices, local, env);
            Render(console, report, json);
            if (watch is not { } seconds)
            {
                return ExitCodes.Success;
            }

            try
            {
                await Task.Delay(TimeSpan.FromSeconds(seconds), ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Interrupting --watch is how it ends.
                return ExitCodes.Success;
            }
        }
    }

    internal static void Render(CliConsole console, SliceStatusReport report, bool json)
    {
        if (json)
        {
            console.RawOut.WriteLine(JsonSerializer.Serialize(StatusJson.From(report), StatusJsonContext.Default.StatusJson));
            console.RawOut.Flush();
        }
        else
        {
            var table = new Table().Title($"port slices at {report.ReadAt.ToLocalTime().ToString("HH:mm:ss", CultureInfo.InvariantCulture)}" + (report.LocalAddress is null ? string.Empty : $" on {report.LocalAddress}"));
            table.AddColumns("slice", "ports", "tcp", "udp", "destinations", "fullest destination", "fill");
            foreach (var s in report.Slices)
            {
                var fill = s.Fullest is null ? "-" : (s.Fullest.Fill * 100).ToString("0", CultureInfo.InvariantCulture) + "%";
                var colour = s.Fullest?.Fill switch { >= 1 => "red", >= 0.8 => "yellow", _ => "green" };
                table.AddRow(
                    s.Slice.ToString().EscapeMarkup(),
                    s.Slice.Count.ToString(CultureInfo.InvariantCulture),
                    s.TcpSockets.ToString(CultureInfo.InvariantCulture),
                    s.UdpSockets.ToString(CultureInfo.InvariantCulture),
                    s.Destinations.ToString(CultureInfo.InvariantCulture),
                    s.Fullest is null ? "-" : $"{s.Fullest.Protocol} {s.Fullest.Remote} ({s.Fullest.PortsInUse} ports)".EscapeMarkup(),
                    $"[{colour}]{fill.EscapeMarkup()}[/]");
            }

            console.Out.Write(table);
        }

        foreach (var s in report.Slices.Where(s => !s.InsideNetnsRange))
        {
            console.WriteWarning($"slice {s.Slice} is not inside ip_local_port_range {report.NetnsRange}: the kernel would use ports outside it. Fix the slice or the sysctl.");
        }

        if (report.OutsideSlices.Count > 0)
        {
            var examples = string.Join(", ", report.OutsideSlices.Take(3).Select(s => $"{Proto(s)} {s.Local} -> {s.Remote}"));
            console.WriteWarning($"{report.OutsideSlices.Count} flow(s) on {report.LocalAddress} use a port outside every slice (e.g. {examples}): their replies will reach another host. Is the egress address the primary source address?");
        }
    }

    private static void CheckSlices(IReadOnlyList<PortRange> slices)
    {
        if (slices.Count == 0)
        {
            throw new UsageException("give at least one --slice LO-HI.");
        }

        var sorted = slices.OrderBy(s => s.Low).ToList();
        for (var i = 1; i < sorted.Count; i++)
        {
            if (sorted[i].Overlaps(sorted[i - 1]))
            {
                throw new UsageException($"--slice {sorted[i - 1]} and --slice {sorted[i]} overlap: slices must be disjoint.");
            }
        }
    }

    private static string Proto(DiagSocket s) => s.Protocol == System.Net.Sockets.ProtocolType.Tcp ? "tcp" : "udp";

    internal sealed record StatusJson(string ReadAt, string? LocalAddress, string NetnsRange, IReadOnlyList<SliceJson> Slices, IReadOnlyList<FlowJson> OutsideSlices)
    {
        public static StatusJson From(SliceStatusReport r) => new(
            r.ReadAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture),
            r.LocalAddress?.ToString(),
            r.NetnsRange.ToString(),
            [.. r.Slices.Select(s => new SliceJson(
                s.Slice.ToString(),
                s.Slice.Count,
                s.InsideNetnsRange,
                s.TcpSockets,
                s.UdpSockets,
                s.Destinations,
                s.Fullest is null ? null : new DestinationJson(s.Fullest.Protocol, s.Fullest.Remote.ToString(), s.Fullest.PortsInUse, Math.Round(s.Fullest.Fill, 4))))],
            [.. r.OutsideSlices.Select(s => new FlowJson(Proto(s), s.Local.ToString(), s.Remote.ToString(), s.State.ToString()))]);
    }

    internal sealed record SliceJson(string Slice, int Ports, bool InsideNetnsRange, int Tcp, int Udp, int Destinations, DestinationJson? Fullest);

    internal sealed record DestinationJson(string Protocol, string Remote, int PortsInUse, double Fill);

    internal sealed record FlowJson(string Protocol, string Local, string Remote, string State);
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(StatusCommand.StatusJson))]
internal sealed partial class StatusJsonContext : JsonSerializerContext;
