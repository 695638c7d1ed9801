using System.CommandLine;
using System.Reflection;

namespace PortShare.Cli;

/// <summary>Builds the <c>portshare</c> command tree and runs it.</summary>
internal static class CliApp
{
    public static RootCommand BuildRoot(CliConsole console)
    {
        var root = new RootCommand("PortShare: many hosts share one egress IP without NAT state, each using only its own slice of the port range.");
        root.Options.Add(CliOptions.Verbose);

        // Each command group lives in its own file under Commands/ and adds itself here.
        root.Subcommands.Add(Commands.ConnectCommand.Create(console));
        root.Subcommands.Add(Commands.DoctorCommand.Create(console));
        root.Subcommands.Add(Commands.PingCommand.Create(console));
        root.Subcommands.Add(Commands.BenchCommand.Create(console));
        root.Subcommands.Add(Commands.StatusCommand.Create(console));
        root.Subcommands.Add(Commands.PlanCommand.Create(console));
        root.Subcommands.Add(Commands.RouterCommand.Create(console));
        root.Subcommands.Add(Commands.HostCommand.Create(console));
        root.Subcommands.Add(Commands.LabCommand.Create(console));
        root.Subcommands.Add(Commands.FleetCommand.Create(console));
        return root;
    }

    public static async Task<int> RunAsync(string[] args, CliConsole console)
    {
        var root = BuildRoot(console);
        var parse = root.Parse(args);
        console.Verbose |= parse.GetValue(CliOptions.Verbose);
        if (parse.Errors.Count > 0 && !IsHelpOrVersion(args))
        {
            // One clear line per problem, exit 2: the user typed something we cannot run.
            foreach (var error in parse.Errors)
            {
                console.WriteError(error.Message);
            }

            console.RawError.WriteLine("run 'portshare --help' (or 'portshare COMMAND --help') for usage.");
            return ExitCodes.Usage;
        }

        var config = new InvocationConfiguration { Output = console.RawOut, Error = Console.Error };
        return await parse.InvokeAsync(config).ConfigureAwait(false);
    }

    private static bool IsHelpOrVersion(string[] args) => args.Any(a => a is "--help" or "-h" or "-?" or "--version");

    public static string Version =>
        typeof(CliApp).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";
}
