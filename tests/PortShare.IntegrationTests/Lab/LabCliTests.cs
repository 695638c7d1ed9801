using PortShare.Cli;
using PortShare.IntegrationTests.Infrastructure;
using PortShare.Planning;
using Spectre.Console;

namespace PortShare.IntegrationTests.Lab;

/// <summary>The <c>portshare</c> commands around the lab and router, run in-process (and once as an unprivileged user).</summary>
[Trait("Category", "RequiresRoot")]
public class LabCliTests
{
    private static (CliConsole Console, StringWriter Out, StringWriter Err) Console()
    {
        var o = new StringWriter();
        var e = new StringWriter();
        var settings = new AnsiConsoleSettings { Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors };
        var console = new CliConsole(
            AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(o), Ansi = settings.Ansi, ColorSystem = settings.ColorSystem }),
            AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(e), Ansi = settings.Ansi, ColorSystem = settings.ColorSystem }),
            o,
            e);
        return (console, o, e);
    }

    [Theory]
    [InlineData("nftables", false)]
    [InlineData("iprule", true)]
    public async Task Lab_demo_reports_pass_and_cleans_up(string backend, bool ipv6)
    {
        Root.Require();
        var (console, o, e) = Console();
        string[] args = ipv6 ? ["lab", "demo", "--backend", backend, "--connections", "30", "--ipv6"] : ["lab", "demo", "--backend", backend, "--connections", "30"];
        var rc = await CliApp.RunAsync(args, console);
        Assert.True(rc == 0, o.ToString() + e.ToString());
        Assert.Contains("PASS", o.ToString(), StringComparison.Ordinal);
        Assert.Contains("conntrack entries 0", o.ToString(), StringComparison.Ordinal);
        var prefix = System.Text.RegularExpressions.Regex.Match(o.ToString(), "lab (psl-[0-9a-f]{6}-)").Groups[1].Value;
        Assert.NotEmpty(prefix);
        Assert.DoesNotContain(prefix, Proc.Check("ip", "netns", "list"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Lab_up_test_show_replan_down_across_invocations()
    {
        Root.Require();
        var state = Path.Combine(Path.GetTempPath(), $"portshare-lab-{Guid.NewGuid():N}.json");
        try
        {
            Assert.Equal(0, await CliApp.RunAsync(["lab", "up", "--hosts", "2", "--state", state], Console().Console));
            var (c, o, e) = Console();
            Assert.True(await CliApp.RunAsync(["lab", "test", "--connections", "20", "--state", state], c) == 0, o + e.ToString());
            (c, o, e) = Console();
            Assert.Equal(0, await CliApp.RunAsync(["lab", "replan", "--add-host", "--state", state], c));
            var replanned = System.Text.RegularExpressions.Regex.Replace(o.ToString(), @"\s+", " "); // unwrapped
            Assert.Contains("quarantined for h1 until", replanned, StringComparison.Ordinal); // the default 60 s
            Assert.Contains("run 'portshare lab apply' again after that to hand them to h3", replanned, StringComparison.Ordinal);

            // h3's ports are all still in quarantine: it waits, the others pass.
            (c, o, e) = Console();
            Assert.True(await CliApp.RunAsync(["lab", "test", "--connections", "20", "--state", state], c) == 0, o + e.ToString());
            Assert.Contains("h3", o.ToString(), StringComparison.Ordinal);
            Assert.Contains("quarantine", o.ToString(), StringComparison.Ordinal); // "(in quarantine until …)", wrapped in its cell
            (c, o, e) = Console();
            Assert.True(await CliApp.RunAsync(["lab", "apply", "--state", state], c) == 0, o + e.ToString());
            Assert.Contains("still in quarantine", o.ToString(), StringComparison.Ordinal);
            Assert.Equal(2, await CliApp.RunAsync(["lab", "replan", "--add-host", "--quarantine", "-1", "--state", state], Console().Console));

            // Without a quarantine the new host gets what it takes from h1 and h2 at once (what it takes over from h3's
            // ports is still in h3's predecessors' quarantine: that carries over).
            Assert.Equal(0, await CliApp.RunAsync(["lab", "replan", "--add-host", "--quarantine", "0", "--state", state], Console().Console));
            (c, o, e) = Console();
            Assert.True(await CliApp.RunAsync(["lab", "test", "--connections", "20", "--state", state], c) == 0, o + e.ToString());
            Assert.Contains("h4", o.ToString(), StringComparison.Ordinal);
            (c, o, _) = Console();
            Assert.Equal(0, await CliApp.RunAsync(["lab", "show", "--state", state], c));
            Assert.Contains("198.51.100.14", o.ToString(), StringComparison.Ordinal);
            Assert.Contains("h3: slice no usable ports yet", o.ToString(), StringComparison.Ordinal);
            Assert.Equal(2, await CliApp.RunAsync(["lab", "replan", "--state", state], Console().Console));
        }
        finally
        {
            Assert.Equal(0, await CliApp.RunAsync(["lab", "down", "--state", state], Console().Console));
        }

        Assert.False(File.Exists(state));
        (var c2, _, var e2) = Console();
        Assert.Equal(1, await CliApp.RunAsync(["lab", "test", "--state", state], c2));
        Assert.Contains("lab up", e2.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Router_apply_rejects_an_unknown_backend_and_a_missing_plan()
    {
        var (c, _, e) = Console();
        Assert.Equal(2, await CliApp.RunAsync(["router", "apply", "x.json", "--backend", "pf"], c));
        Assert.Contains("nftables", e.ToString(), StringComparison.Ordinal);
        (c, _, e) = Console();
        Assert.Equal(1, await CliApp.RunAsync(["router", "apply", "/nonexistent/plan.json", "--dry-run"], c));
        Assert.Contains("/nonexistent/plan.json", e.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public void Router_apply_as_an_unprivileged_user_is_a_clear_error()
    {
        Root.Require();
        Assert.SkipUnless(File.Exists("/usr/sbin/runuser") || File.Exists("/sbin/runuser"), "needs runuser to drop privileges");
        var dir = Directory.CreateTempSubdirectory("portshare-nonroot-");
        try
        {
            File.SetUnixFileMode(dir.FullName, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
            var plan = Planner.Create(new PlanSpec
            {
                Version = PlanSpec.CurrentVersion,
                Egress = [new SpecEgress { Address = "192.0.2.1" }],
                Hosts = [new SpecHost { Name = "h1", NextHops = ["198.51.100.2"] }],
            });
            var path = Path.Combine(dir.FullName, "plan.json");
            PlanFile.Save(plan, path);
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
            var cli = Path.Combine(AppContext.BaseDirectory, "PortShare.Cli.dll");
            var r = Proc.Run("runuser", "-u", "nobody", "--", "env", "DOTNET_CLI_HOME=/tmp", "HOME=/tmp", "dotnet", cli, "router", "apply", path);
            Assert.Equal(1, r.ExitCode);
            Assert.Contains("needs root", r.StdErr, StringComparison.Ordinal);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
