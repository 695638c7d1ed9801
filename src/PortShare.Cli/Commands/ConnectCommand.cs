using System.CommandLine;

namespace PortShare.Cli.Commands;

internal static class ConnectCommand
{
    public static Command Create(CliConsole console)
    {
        var command = new Command("connect", "Open TCP connections from a port slice and print their endpoints.");
        command.SetAction((parseResult, ct) => CommandRunner.RunAsync(console, () => Task.FromResult(ExitCodes.Success)));
        return command;
    }
}
