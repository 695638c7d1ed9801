using PortShare.Cli;
using Spectre.Console.Testing;

namespace PortShare.Tests.Cli;

/// <summary>
/// Bad input as a user types it, through the real command tree in-process: each case gives the command line, the exit
/// code, and a pattern the one-line error must hold; none may print a stack trace or call itself a bug, and nothing is
/// written next to the inputs.
/// </summary>
public sealed class CliRobustnessTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("portshare-robust-").FullName;

    public CliRobustnessTests()
    {
        File.WriteAllText(Path.Combine(_dir, "bad.json"), "{bad");
        File.WriteAllText(Path.Combine(_dir, "null.json"), "null");
        File.WriteAllText(Path.Combine(_dir, "list-null.json"), """{"version":1,"usable_range":"40000-40511","min_slice_size":64,"alignment":2,"egress":[null],"hosts":[null]}""");
        File.WriteAllText(Path.Combine(_dir, "args.rsp"), "connect --count abc\n");
        File.WriteAllText(Path.Combine(_dir, "kinds.json"), """{"version":1,"egress":[{"address":"192.0.2.1"}],"hosts":"abc"}""");
        Directory.CreateDirectory(Path.Combine(_dir, "adir"));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public static TheoryData<string, int, string> Cases => new()
    {
        { "connect --count abc --slice 40000-40001 127.0.0.1:1", 2, "--count: 'abc' is not a whole number" },
        { "connect --count 99999999999 --slice 40000-40001 127.0.0.1:1", 2, "--count: '99999999999' is not a whole number" },
        { "connect --timeout -1 --slice 40000-40001 127.0.0.1:1", 2, "--timeout must be more than 0" },
        { "connect --timeout 1e400 --slice 40000-40001 127.0.0.1:1", 2, "--timeout" },
        { "connect --strategy 99 --slice 40000-40001 127.0.0.1:1", 2, "--strategy '99' is not a strategy" },
        { "connect --mode unique --slice 40000-40001 127.0.0.1:1", 2, "apply to UDP flows only" },
        { "connect --udp --strategy kernel --slice 40000-40001 127.0.0.1:1", 2, "--strategy applies to TCP" },
        { "connect --slice 5-3 127.0.0.1:1", 2, "greater than the high port" },
        { "connect --slice 40000-40100,40050-40200 127.0.0.1:1", 2, "overlap" },
        { "connect --slice 40000-40001 12345:8080", 2, "'12345' is not an IPv4 address" },
        { "connect --slice 40000-40001 [::1:8080", 2, "the ']' is missing" },
        { "connect --slice 40000-40001 127.0.0.1", 2, "the port is missing" },
        { "connect --slice 40000-40001 --egress 192.0.2.1 127.0.0.1:1", 2, "--egress chooses a slice" },
        { "status --watch abc", 2, "--watch: 'abc' is not a whole number" },
        { "status --watch 0 --slice 40000-40001", 2, "--watch" },
        { "bench udp --seconds abc", 2, "--seconds: 'abc' is not a number" },
        { "plan new DIR/bad.json", 1, "not valid JSON" },
        { "plan new DIR/null.json", 1, "null" },
        { "plan new DIR/list-null.json", 1, "null" },
        { "plan new DIR/missing.json", 1, "no such file" },
        { "plan new DIR/adir", 1, "DIR/adir: is a directory, not a file" },
        { "plan validate DIR/bad.json", 1, "not valid JSON" },
        { "plan new DIR/kinds.json", 1, "the value is not a list (at $.hosts" },
        { "plan slice DIR/null.json --host h1", 1, "null" },
        { "host apply DIR/bad.json --host h1 --dry-run", 1, "not valid JSON" },
        { "router apply DIR/null.json --dry-run", 1, "null" },
        { "@DIR/adir", 2, "is a directory, not a file" },
        { "@DIR/missing.rsp", 2, "does not exist" },
        { "@DIR/args.rsp", 2, "--count: 'abc' is not a whole number" },
        { "nosuchcommand", 2, "nosuchcommand" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Bad_input_is_one_clear_error_with_the_right_exit_code(string commandLine, int exitCode, string pattern)
    {
        var args = commandLine.Replace("DIR", _dir, StringComparison.Ordinal).Split(' ');
        var before = Directory.GetFileSystemEntries(_dir).Order(StringComparer.Ordinal).ToList();
        var output = new TestConsole().Width(400);
        var error = new TestConsole().Width(400);
        var raw = new StringWriter();
        var rawError = new StringWriter();
        var code = await CliApp.RunAsync(args, new CliConsole(output, error, raw, rawError));
        var err = rawError + error.Output;

        Assert.True(code == exitCode, $"exit {code}, expected {exitCode}: {err}");
        Assert.Contains(pattern.Replace("DIR", _dir, StringComparison.Ordinal), err, StringComparison.Ordinal);
        Assert.StartsWith("error: ", err, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", err, StringComparison.Ordinal);
        Assert.DoesNotContain("bug in portshare", err, StringComparison.Ordinal);
        Assert.DoesNotContain("System.", err, StringComparison.Ordinal);
        Assert.Equal(before, Directory.GetFileSystemEntries(_dir).Order(StringComparer.Ordinal));
    }
}
