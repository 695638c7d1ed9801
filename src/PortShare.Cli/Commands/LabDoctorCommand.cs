using System.CommandLine;
using System.Text.Json;
using PortShare.Cli.Doctor;
using PortShare.Lab;

namespace PortShare.Cli.Commands;

/// <summary><c>portshare lab doctor</c>: <c>doctor --router</c> in the lab's router and <c>doctor</c> in every lab host.</summary>
internal static class LabDoctorCommand
{
    private static readonly Option<bool> s_json = CliOptions.Json();

    /// <summary>The subcommand; <paramref name="state"/> is the lab's <c>--state</c> option.</summary>
    public static Command Create(CliConsole console, Option<string> state)
    {
        var command = new Command("doctor", "Run the router checks in the lab's router and the host checks in every lab host; exit code 1 on any failure.") { state, s_json };
        command.SetAction((p, ct) => CommandRunner.RunAsync(console, () =>
        {
            RoutingOptions.RequireRoot();
            var lab = LabState.Load(p.GetValue(state)!);
            var results = LabDoctor.Run(lab, console.Now);
            var passed = results.All(r => r.Result.Passed);
            if (p.GetValue(s_json))
            {
                var json = new LabDoctorJson(passed, results.Select(r => DoctorJson.From(r.Result, r.NetnsRange)).ToList());
                console.RawOut.WriteLine(JsonSerializer.Serialize(json, DoctorJsonContext.Default.LabDoctorJson));
            }
            else
            {
                DoctorRunner.WriteTables(console, results.Select(r => r.Result));
            }

            return Task.FromResult(passed ? ExitCodes.Success : ExitCodes.Failure);
        }));
        return command;
    }
}
