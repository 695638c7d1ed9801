using System.CommandLine;
using PortShare.Cli;

CliApp.WithoutCollections(args);
CliApp.WarmUp(args);
return await CliApp.RunAsync(args, CliConsole.CreateDefault()).ConfigureAwait(false);
