using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using PortShare.Fleet;
using Spectre.Console;

namespace PortShare.Cli.Commands;

/// <summary><c>portshare fleet init|status</c>: a pool of port units on etcd.</summary>
internal static class FleetCommand
{
    private static readonly Argument<FileInfo> s_spec = new("SPEC.json") { Description = "The fleet spec: unit_size (a power of two), min_units, quarantine_seconds, lease_ttl_seconds, usable_range, reserved, egress[{address, usable_range, reserved}]." };
    private static readonly Option<bool> s_json = new("--json") { Description = "Print JSON (snake_case) instead of a table." };
    private static readonly Option<int?> s_samples = new("--samples")
    {
        Description = "With --watch: stop after this many samples (like 'vmstat 1 5'), for scripts.",
        Validators = { r => { if (r.GetValueOrDefault<int?>() is < 1) { r.AddError($"--samples must be at least 1, not {r.GetValueOrDefault<int?>()}."); } } },
    };

    private static readonly Option<double?> s_watch = new("--watch")
    {
        Description = "Print the units per host every SECONDS (default 1) until Ctrl-C: one line per sample, so the lines show the pool over time (with --json, one JSON object per line).",
        Arity = ArgumentArity.ZeroOrOne,
        CustomParser = r =>
        {
            if (r.Tokens.Count == 0)
            {
                return 1;
            }

            if (double.TryParse(r.Tokens[0].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v is >= 0.1 and <= 3600)
            {
                return v;
            }

            r.AddError($"--watch '{r.Tokens[0].Value}' must be a number of seconds from 0.1 to 3600.");
            return null;
        },
    };

    public static Option<string> Etcd() => new("--etcd")
    {
        Description = "The etcd endpoints, comma-separated URLs with their port (e.g. http://127.0.0.1:2379, or every member of a cluster).",
        Required = true,
        Validators =
        {
            r =>
            {
                if (r.GetValueOrDefault<string>() is { } v && !EtcdFleet.TryParseEndpoints(v, out _, out var error))
                {
                    r.AddError(error);
                }
            },
        },
    };

    public static Option<string> Prefix() => new("--prefix")
    {
        Description = "The key prefix of the pool.",
        DefaultValueFactory = _ => FleetKeys.DefaultPrefix,
        Validators =
        {
            r =>
            {
                if (r.GetValueOrDefault<string>() is { } v && (v.Length == 0 || v.Any(c => char.IsWhiteSpace(c) || char.IsControl(c))))
                {
                    r.AddError($"--prefix '{v}' is not a key prefix: give a non-empty prefix without spaces, e.g. {FleetKeys.DefaultPrefix}.");
                }
            },
        },
    };

    private static readonly Argument<string?> s_host = new("HOST") { Description = "The host to drain.", Arity = ArgumentArity.ZeroOrOne };
    private static readonly Option<string?> s_egress = new("--egress") { Description = "Drain this egress address instead of a host." };
    private static readonly Option<bool> s_cancel = new("--cancel") { Description = "Remove the drain order." };

    public static Command Create(CliConsole console)
    {
        var etcd = Etcd();
        var prefix = Prefix();
        var command = new Command("fleet", "Fleet mode on etcd: a pool of fixed-size port units that host agents lease.");

        var init = new Command("init", "Create the pool from a fleet spec, in one transaction: an identical pool is left as it is, a different one is an error and nothing is written.") { s_spec, etcd, prefix };
        init.SetAction((p, ct) => CommandRunner.RunAsync(console, async () =>
        {
            var file = p.GetRequiredValue(s_spec);
            if (!file.Exists)
            {
                throw new UsageException($"Fleet spec '{file.FullName}' does not exist.");
            }

            var spec = PoolSpec.Parse(await File.ReadAllTextAsync(file.FullName, ct), $"Fleet spec '{file.FullName}'");
            using var fleet = new EtcdFleet(p.GetRequiredValue(etcd), p.GetRequiredValue(prefix));
            var result = await fleet.InitAsync(spec, ct);
            var units = spec.Egress.Sum(e => spec.UnitsOf(e).Count);
            console.Out.MarkupLine(result == InitResult.Created
                ? $"Created pool {fleet.Keys.Prefix.EscapeMarkup()}: {units.ToString(CultureInfo.InvariantCulture)} units of {spec.UnitSize.ToString(CultureInfo.InvariantCulture)} ports on {spec.Egress.Count.ToString(CultureInfo.InvariantCulture)} egress address(es)."
                : $"Pool {fleet.Keys.Prefix.EscapeMarkup()} already exists with this spec: nothing written.");
            return ExitCodes.Success;
        }));

        var status = new Command("status", "Every unit: owner, state (owned, draining, quarantined, free), lease TTL left and epoch; hosts waiting for a unit when the pool is short. --watch prints the units per host over time.") { etcd, prefix, s_json, s_watch, s_samples };
        status.SetAction((p, ct) => CommandRunner.RunAsync(console, async () =>
        {
            using var fleet = new EtcdFleet(p.GetRequiredValue(etcd), p.GetRequiredValue(prefix));
            var json = p.GetValue(s_json);
            if (p.GetResult(s_watch) is { Implicit: false })
            {
                var every = p.GetValue(s_watch) ?? 1;
                await WatchAsync(console, fleet, json, TimeSpan.FromSeconds(every), p.GetValue(s_samples) ?? int.MaxValue, ct);
                return ExitCodes.Success;
            }

            if (p.GetValue(s_samples) is not null)
            {
                throw new UsageException("--samples goes with --watch.");
            }

            var rows = await fleet.StatusAsync(ct);
            if (json)
            {
                console.RawOut.WriteLine(JsonSerializer.Serialize(rows.ToList(), FleetJsonContext.Default.ListUnitStatus));
                console.RawOut.Flush();
                return ExitCodes.Success;
            }

            var table = new Table().AddColumns("egress", "unit", "owner", "state", "lease ttl", "epoch");
            foreach (var r in rows)
            {
                table.AddRow(
                    r.Egress.EscapeMarkup(),
                    r.Unit,
                    (r.Owner ?? "-").EscapeMarkup(),
                    r.State,
                    r.LeaseTtlLeft is { } t ? t.ToString(CultureInfo.InvariantCulture) + " s" : "-",
                    r.Epoch is { } e ? e.ToString(CultureInfo.InvariantCulture) : "-");
            }

            console.Out.Write(table);
            foreach (var (egress, host) in (await fleet.ReadAsync(ct)).Wants())
            {
                console.Out.MarkupLine($"[yellow]{host.EscapeMarkup()} waits for a unit on {egress}: the pool is full (hosts above their fair share are asked to yield one).[/]");
            }

            return ExitCodes.Success;
        }));

        command.Subcommands.Add(init);
        command.Subcommands.Add(status);
        command.Subcommands.Add(CreateDrain(console, etcd, prefix));
        return command;
    }

    /// <summary>One line (or JSON object) per sample: units per host, free and quarantined units, waiting hosts.</summary>
    private static async Task WatchAsync(CliConsole console, EtcdFleet fleet, bool json, TimeSpan every, int samples, CancellationToken ct)
    {
        for (var n = 0; n < samples && !ct.IsCancellationRequested; n++)
        {
            var view = await fleet.ReadAsync(ct);
            var units = view.Units();
            var sample = new FleetSampleJson(
                DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture),
                units.Where(u => u.Owner is not null).GroupBy(u => u.Owner!.Host).OrderBy(g => g.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal),
                units.Count(u => u.IsFree),
                units.Count(u => u.IsQuarantined),
                [.. view.Wants().Select(w => $"{w.Host}@{w.Egress}")]);
            if (json)
            {
                console.RawOut.WriteLine(JsonSerializer.Serialize(sample, FleetJsonContext.Default.FleetSampleJson));
            }
            else
            {
                var hosts = string.Join("  ", sample.Hosts.Select(h => string.Create(CultureInfo.InvariantCulture, $"{h.Key} {h.Value}")));
                console.RawOut.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{DateTime.UtcNow:HH:mm:ss}  {(hosts.Length == 0 ? "(no host)" : hosts)}  | free {sample.Free}  quarantined {sample.Quarantined}{(sample.Wants.Count > 0 ? "  | waiting: " + string.Join(", ", sample.Wants) : string.Empty)}"));
            }

            console.RawOut.Flush();
            if (n + 1 == samples)
            {
                return;
            }

            try
            {
                await Task.Delay(every, ct);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private static Command CreateDrain(CliConsole console, Option<string> etcd, Option<string> prefix)
    {
        var drain = new Command("drain", "Record a drain order for a host (or with --egress, an egress address): its units show as draining, their agents stop new connections from them, release each into quarantine once its connections end (at most the agent's --drain-timeout) and claim nothing more there. --cancel withdraws the order and the agents claim again.") { s_host, s_egress, s_cancel, etcd, prefix };
        drain.SetAction((p, ct) => CommandRunner.RunAsync(console, async () =>
        {
            var host = p.GetValue(s_host);
            var egressText = p.GetValue(s_egress);
            if ((host is null) == (egressText is null))
            {
                throw new UsageException("fleet drain needs either HOST or --egress IP (one of them).");
            }

            System.Net.IPAddress? egress = null;
            if (egressText is not null && !System.Net.IPAddress.TryParse(egressText, out egress))
            {
                throw new UsageException($"--egress '{egressText}' is not an IP address.");
            }

            if (host is not null && !PortShare.Routing.RouteValidation.IsValidName(host))
            {
                throw new UsageException($"HOST '{host}' is not a valid host name: use 1-63 letters, digits, '.', '_' or '-'.");
            }

            using var fleet = new EtcdFleet(p.GetRequiredValue(etcd), p.GetRequiredValue(prefix));
            var cancel = p.GetValue(s_cancel);
            var changed = await fleet.DrainAsync(host, egress, cancel, ct);
            var what = host is not null ? $"host {host}" : $"egress {egress}";
            console.Out.MarkupLine((changed
                ? (cancel ? $"Drain order for {what} removed." : $"Drain order for {what} recorded.")
                : (cancel ? $"There was no drain order for {what}." : $"A drain order for {what} was already there.")).EscapeMarkup());
            return ExitCodes.Success;
        }));
        return drain;
    }
}
