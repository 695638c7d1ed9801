using System.CommandLine;
using System.Text.Json;
using Spectre.Console;

namespace PortShare.Cli.Commands;

/// <summary><c>portshare doctor</c>: what this kernel and network namespace offer, and what that means for the user.</summary>
internal static class DoctorCommand
{
    private static readonly Option<bool> s_json = CliOptions.Json();

    public static Command Create(CliConsole console)
    {
        var command = new Command("doctor", "Report what this host's kernel and network namespace offer PortShare, and what that means.")
        {
            s_json,
        };
        command.SetAction((parseResult, ct) => CommandRunner.RunAsync(console, () => Task.FromResult(Run(console, parseResult.GetValue(s_json)))));
        return command;
    }

    internal static DoctorReport Collect()
    {
        var kernel = HostFacts.KernelRelease();
        var supported = HostFacts.SupportsLocalPortRange();
        var netns = HostFacts.ReadNetnsRange();
        var reserved = HostFacts.ReadReservedPorts();
        var root = Environment.UserName == "root";
        var tools = new SortedDictionary<string, bool>(StringComparer.Ordinal)
        {
            ["ip"] = OnPath("ip"),
            ["nft"] = OnPath("nft"),
            ["conntrack"] = OnPath("conntrack"),
        };
        var advice = new List<string>
        {
            supported
                ? "IP_LOCAL_PORT_RANGE is available: connections use the kernel path (one port serves many destinations, no retries)."
                : "IP_LOCAL_PORT_RANGE is missing (Linux < 6.3): connections use the bind-before-connect fallback; upgrade the kernel for full speed.",
            $"Slices must lie inside the namespace range {netns} ({netns.Count} ports); PortShare refuses a slice outside it rather than let the kernel widen it.",
        };
        if (reserved.Count > 0)
        {
            advice.Add($"Reserved ports ({string.Join(',', reserved)}) are skipped inside slices: plans should exclude them.");
        }

        if (!root)
        {
            advice.Add("Not root: 'router', 'host' and 'lab' commands need root; 'connect', 'plan' and 'doctor' do not.");
        }

        foreach (var (tool, present) in tools)
        {
            if (!present)
            {
                advice.Add($"'{tool}' is not installed: run 'sudo ./setup.sh' (router and lab need it).");
            }
        }

        return new DoctorReport(kernel, supported, netns.ToString(), reserved.Select(r => r.ToString()).ToList(), root, tools, advice);
    }

    private static int Run(CliConsole console, bool json)
    {
        var report = Collect();
        if (json)
        {
            console.RawOut.WriteLine(JsonSerializer.Serialize(report, CliJsonContext.Default.DoctorReport));
            return ExitCodes.Success;
        }

        var grid = new Grid().AddColumn().AddColumn();
        grid.AddRow("[bold]kernel[/]", report.Kernel.EscapeMarkup());
        grid.AddRow("[bold]IP_LOCAL_PORT_RANGE[/]", report.LocalPortRangeSupported ? "[green]supported[/]" : "[yellow]not supported[/]");
        grid.AddRow("[bold]netns port range[/]", report.NetnsRange);
        grid.AddRow("[bold]reserved ports[/]", report.ReservedPorts.Count == 0 ? "none" : string.Join(',', report.ReservedPorts));
        grid.AddRow("[bold]root[/]", report.Root ? "yes" : "no");
        grid.AddRow("[bold]tools[/]", string.Join("  ", report.Tools.Select(t => t.Value ? $"[green]{t.Key}[/]" : $"[red]{t.Key} missing[/]")));
        console.Out.Write(new Panel(grid).Header("portshare doctor").Border(BoxBorder.Rounded));
        foreach (var line in report.Advice)
        {
            console.Out.MarkupLine($"• {line.EscapeMarkup()}");
        }

        return ExitCodes.Success;
    }

    private static bool OnPath(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin")
            .Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Append("/usr/sbin").Append("/sbin")
            .Any(dir => File.Exists(Path.Combine(dir, tool)));
}
