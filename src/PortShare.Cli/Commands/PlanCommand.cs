using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using PortShare.Planning;
using Spectre.Console;

namespace PortShare.Cli.Commands;

/// <summary>
/// <c>portshare plan new|update|show|validate|slice|who</c>: cut egress IPs into host slices, re-plan with minimal
/// movement, read plans, and attribute a port at a time to a host. The syntax of each subcommand is its static fields;
/// the actions follow.
/// </summary>
internal static class PlanCommand
{
    private static readonly (string Name, Func<CliConsole, Command> Create)[] s_subcommands =
    [
        ("new", New.Create), ("update", Update.Create), ("show", Show.Create), ("validate", Validate.Create), ("slice", Slice.Create), ("who", Who.Create),
    ];

    public static Command Create(CliConsole console) => Create(console, only: null);

    /// <summary>The group with only the subcommand <paramref name="only"/> when it names one (what a run of it needs: each
    /// subcommand's options are built and compiled when it is, and <c>plan slice</c> runs once per host at boot), else
    /// with all of them (help, a mistyped name).</summary>
    public static Command Create(CliConsole console, string? only)
    {
        var command = new Command("plan", "Plan which host owns which ports of each shared egress IP.");
        var named = Array.Exists(s_subcommands, s => s.Name == only);
        foreach (var (name, create) in s_subcommands)
        {
            if (!named || name == only)
            {
                command.Subcommands.Add(create(console));
            }
        }

        return command;
    }

    private static class New
    {
        private static readonly Argument<string> s_spec = new("SPEC") { Description = "The plan spec (JSON, see examples/spec.json)." };
        private static readonly Option<string?> s_output = OutputOption();
        private static readonly Option<string?> s_history = HistoryOption("Append the new plan to this history file (created if missing).");
        private static readonly Option<DateTimeOffset?> s_effective = TimeOption("--effective", "When the plan takes effect, for the history (ISO 8601; default now).");
        private static readonly Option<bool> s_json = JsonOption();

        public static Command Create(CliConsole console)
        {
            var command = new Command("new", "Plan from a spec: write the plan (to -o or stdout) and print its capacity report.")
            {
                s_spec, s_output, s_history, s_effective, s_json,
            };
            command.SetAction((parse, ct) => CommandRunner.RunAsync(console, () => Task.FromResult(Run(console, parse))));
            return command;
        }

        private static int Run(CliConsole console, ParseResult parse)
        {
            var spec = PlanFile.LoadSpec(parse.GetValue(s_spec)!);
            var plan = Planner.Create(spec);
            WarnShortfalls(console, spec, plan);
            Emit(console, plan, parse.GetValue(s_output), parse.GetValue(s_history), parse.GetValue(s_effective), parse.GetValue(s_json), [parse.GetValue(s_spec)!]);
            return ExitCodes.Success;
        }
    }

    private static class Update
    {
        private static readonly Argument<string> s_spec = new("SPEC") { Description = "The changed plan spec." };
        private static readonly Option<string> s_previous = new("--previous", "-p") { Description = "The plan in effect now.", Required = true };
        private static readonly Option<string?> s_output = OutputOption();
        private static readonly Option<bool> s_compact = new("--compact") { Description = "Re-plan from scratch (one range per host) instead of keeping ports in place; moves more ports." };
        private static readonly Option<string?> s_history = HistoryOption("Append the new plan to this history file.");
        private static readonly Option<DateTimeOffset?> s_effective = TimeOption("--effective", "When the new plan takes effect, for the history and as the time of its moves (ISO 8601; default now).");
        private static readonly Option<int> s_quarantine = new("--quarantine")
        {
            Description = $"Seconds a moved port stays routed to its previous owner (and out of the new owner's host file), so connections on it live on: at least the hosts' TIME_WAIT. 0 hands ports over at once. At most {PortMove.MaxQuarantineSeconds}.",
            HelpName = "SECONDS",
            DefaultValueFactory = _ => 60,
            Validators =
            {
                r =>
                {
                    if (r.GetValueOrDefault<int>() is < 0 or > PortMove.MaxQuarantineSeconds)
                    {
                        r.AddError($"--quarantine must be 0 to {PortMove.MaxQuarantineSeconds} seconds, not {r.GetValueOrDefault<int>()}.");
                    }
                },
            },
        };

        private static readonly Option<bool> s_json = JsonOption();

        public static Command Create(CliConsole console)
        {
            var command = new Command("update", "Re-plan for a changed spec, keeping each remaining host's ports where possible; print the ports moved per host. Moved ports stay with their previous owner for --quarantine seconds.")
            {
                s_spec, s_previous, s_output, s_compact, s_quarantine, s_history, s_effective, s_json,
            };
            command.SetAction((parse, ct) => CommandRunner.RunAsync(console, () => Task.FromResult(Run(console, parse))));
            return command;
        }

        private static int Run(CliConsole console, ParseResult parse)
        {
            // The spec is read on another core while the previous plan is (a fleet's are 0.7 and 5 MB; the previous plan
            // was started as the process started: Prefetch); the previous plan's errors are reported first, as when they
            // were read one after the other.
            var specPath = parse.GetValue(s_spec)!;
            var loadingSpec = Task.Run(() => PlanFile.LoadSpec(specPath));
            var previous = Prefetch.LoadPrevious(parse.GetValue(s_previous)!);
            var spec = loadingSpec.GetAwaiter().GetResult();
            var strategy = parse.GetValue(s_compact) ? ReplanStrategy.Compact : ReplanStrategy.KeepPorts;

            // The moves happen when the plan takes effect: quarantines running then carry over, those over are dropped.
            var now = parse.GetValue(s_effective) ?? console.Now;
            var (plan, movement) = Planner.Replan(previous, spec, strategy, now, parse.GetValue(s_quarantine));
            WarnShortfalls(console, spec, plan);
            var output = parse.GetValue(s_output);
            var json = parse.GetValue(s_json);

            // The movement table needs nothing of the file: it is formatted on another core while the plan is validated
            // and written, and printed once the plan is saved (not at all when saving fails).
            var report = json ? null : Task.Run(() =>
            {
                var text = new StringWriter(CultureInfo.InvariantCulture);
                WriteMovement(text, movement);
                QuarantineNotes.Write(console, movement.Quarantined, now, toStderr: false, target: text);
                return text.ToString();
            });
            Save(console, plan, output, parse.GetValue(s_history), now, [parse.GetValue(s_spec)!, parse.GetValue(s_previous)!]);
            if (report is not null)
            {
                (output is null ? console.RawError : console.RawOut).Write(report.GetAwaiter().GetResult());
            }
            else if (output is not null)
            {
                console.RawOut.WriteLine(JsonSerializer.Serialize(movement, PlanningJsonContext.Default.MovementReport));
            }

            return ExitCodes.Success;
        }
    }

    private static class Show
    {
        private static readonly Argument<string> s_plan = new("PLAN") { Description = "The plan file." };
        private static readonly Option<string?> s_host = new("--host") { Description = "Also list this host's slices (ranges, ports, share, risks) on every egress IP." };
        private static readonly Option<bool> s_all = new("--all") { Description = "Also list every slice and risk (a fleet's plan has thousands)." };
        private static readonly Option<bool> s_json = JsonOption();

        public static Command Create(CliConsole console)
        {
            var command = new Command("show", "Summarise a plan per egress IP (hosts, ports owned, spare, smallest and largest share, slice sizes, risks); per-host rows with --host or --all.")
            {
                s_plan, s_host, s_all, s_json,
            };
            command.SetAction((parse, ct) => CommandRunner.RunAsync(console, () => Task.FromResult(Run(console, parse))));
            return command;
        }

        private static int Run(CliConsole console, ParseResult parse)
        {
            var plan = PlanFile.Load(parse.GetValue(s_plan)!);
            var host = parse.GetValue(s_host);
            var all = parse.GetValue(s_all);
            var now = console.Now;
            var report = CapacityReport.Create(plan, host is not null ? s => string.Equals(s.Host, host, StringComparison.Ordinal) : all ? static _ => true : static _ => false)
                with { Quarantined = plan.At(now).Quarantined };
            if (host is not null && report.Egress.All(e => e.Slices.Count == 0))
            {
                throw new PlanLookupException($"Host '{host}' has no slice in the plan (generation {plan.Generation}).");
            }

            if (parse.GetValue(s_json))
            {
                console.RawOut.WriteLine(JsonSerializer.Serialize(report, PlanningJsonContext.Default.CapacityReport));
            }
            else
            {
                WriteReport(console.RawOut, report);
                QuarantineNotes.Write(console, report.Quarantined, now, toStderr: false, target: console.RawOut);
            }

            return ExitCodes.Success;
        }
    }

    private static class Validate
    {
        private static readonly Argument<string> s_plan = new("PLAN") { Description = "The plan file (e.g. hand-edited)." };
        private static readonly Option<bool> s_json = JsonOption();

        public static Command Create(CliConsole console)
        {
            var command = new Command("validate", "Check a plan and report every problem: overlaps, ports outside the usable range or reserved, parity, sizes, hosts, addresses.")
            {
                s_plan, s_json,
            };
            command.SetAction((parse, ct) => CommandRunner.RunAsync(console, () => Task.FromResult(Run(console, parse))));
            return command;
        }

        private static int Run(CliConsole console, ParseResult parse)
        {
            var path = parse.GetValue(s_plan)!;
            var plan = PlanFile.LoadUnvalidated(path);
            var issues = PlanValidator.Validate(plan);
            var errors = issues.Count(i => i.Severity == IssueSeverity.Error);
            if (parse.GetValue(s_json))
            {
                console.RawOut.WriteLine(JsonSerializer.Serialize(issues, PlanningJsonContext.Default.IReadOnlyListPlanIssue));
            }
            else
            {
                foreach (var issue in issues)
                {
                    if (issue.Severity == IssueSeverity.Error)
                    {
                        console.WriteError($"{path}: {issue.Message}");
                    }
                    else
                    {
                        console.WriteWarning($"{path}: {issue.Message}");
                    }
                }

                if (errors == 0)
                {
                    var slices = plan.Egress.Sum(e => e.Slices.Count);
                    console.RawOut.WriteLine(string.Create(CultureInfo.InvariantCulture, $"valid: {path}, generation {plan.Generation}, {plan.Egress.Count} egress IP(s), {slices} slice(s)."));
                }
            }

            return errors == 0 ? ExitCodes.Success : ExitCodes.Failure;
        }
    }

    private static class Slice
    {
        private static readonly Argument<string> s_plan = new("PLAN") { Description = "The plan file." };
        private static readonly Option<string> s_host = new("--host") { Description = "The host's name in the plan.", Required = true };
        private static readonly Option<IPAddress?> s_egress = new("--egress")
        {
            Description = "The egress IP (needed when the host uses several).",
            CustomParser = ParseAddress,
        };

        private static readonly Option<bool> s_json = JsonOption();

        public static Command Create(CliConsole console)
        {
            var command = new Command("slice", "Print a host's usable ports on an egress IP as LO-HI, one range per line (for scripts and 'connect'); ports still in quarantine for their previous owner are left out.")
            {
                s_plan, s_host, s_egress, s_json,
            };
            command.SetAction((parse, ct) => CommandRunner.RunAsync(console, () => Task.FromResult(Run(console, parse))));
            return command;
        }

        private static int Run(CliConsole console, ParseResult parse)
        {
            var host = parse.GetValue(s_host)!;
            var plan = PlanFile.LoadForHost(parse.GetValue(s_plan)!, host);
            SliceAssignment slice;
            if (parse.GetValue(s_egress) is { } egress)
            {
                slice = plan.GetAssignment(host, egress);
            }
            else
            {
                var slices = plan.GetSlices(host).ToList();
                slice = slices.Count switch
                {
                    0 => throw new PlanLookupException($"Host '{host}' has no slice in the plan (generation {plan.Generation})."),
                    1 => slices[0],
                    _ => throw new UsageException($"Host '{host}' has slices on {slices.Count} egress IPs ({string.Join(", ", slices.Select(s => s.Egress))}); choose one with --egress."),
                };
            }

            // What the host may use now (its host file): an error naming the quarantine when nothing is usable yet.
            var now = console.Now;
            var file = plan.HostFile(host, now);
            var ranges = file.For(slice.Egress).Ports.Ranges;
            QuarantineNotes.Write(console, plan.At(now).Quarantined.Where(q => q.To == host && q.Egress.Equals(slice.Egress)), now, toStderr: true);
            if (parse.GetValue(s_json))
            {
                var record = new HostSlice { Host = slice.Host, NextHop = slice.NextHop, Ranges = ranges };
                console.RawOut.WriteLine(JsonSerializer.Serialize(record, PlanningJsonContext.Default.HostSlice).ReplaceLineEndings(string.Empty));
            }
            else
            {
                foreach (var r in ranges)
                {
                    console.RawOut.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{r.Low}-{r.High}"));
                }
            }

            return ExitCodes.Success;
        }
    }

    private static class Who
    {
        private static readonly Argument<IPEndPoint?> s_endpoint = new("IP:PORT")
        {
            Description = "The egress IP and port from the report, e.g. 192.0.2.1:40123 or [2001:db8:1::1]:40123.",
            CustomParser = ParseEndpoint,
        };

        private static readonly Option<string?> s_history = HistoryOption("The plan history file (answers for any time).");
        private static readonly Option<string?> s_plan = new("--plan") { Description = "A single plan (answers for the time it was in effect)." };
        private static readonly Option<DateTimeOffset?> s_at = TimeOption("--at", "The time of the report (ISO 8601; without an offset, UTC; default now).");
        private static readonly Option<bool> s_json = JsonOption();

        public static Command Create(CliConsole console)
        {
            var command = new Command("who", "Name the host that owned an egress IP's port at a time (for abuse reports).")
            {
                s_endpoint, s_history, s_plan, s_at, s_json,
            };
            command.Validators.Add(r =>
            {
                if ((r.GetResult(s_history) is null) == (r.GetResult(s_plan) is null))
                {
                    r.AddError("give exactly one of --history FILE or --plan FILE.");
                }
            });
            command.SetAction((parse, ct) => CommandRunner.RunAsync(console, () => Task.FromResult(Run(console, parse))));
            return command;
        }

        private static int Run(CliConsole console, ParseResult parse)
        {
            var endpoint = parse.GetValue(s_endpoint)!;
            var port = (ushort)endpoint.Port;
            var at = parse.GetValue(s_at) ?? console.Now;
            var answer = parse.GetValue(s_history) is { } history
                ? PlanHistory.Load(history).Who(endpoint.Address, port, at)
                : WhoAnswer.From(PlanFile.Load(parse.GetValue(s_plan)!), endpoint.Address, port, at);
            if (parse.GetValue(s_json))
            {
                console.RawOut.WriteLine(JsonSerializer.Serialize(answer, PlanningJsonContext.Default.WhoAnswer).ReplaceLineEndings(string.Empty));
            }
            else
            {
                var when = answer.Generation is { } g
                    ? string.Create(CultureInfo.InvariantCulture, $"plan generation {g}{(answer.EffectiveFrom is { } f ? $", in effect from {f:O}" : string.Empty)}")
                    : "no plan";
                var what = answer.Status switch
                {
                    OwnerStatus.Owned when answer.QuarantinedUntil is { } until => $"host {answer.Host} (next hop {answer.NextHop}; in quarantine until {until.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}, moving to {answer.MovingTo ?? "the spare pool"})",
                    OwnerStatus.Owned => $"host {answer.Host} (next hop {answer.NextHop})",
                    OwnerStatus.Spare => "nobody: the port was in the spare pool",
                    OwnerStatus.Reserved => "nobody: the port was reserved",
                    OwnerStatus.Outside => "nobody: the port was outside the usable range",
                    OwnerStatus.UnknownEgress => "nobody: the plan did not share that egress IP",
                    _ => "nobody: no plan was in effect at that time",
                };
                console.Out.MarkupLine($"{endpoint.ToString().EscapeMarkup()}: [bold]{what.EscapeMarkup()}[/] ({when.EscapeMarkup()}).");
            }

            return answer.Status == OwnerStatus.Owned ? ExitCodes.Success : ExitCodes.Failure;
        }
    }

    private static Option<string?> OutputOption() => new("--output", "-o") { Description = "Write the plan here (default: stdout)." };

    private static Option<string?> HistoryOption(string description) => new("--history") { Description = description };

    private static Option<bool> JsonOption() => new("--json") { Description = "Print JSON on stdout instead of tables." };

    private static Option<DateTimeOffset?> TimeOption(string name, string description) => new(name)
    {
        Description = description,
        CustomParser = r =>
        {
            var text = r.Tokens.Count > 0 ? r.Tokens[0].Value : string.Empty;
            if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var time))
            {
                return time;
            }

            r.AddError($"{name} '{text}' is not a time: use ISO 8601, e.g. 2026-11-25T13:00:00Z.");
            return null;
        },
    };

    private static IPAddress? ParseAddress(ArgumentResult r)
    {
        var text = r.Tokens.Count > 0 ? r.Tokens[0].Value : string.Empty;
        if (IPAddress.TryParse(text, out var address))
        {
            return address;
        }

        r.AddError($"'{text}' is not an IP address.");
        return null;
    }

    private static IPEndPoint? ParseEndpoint(ArgumentResult r)
    {
        var text = r.Tokens.Count > 0 ? r.Tokens[0].Value : string.Empty;
        if (IPEndPoint.TryParse(text, out var endpoint) && endpoint.Port > 0 && (text.Contains(']', StringComparison.Ordinal) || !text.Contains("::", StringComparison.Ordinal)) && text.Contains(':', StringComparison.Ordinal))
        {
            return endpoint;
        }

        r.AddError($"'{text}' is not IP:PORT (e.g. 192.0.2.1:40123 or [2001:db8:1::1]:40123).");
        return null;
    }

    private static void Emit(CliConsole console, Plan plan, string? output, string? history, DateTimeOffset? effective, bool json, string[] inputs)
    {
        Save(console, plan, output, history, effective, inputs);
        if (output is null)
        {
            return;
        }

        var report = CapacityReport.Create(plan, static _ => false);
        if (json)
        {
            console.RawOut.WriteLine(JsonSerializer.Serialize(report, PlanningJsonContext.Default.CapacityReport));
        }
        else
        {
            WriteReport(console.RawOut, report);
            console.RawOut.WriteLine(string.Create(CultureInfo.InvariantCulture, $"wrote {output} (generation {plan.Generation})."));
        }
    }

    // Without -o the plan itself is stdout, so tables go nowhere and a script can pipe the JSON.
    private static void WarnShortfalls(CliConsole console, PlanSpec spec, Plan plan)
    {
        foreach (var warning in SpecValidator.Shortfalls(spec, plan))
        {
            console.WriteWarning(warning);
        }
    }

    // Both outputs are checked before either is written: neither may be an input, nor the other output.
    private static void Save(CliConsole console, Plan plan, string? output, string? history, DateTimeOffset? effective, string[] inputs)
    {
        if (output is not null)
        {
            SafeFile.Check(output, "-o", history is null ? inputs : [.. inputs, history]);
        }

        if (history is not null)
        {
            SafeFile.Check(history, "--history", inputs);
            if (output is not null && string.Equals(Path.GetFullPath(output), Path.GetFullPath(history), StringComparison.Ordinal))
            {
                throw new UsageException($"-o and --history are the same file ({output}): the plan and its history are different files.");
            }

            PlanHistory.LoadOrEmpty(history).Append(plan, effective ?? console.Now).Save(history, inputs);
        }

        if (output is null)
        {
            console.RawOut.Write(PlanJson.Serialize(plan));
        }
        else
        {
            PlanFile.Save(plan, output, inputs);
        }
    }

    private const int BarWidth = 24;

    /// <summary>A share as a percentage to one decimal, or to two significant digits when it is under 0.1 % but not none:
    /// a host's 2 ports of 64,512 read <c>0.0031 %</c>, not <c>0.0 %</c>.</summary>
    internal static string Percent(double share)
    {
        if (share is not (> 0 and < 0.001))
        {
            return share.ToString("P1", CultureInfo.InvariantCulture);
        }

        var percent = share * 100;
        var rounded = Math.Round(percent, 1 - (int)Math.Floor(Math.Log10(percent)));
        return string.Create(CultureInfo.InvariantCulture, $"{rounded:0.##########} %");
    }

    /// <summary>The summary table (one row per egress IP), its risks, then the per-host rows the report holds. Plain
    /// text (<see cref="TextTable"/>): on a fleet's plan this is what a person or a script waits for.</summary>
    internal static void WriteReport(TextWriter console, CapacityReport report)
    {
        var summary = new TextTable { Title = string.Create(CultureInfo.InvariantCulture, $"plan generation {report.Generation}") }
            .Column("egress").Column("hosts", right: true).Column("owned / usable", right: true)
            .Column("reserved", right: true).Column("spare", right: true)
            .Column("smallest share").Column("largest share");
        foreach (var e in report.Egress)
        {
            summary.Row(e.Egress, N(e.Hosts), $"{N(e.AllocatedPorts)} / {N(e.UsablePorts)}", N(e.ReservedPorts), N(e.SparePorts), Share(e.Smallest), Share(e.Largest));
        }

        summary.WriteTo(console);
        foreach (var e in report.Egress)
        {
            var sizes = string.Join(", ", e.Distribution.Select(b => string.Create(CultureInfo.InvariantCulture, $"{b.MinPorts}-{b.MaxPorts}: {b.Slices:N0}")));
            console.WriteLine($"  {e.Egress} slice sizes (ports: slices): {sizes}");
            var risks = new List<string>();
            if (e.LowEntropySlices > 0)
            {
                risks.Add(string.Create(CultureInfo.InvariantCulture, $"{e.LowEntropySlices:N0} slice(s) under {1 << (int)CapacityReport.DnsEntropyWarningBits} ports (guessable DNS source ports)"));
            }

            if (e.SmallSlices > 0)
            {
                risks.Add(string.Create(CultureInfo.InvariantCulture, $"{e.SmallSlices:N0} under {CapacityReport.SmallSlicePorts} ports (few connections per destination)"));
            }

            if (e.SplitSlices > 0)
            {
                risks.Add(string.Create(CultureInfo.InvariantCulture, $"{e.SplitSlices:N0} split into several ranges ('plan update --compact' joins them)"));
            }

            if (risks.Count > 0)
            {
                console.WriteLine($"  risk on {e.Egress}: {string.Join("; ", risks)}");
            }
        }

        foreach (var e in report.Egress.Where(e => e.Slices.Count > 0))
        {
            WriteSlices(console, report.Generation, e);
        }

        static string N(int n) => n.ToString("N0", CultureInfo.InvariantCulture);

        static string Share(ShareOf? s) => s is null ? "-" : string.Create(CultureInfo.InvariantCulture, $"{s.Host}: {s.Ports:N0} ({Percent(s.Share)})");
    }

    private static void WriteSlices(TextWriter console, long generation, EgressCapacity e)
    {
        var table = new TextTable
        {
            Title = string.Create(CultureInfo.InvariantCulture,
                $"egress {e.Egress} (generation {generation}): {e.UsablePorts} usable, {e.ReservedPorts} reserved, {e.AllocatedPorts} allocated, {e.SparePorts} spare"),
        }
            .Column("host").Column("ranges").Column("ports", right: true)
            .Column("share", right: true).Column("bits", right: true)
            .Column($"{e.UsableRange.Low} … {e.UsableRange.High}");
        foreach (var s in e.Slices)
        {
            table.Row(
                s.Host,
                RangesText(s.Ranges),
                s.Ports.ToString(CultureInfo.InvariantCulture),
                Percent(s.Share),
                s.EntropyBits.ToString("0.0", CultureInfo.InvariantCulture),
                Bar(e.UsableRange, s.Ranges));
        }

        table.WriteTo(console);
        foreach (var s in e.Slices)
        {
            foreach (var warning in s.Warnings)
            {
                console.WriteLine($"  risk {s.Host} on {e.Egress}: {warning}");
            }
        }
    }

    private static string RangesText(IReadOnlyList<PortRange> ranges) =>
        ranges.Count <= 3 ? string.Join("\n", ranges) : string.Create(CultureInfo.InvariantCulture, $"{ranges[0]}\n{ranges[1]}\n… (+{ranges.Count - 2} more)");

    // One cell per 1/BarWidth of the usable range: full where the host owns ports there.
    private static string Bar(PortRange usable, IReadOnlyList<PortRange> ranges)
    {
        var cells = new bool[BarWidth];
        var width = (double)usable.Count / BarWidth;
        foreach (var r in ranges)
        {
            var from = (int)((r.Low - usable.Low) / width);
            var to = (int)((r.High - usable.Low) / width);
            for (var c = Math.Max(0, from); c <= Math.Min(BarWidth - 1, to); c++)
            {
                cells[c] = true;
            }
        }

        var text = new StringBuilder(BarWidth);
        foreach (var c in cells)
        {
            text.Append(c ? '█' : '·');
        }

        return text.ToString();
    }

    // A movement table a person reads at a glance; the rest is for --json.
    private const int MaxRows = 64;

    private static void WriteMovement(TextWriter console, MovementReport movement)
    {
        var table = new TextTable { Title = string.Create(CultureInfo.InvariantCulture, $"generation {movement.PreviousGeneration} → {movement.Generation}") }
            .Column("egress").Column("host")
            .Column("before", right: true).Column("after", right: true)
            .Column("kept", right: true).Column("moved away", right: true)
            .Column("acquired", right: true);
        var changed = movement.Hosts.Where(h => h.Released > 0 || h.Acquired > 0).ToList();
        foreach (var h in changed.Take(MaxRows))
        {
            table.Row(h.Egress, h.Host, N(h.Before), N(h.After), N(h.Kept), N(h.Released), N(h.Acquired));
        }

        table.WriteTo(console);
        if (changed.Count > MaxRows)
        {
            console.WriteLine($"  … {changed.Count - MaxRows} more changed slices ('--json' lists them).");
        }

        var share = movement.PreviouslyOwnedPorts > 0 ? (double)movement.MovedPorts / movement.PreviouslyOwnedPorts : 0;
        var then = movement.Quarantined.Count > 0
            ? "moved ports stay routed to their previous owner until their quarantine ends: apply the new plan now (router apply, host apply), and again after the quarantine to hand them over."
            : movement.MovedPorts > 0 ? "connections on moved ports break when the new plan is applied (no quarantine)." : "nothing to hand over.";
        console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"moved {movement.MovedPorts} of {movement.PreviouslyOwnedPorts} owned ports ({Percent(share)}); {then}"));

        static string N(int n) => n.ToString(CultureInfo.InvariantCulture);
    }
}
