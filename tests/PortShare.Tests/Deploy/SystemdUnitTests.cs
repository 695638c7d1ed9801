using System.CommandLine;
using System.Globalization;
using System.Text;
using PortShare.Cli;
using Spectre.Console.Testing;

namespace PortShare.Tests.Deploy;

/// <summary>
/// The systemd units in <c>deploy/</c> with their example environment files: each <c>ExecStart=</c>, expanded as systemd
/// expands it, must parse with the real command tree without an error, and the settings the fleet relies on (SIGTERM
/// to the agent only, a stop timeout longer than the drain, restart on failure, network-online) must be there.
/// </summary>
public sealed class SystemdUnitTests
{
    private static readonly string s_deploy = Path.Combine(AppContext.BaseDirectory, "deploy");

    public static TheoryData<string, string, string> Units => new()
    {
        { "portshare-agent.service", "agent.env", "agent" },
        { "portshare-router-follow.service", "router-follow.env", "follow" },
    };

    [Theory]
    [MemberData(nameof(Units))]
    public void ExecStart_with_the_example_env_file_parses_with_the_cli(string unit, string env, string command)
    {
        var service = Unit.Load(Path.Combine(s_deploy, unit));
        Assert.Equal($"/etc/portshare/{env}", service.Single("Service", "EnvironmentFile"));

        var args = Expand(service, File.ReadAllText(Path.Combine(s_deploy, env)));

        Assert.Equal("/usr/local/bin/portshare", args[0]);
        AssertParses(args[1..], command);
    }

    [Theory]
    [MemberData(nameof(Units))]
    public void ExecStart_with_only_the_required_settings_parses_too(string unit, string env, string command)
    {
        // Every optional line of the example left out: the unit's Environment= defaults fill in.
        var required = string.Join('\n', File.ReadAllLines(Path.Combine(s_deploy, env))
            .Where(l => l.StartsWith("PORTSHARE_ETCD=", StringComparison.Ordinal) || l.StartsWith("PORTSHARE_HOST=", StringComparison.Ordinal) || l.StartsWith("PORTSHARE_NEXT_HOP=", StringComparison.Ordinal)));

        AssertParses(Expand(Unit.Load(Path.Combine(s_deploy, unit)), required)[1..], command);
    }

    [Fact]
    public void The_agent_unit_takes_an_ipv4_and_an_ipv6_next_hop_and_every_optional_setting()
    {
        var env = """
            PORTSHARE_ETCD=https://etcd-1.example:2379,https://etcd-2.example:2379
            PORTSHARE_HOST=web-1.example
            PORTSHARE_NEXT_HOP=198.51.100.2 2001:db8:100::2
            PORTSHARE_PREFIX=/fleet-a/
            PORTSHARE_AGENT_ARGS="--metrics http://+:9464/ --margin 2 --agent-state /var/lib/portshare/agent.json"
            """;

        var args = Expand(Unit.Load(Path.Combine(s_deploy, "portshare-agent.service")), env);

        Assert.Equal(["198.51.100.2", "2001:db8:100::2"], args.SkipWhile(a => a != "--next-hop").Skip(1).Take(2));
        AssertParses(args[1..], "agent");
    }

    [Fact]
    public void The_agent_is_stopped_by_sigterm_alone_and_given_longer_than_its_drain()
    {
        var unit = Unit.Load(Path.Combine(s_deploy, "portshare-agent.service"));
        var args = Expand(unit, File.ReadAllText(Path.Combine(s_deploy, "agent.env")));
        var drain = int.Parse(args[Array.IndexOf(args, "--drain-timeout") + 1], CultureInfo.InvariantCulture);

        Assert.Equal("SIGTERM", unit.Single("Service", "KillSignal"));
        Assert.Equal("mixed", unit.Single("Service", "KillMode"));

        // The agent's own shutdown gives up at the drain timeout + 10 s: systemd must not kill it before.
        Assert.True(int.Parse(unit.Single("Service", "TimeoutStopSec"), CultureInfo.InvariantCulture) > drain + 10);
    }

    [Theory]
    [InlineData("portshare-agent.service")]
    [InlineData("portshare-router-follow.service")]
    public void Each_unit_restarts_on_failure_after_the_network_is_online(string unit)
    {
        var u = Unit.Load(Path.Combine(s_deploy, unit));

        Assert.Equal("on-failure", u.Single("Service", "Restart"));
        Assert.Contains("network-online.target", u.Single("Unit", "After").Split(' '));
        Assert.Contains("network-online.target", u.Single("Unit", "Wants").Split(' '));
        Assert.Equal("multi-user.target", u.Single("Install", "WantedBy"));
    }

    private static void AssertParses(string[] args, string command)
    {
        var output = new StringWriter();
        var console = new CliConsole(new TestConsole(), new TestConsole(), output, output);
        var root = CliApp.BuildRoot(console, args);
        CliParsing.Harden(root);
        var parse = root.Parse(args, CliParsing.Configuration);

        Assert.True(parse.Errors.Count == 0, $"'{string.Join(' ', args)}': {string.Join("; ", parse.Errors.Select(CliParsing.Describe))}");
        Assert.Equal(command, parse.CommandResult.Command.Name);
    }

    /// <summary>
    /// ExecStart= as systemd runs it: the unit's Environment= first, the EnvironmentFile= over it; then, word by word,
    /// <c>${X}</c> is replaced inside its word and a word that is exactly <c>$X</c> becomes X's words (none when empty).
    /// </summary>
    private static string[] Expand(Unit unit, string envFile)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var assignment in unit.All("Service", "Environment").SelectMany(Words))
        {
            var eq = assignment.IndexOf('=', StringComparison.Ordinal);
            env[assignment[..eq]] = assignment[(eq + 1)..];
        }

        foreach (var (key, value) in EnvFile(envFile))
        {
            env[key] = value;
        }

        var args = new List<string>();
        foreach (var word in Words(unit.Single("Service", "ExecStart")))
        {
            if (word.StartsWith('$') && !word.StartsWith("${", StringComparison.Ordinal))
            {
                args.AddRange(Words(env.GetValueOrDefault(word[1..], string.Empty)));
                continue;
            }

            var expanded = new StringBuilder(word);
            foreach (var (key, value) in env)
            {
                expanded.Replace("${" + key + "}", value);
            }

            Assert.DoesNotContain("${", expanded.ToString(), StringComparison.Ordinal);
            args.Add(expanded.ToString());
        }

        return [.. args];
    }

    /// <summary>systemd's EnvironmentFile= syntax, as far as the examples use it: KEY=VALUE lines, '#' comments, optional quotes.</summary>
    private static IEnumerable<(string Key, string Value)> EnvFile(string text)
    {
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line[0] is '#' or ';')
            {
                continue;
            }

            var eq = line.IndexOf('=', StringComparison.Ordinal);
            Assert.True(eq > 0, $"not KEY=VALUE: {line}");
            var value = line[(eq + 1)..].Trim();
            if (value.Length >= 2 && value[0] is '"' or '\'' && value[^1] == value[0])
            {
                value = value[1..^1];
            }

            yield return (line[..eq].Trim(), value);
        }
    }

    /// <summary>Splits on whitespace; double or single quotes group words.</summary>
    private static IEnumerable<string> Words(string text)
    {
        var word = new StringBuilder();
        char? quote = null;
        var any = false;
        foreach (var c in text)
        {
            if (quote is null && c is '"' or '\'')
            {
                quote = c;
                any = true;
            }
            else if (c == quote)
            {
                quote = null;
            }
            else if (quote is null && char.IsWhiteSpace(c))
            {
                if (any)
                {
                    yield return word.ToString();
                    word.Clear();
                    any = false;
                }
            }
            else
            {
                word.Append(c);
                any = true;
            }
        }

        if (any)
        {
            yield return word.ToString();
        }
    }

    /// <summary>A unit file: sections of KEY=VALUE settings, '#' and ';' comments, lines continued with a trailing backslash.</summary>
    private sealed class Unit
    {
        private readonly List<(string Section, string Key, string Value)> _settings = [];

        public static Unit Load(string path)
        {
            var unit = new Unit();
            var section = string.Empty;
            var pending = string.Empty;
            foreach (var raw in File.ReadAllLines(path))
            {
                var line = pending + raw.Trim();
                pending = string.Empty;
                if (line.EndsWith('\\'))
                {
                    pending = line[..^1] + " ";
                    continue;
                }

                if (line.Length == 0 || line[0] is '#' or ';')
                {
                    continue;
                }

                if (line.StartsWith('[') && line.EndsWith(']'))
                {
                    section = line[1..^1];
                    continue;
                }

                var eq = line.IndexOf('=', StringComparison.Ordinal);
                Assert.True(eq > 0, $"{path}: not KEY=VALUE: {line}");
                unit._settings.Add((section, line[..eq].Trim(), line[(eq + 1)..].Trim()));
            }

            return unit;
        }

        public IEnumerable<string> All(string section, string key) =>
            _settings.Where(s => s.Section == section && s.Key == key).Select(s => s.Value);

        public string Single(string section, string key) => Assert.Single(All(section, key));
    }
}
