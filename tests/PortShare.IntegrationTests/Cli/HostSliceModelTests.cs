using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using PortShare.IntegrationTests.Infrastructure;
using PortShare.IntegrationTests.Udp;
using PortShare.Planning;

namespace PortShare.IntegrationTests.Cli;

/// <summary>
/// One host-slice model, end to end through the CLI as a user runs it in a host's namespace: for a multi-range host (a
/// keep-ports re-plan) with reserved ports inside its span, <c>plan slice</c>, the host file <c>host apply</c> writes,
/// <c>connect --plan</c>, <c>connect</c> from the host file and <c>status</c> name the same ranges, and connects fill
/// every port of every range — kernel path, fallback and UDP shared — from the egress address, never from a port outside.
/// </summary>
[Trait("Category", "RequiresRoot")]
[Collection(ExclusiveCollection.Name)]
public sealed class HostSliceModelTests
{
    private static readonly IPAddress s_egress = IPAddress.Parse("192.0.2.1");
    private static readonly IPAddress s_server = IPAddress.Parse("198.51.100.10");

    [Fact]
    public async Task Every_consumer_names_the_same_ranges_and_connects_fill_them_from_the_egress_address()
    {
        Root.Require();
        using var ns = TestNetns.Create(40000, 40999);
        var dir = Directory.CreateTempSubdirectory("portshare-model-");
        try
        {
            var (plan, host) = await MakeMultiRangePlanAsync(dir.FullName);
            var expected = PlanFile.Load(plan).HostFile(host, DateTimeOffset.UtcNow).For(s_egress).Ports;

            // plan slice: exactly those ranges.
            var slice = await CliRunner.RunInProcessAsync("plan", "slice", plan, "--host", host, "--egress", "192.0.2.1");
            Assert.True(slice.ExitCode == 0, slice.StdErr);
            Assert.Equal(expected.Ranges.Select(r => $"{r.Low}-{r.High}"), slice.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries));

            // host apply writes the same ranges to the host file, and puts the egress address on lo.
            var hostFile = Path.Combine(dir.FullName, "host.json");
            var apply = await CliRunner.RunInProcessAsync("host", "apply", plan, "--host", host, "--netns", ns.Name, "--state", hostFile);
            Assert.True(apply.ExitCode == 0, apply.StdErr);
            Assert.Equal(expected, HostSliceFile.Load(hostFile).For(s_egress).Ports);
            ns.Ip("addr", "add", $"{s_server}/32", "dev", "lo");
            var env = new Dictionary<string, string> { ["PORTSHARE_HOST_FILE"] = hostFile };

            // Fill every port of every range toward one destination, three ways; one more is refused naming every range.
            var n = expected.Count.ToString(System.Globalization.CultureInfo.InvariantCulture);
            // (The fallback goes last: its explicit binds leave TIME_WAIT buckets that connect() skips, CONFORMANCE D11.)
            await FillAsync(ns, expected, null, "connect", "--plan", plan, "--host", host, "--egress", "192.0.2.1", "--strategy", "kernel", "--count", n, "--json");
            await FillAsync(ns, expected, env, "connect", "--count", n, "--json");
            await FillAsync(ns, expected, null, "connect", "--plan", plan, "--host", host, "--strategy", "fallback", "--count", n, "--json");
            await FillUdpAsync(ns, expected, env, n);

            using var listener = ns.Listen(s_server);
            var over = CliRunner.RunInNamespace(ns.Name, env, "connect", "--count", (expected.Count + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), "--json", listener.LocalEndPoint!.ToString()!);
            Assert.Equal(1, over.ExitCode);
            Assert.Contains($"Port slice {expected} ({expected.Count} ports in {expected.Ranges.Count} ranges, every one tried) is exhausted", over.StdErr, StringComparison.Ordinal);

            // status reports on each of the host's ranges, from the host file and from the plan alike.
            foreach (var args in new[] { new[] { "status", "--json" }, ["status", "--plan", plan, "--host", host, "--json"] })
            {
                var status = CliRunner.RunInNamespace(ns.Name, env, args);
                Assert.True(status.ExitCode == 0, status.StdErr);
                using var doc = JsonDocument.Parse(status.StdOut);
                Assert.Equal(expected.Ranges.Select(r => r.ToString()), doc.RootElement.GetProperty("slices").EnumerateArray().Select(s => s.GetProperty("slice").GetString()));
            }
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    /// <summary>A plan whose re-plan left a host with several ranges on 192.0.2.1, with reserved ports inside its span.</summary>
    private static async Task<(string Plan, string Host)> MakeMultiRangePlanAsync(string dir)
    {
        const string head = """{"version": 1, "usable_range": "40000-40511", "reserved": ["40100-40131"], "min_slice_size": 32, "alignment": 2, "egress": [{"address": "192.0.2.1"}], "hosts": [""";
        var spec1 = Path.Combine(dir, "spec1.json");
        var spec2 = Path.Combine(dir, "spec2.json");
        await File.WriteAllTextAsync(spec1, head + """{"name": "h1", "next_hops": ["198.51.100.2"]}, {"name": "h2", "next_hops": ["198.51.100.6"]}]}""", TestContext.Current.CancellationToken);
        await File.WriteAllTextAsync(spec2, head + """{"name": "h1", "next_hops": ["198.51.100.2"]}, {"name": "h2", "next_hops": ["198.51.100.6"]}, {"name": "h3", "next_hops": ["198.51.100.14"]}]}""", TestContext.Current.CancellationToken);
        var p1 = Path.Combine(dir, "p1.json");
        var p2 = Path.Combine(dir, "p2.json");
        var made = await CliRunner.RunInProcessAsync("plan", "new", spec1, "-o", p1);
        Assert.True(made.ExitCode == 0, made.StdErr);
        made = await CliRunner.RunInProcessAsync("plan", "update", "--previous", p1, spec2, "-o", p2);
        Assert.True(made.ExitCode == 0, made.StdErr);

        var plan = PlanFile.Load(p2);
        var host = new[] { "h1", "h2", "h3" }.FirstOrDefault(h =>
        {
            var ports = plan.HostFile(h, DateTimeOffset.UtcNow).For(s_egress).Ports;
            return ports.Ranges.Count >= 2 && ports.Gaps().Any(g => g.Overlaps(new PortRange(40100, 40131)));
        });
        Assert.True(host is not null, $"the keep-ports re-plan left no host with several ranges around the reserved ports: {File.ReadAllText(p2)}");
        return (p2, host);
    }

    private static async Task FillAsync(TestNetns ns, PortSlice expected, IReadOnlyDictionary<string, string>? env, params string[] args)
    {
        using var listener = ns.Listen(s_server);
        var peers = new ConcurrentBag<IPEndPoint>();
        using var stop = new CancellationTokenSource();
        var accepting = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                using var accepted = await listener.AcceptAsync(stop.Token);
                peers.Add((IPEndPoint)accepted.RemoteEndPoint!);
            }
        });

        var r = CliRunner.RunInNamespace(ns.Name, env, [.. args, listener.LocalEndPoint!.ToString()!]);
        Assert.True(r.ExitCode == 0, $"{string.Join(' ', args)}: {r.StdErr}");
        var printed = Lines(r.StdOut).ToList();
        Assert.All(printed, line =>
        {
            Assert.Equal("192.0.2.1", line.GetProperty("local_address").GetString());
            Assert.Equal("tcp", line.GetProperty("protocol").GetString());
        });
        var ports = printed.Select(l => l.GetProperty("local_port").GetInt32()).ToList();
        Assert.Equal(Enumerable.Range(0, expected.Count).Select(i => (int)expected.PortAt(i)), ports.Order());

        // The server's view: every connection came from the egress address and a port of the slice.
        for (var wait = 0; peers.Count < expected.Count && wait < 100; wait++)
        {
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }

        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => accepting);
        Assert.Equal(expected.Count, peers.Count);
        Assert.All(peers, p =>
        {
            Assert.Equal(s_egress, p.Address);
            Assert.True(expected.Contains(p.Port), $"the server saw port {p.Port}, outside {expected}");
        });
    }

    private static async Task FillUdpAsync(TestNetns ns, PortSlice expected, IReadOnlyDictionary<string, string> env, string count)
    {
        using var server = ns.UdpListen(s_server);
        using var stop = new CancellationTokenSource();
        var echo = Task.Run(async () =>
        {
            var buffer = new byte[2048];
            while (!stop.IsCancellationRequested)
            {
                var got = await server.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), stop.Token);
                var reply = Encoding.UTF8.GetBytes($"from {got.RemoteEndPoint}");
                await server.SendToAsync(reply, SocketFlags.None, got.RemoteEndPoint, stop.Token);
            }
        });

        var r = CliRunner.RunInNamespace(ns.Name, env, "connect", "--udp", "--count", count, "--json", "--timeout", "5", server.Endpoint().ToString());
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => echo);
        Assert.True(r.ExitCode == 0, r.StdErr);
        var lines = Lines(r.StdOut).ToList();
        Assert.Equal(Enumerable.Range(0, expected.Count).Select(i => (int)expected.PortAt(i)), lines.Select(l => l.GetProperty("local_port").GetInt32()).Order());
        Assert.All(lines, l =>
        {
            Assert.Equal("udp", l.GetProperty("protocol").GetString());
            Assert.Equal($"from 192.0.2.1:{l.GetProperty("local_port").GetInt32()}", l.GetProperty("reply").GetString());
        });
    }

    private static IEnumerable<JsonElement> Lines(string stdout) =>
        stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.Clone());
}
