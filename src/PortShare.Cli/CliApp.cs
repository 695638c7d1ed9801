using System.CommandLine;
using System.Reflection;

namespace PortShare.Cli;

/// <summary>Builds the <c>portshare</c> command tree and runs it.</summary>
internal static class CliApp
{
    // Each command group lives in its own file under Commands/ and is listed here. Building a group runs its static
    // initializers (every option of every subcommand) and JIT-compiles them, so a run builds only the group it names.
    private static readonly (string Name, Func<CliConsole, Command> Create)[] s_groups =
    [
        ("connect", Commands.ConnectCommand.Create),
        ("doctor", Commands.DoctorCommand.Create),
        ("ping", Commands.PingCommand.Create),
        ("bench", Commands.BenchCommand.Create),
        ("status", Commands.StatusCommand.Create),
        ("plan", Commands.PlanCommand.Create),
        ("router", Commands.RouterCommand.Create),
        ("host", Commands.HostCommand.Create),
        ("lab", Commands.LabCommand.Create),
        ("fleet", Commands.FleetCommand.Create),
        ("agent", Commands.AgentCommand.Create),
    ];

    /// <summary>The whole command tree (for help and for tests that walk it).</summary>
    public static RootCommand BuildRoot(CliConsole console) => BuildRoot(console, []);

    /// <summary>
    /// The command tree for <paramref name="args"/>: only the group named by the first argument when it names one,
    /// nothing below the root for a bare <c>--version</c>, and everything otherwise (root help, a mistyped command,
    /// whose error lists the commands).
    /// </summary>
    public static RootCommand BuildRoot(CliConsole console, string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var root = new RootCommand("PortShare: many hosts share one egress IP without NAT state, each using only its own slice of the port range.");
        root.Options.Add(CliOptions.Verbose);
        if (args is ["--version"])
        {
            return root;
        }

        // A plain loop: LINQ over the (name, factory) tuples is a generic the ReadyToRun image lacks, compiled at run time
        // in every process.
        var named = args.Length > 0 ? Array.FindIndex(s_groups, g => g.Name == args[0]) : -1;
        for (var i = 0; i < s_groups.Length; i++)
        {
            if (named < 0 || named == i)
            {
                // The plan group builds only the subcommand a run names (see PlanCommand.Create).
                root.Subcommands.Add(named == i && s_groups[i].Name == "plan" && args.Length > 1 && !IsHelpOrVersion(args)
                    ? Commands.PlanCommand.Create(console, args[1])
                    : s_groups[i].Create(console));
            }
        }

        return root;
    }

    public static async Task<int> RunAsync(string[] args, CliConsole console)
    {
        var root = BuildRoot(console, args);
        CliParsing.Harden(root);
        var parse = root.Parse(args, CliParsing.Configuration);
        console.Verbose |= parse.GetValue(CliOptions.Verbose);
        if (parse.Errors.Count > 0 && !IsHelpOrVersion(args))
        {
            // One clear line per problem, exit 2: the user typed something we cannot run.
            foreach (var error in parse.Errors)
            {
                console.WriteError(CliParsing.Describe(error));
            }

            console.RawError.WriteLine("run 'portshare --help' (or 'portshare COMMAND --help') for usage.");
            return ExitCodes.Usage;
        }

        // Ctrl-C and SIGTERM cancel the action's token; a command cleaning up after it (a lab removing its namespaces, the
        // agent draining) gets time to finish instead of being killed half-way (see Termination).
        using var termination = new Termination(TerminationTimeout(args));
        var config = new InvocationConfiguration { Output = console.RawOut, Error = Console.Error, ProcessTerminationTimeout = null };
        return await parse.InvokeAsync(config, termination.Token).ConfigureAwait(false);
    }

    // A plan or host command reads or writes a fleet's plan (160,000 slices) and exits: every object it makes lives
    // until then, so each collection marks them all again for nothing (a full one, 30-60 ms each, was a third of plan new
    // and plan update; BENCHMARKS.md, "fleet-size commands"). Such a command runs without collections up to this much
    // allocated, then as usual; where the heap is limited (a container) or the memory is not there, as usual throughout.
    private const long NoCollectionBytes = 240L << 20;

    /// <summary>Called by the process's entry point (not by tests running commands in their process).</summary>
    public static void WithoutCollections(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        if (args is not ([("plan" or "host"), ..]) || IsHelpOrVersion(args))
        {
            return;
        }

        try
        {
            GC.TryStartNoGCRegion(NoCollectionBytes);
        }
        catch (Exception ex) when (ex is ArgumentOutOfRangeException or InvalidOperationException)
        {
            // More than the heap may hold here (a hard limit), or a region already running: collections as usual.
        }
    }

    /// <summary>
    /// For a command that reads a plan or a spec, sets up the JSON reading it will need (<see cref="Planning.PlanJson.WarmUp"/>),
    /// and for connect the first socket's and the metrics' one-time set-up (<see cref="Connect.SliceConnector.WarmUp"/>), on a
    /// pool thread while this one builds the console and parses the command line: a short command's start-up runs on one
    /// core, and its first read or connect otherwise waited some milliseconds for these. <c>plan update</c> instead reads
    /// its previous plan there (<see cref="Prefetch"/>). Called by the process's entry point.
    /// </summary>
    public static void WarmUp(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var connects = args is ["connect", ..];
        var readsPlan = args is [("plan" or "host" or "router"), ..] || (connects && args.Contains("--plan"));
        // PORTSHARE_NO_WARMUP=1 leaves it out: to measure what it saves (BENCHMARKS.md), or to rule it out.
        if ((readsPlan || connects) && !IsHelpOrVersion(args) && Environment.GetEnvironmentVariable("PORTSHARE_NO_WARMUP") != "1" && !Prefetch.Start(args))
        {
            var spec = args is ["plan", "new" or "update", ..];
            ThreadPool.UnsafeQueueUserWorkItem(_ =>
            {
#pragma warning disable CA1031 // A warm-up that fails must not end the command: the work is done again where it is needed.
                try
                {
                    if (readsPlan)
                    {
                        Planning.PlanJson.WarmUp(spec);
                    }

                    if (connects)
                    {
                        Connect.SliceConnector.WarmUp();
                    }
                }
                catch (Exception)
                {
                }
#pragma warning restore CA1031
            }, null);
        }
    }

    // The agent drains on SIGTERM for up to its --drain-timeout (at most an hour): give it that, and the rest a minute.
    private static TimeSpan TerminationTimeout(string[] args) =>
        args is ["agent", ..] ? TimeSpan.FromMinutes(62) : TimeSpan.FromSeconds(60);

    private static bool IsHelpOrVersion(string[] args) => args.Any(a => a is "--help" or "-h" or "-?" or "--version");

    public static string Version =>
        typeof(CliApp).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";
}
