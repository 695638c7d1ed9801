using System.CommandLine;

namespace PortShare.Cli.Commands;

internal static class DoctorCommand
{
    public static Command Create(CliConsole console)
    {
        var command = new Command("doctor", "Report what this host's kernel and network namespace offer PortShare.");
        command.SetAction((parseResult, ct) => CommandRunner.RunAsync(console, () => Task.FromResult(ExitCodes.Success)));
        return command;
    }
}
