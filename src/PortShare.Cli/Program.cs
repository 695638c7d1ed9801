using System.CommandLine;
using PortShare.Cli;

return await CliApp.RunAsync(args, CliConsole.CreateDefault()).ConfigureAwait(false);
