using System.Globalization;
using System.Text.Json;
using PortShare.IntegrationTests.Infrastructure;
using PortShare.Routing;
using PortShare.Lab;

namespace PortShare.IntegrationTests.Doctor;

/// <summary>
/// doctor against a real lab: it passes as the lab sets things up, and each condition the issue lists, broken in turn,
/// makes it fail naming the condition and the fix. Each test makes its own lab and always removes it.
/// </summary>
[Trait("Category", "RequiresRoot")]
public class DoctorLabTests
{
    /// <summary>One way to break a lab: what to do, what doctor must say, and how to put it back.</summary>
    public sealed record Breakage(string Name, bool Router, Action<LabState> Break, Action<LabState> Restore, string Check, string Status, string Fix)
    {
        public override string ToString() => Name;
    }

    private static string HostNs(LabState s) => LabTopology.HostNs(s.Prefix, "h1");

    private static string RouterNs(LabState s) => LabTopology.RouterNs(s.Prefix);

    private static void Sysctl(string ns, string key, string value) => Proc.Check("ip", "netns", "exec", ns, "sysctl", "-q", "-w", $"{key}={value}");

    private static string ReadSysctl(string ns, string key) => Proc.Check("ip", "netns", "exec", ns, "sysctl", "-n", key).Trim();

    /// <summary>The routing table the router made for one host: the first table routing the egress address (host tables are hash slots).</summary>
    private static string FirstHostTable(LabState s)
    {
        using var doc = JsonDocument.Parse(Proc.Check("ip", "-n", RouterNs(s), "-j", "route", "show", "table", "all", "192.0.2.1"));
        return doc.RootElement.EnumerateArray()
            .Where(r => r.TryGetProperty("table", out var t) && t.ValueKind is JsonValueKind.Number or JsonValueKind.String && r.GetProperty("dev").GetString() == "h1")
            .Select(r => r.GetProperty("table").ToString())
            .First();
    }

    private static void Nft(string ns, string script)
    {
        var r = Proc.RunWithInput("ip", script, "netns", "exec", ns, "nft", "-f", "-");
        Assert.True(r.ExitCode == 0, r.StdErr);
    }

    private static List<Breakage> Breakages()
    {
        string? saved = null;
        string? range = null;
        return
        [
            new("the notrack rule removed", false,
                s =>
                {
                    saved = Proc.Check("ip", "netns", "exec", HostNs(s), "nft", "list", "table", "inet", "portshare_host");
                    Proc.Check("ip", "netns", "exec", HostNs(s), "nft", "delete", "table", "inet", "portshare_host");
                },
                s => Nft(HostNs(s), saved!),
                "conntrack_exempt", "fail", "portshare host apply"),
            new("a masquerade rule on the egress address", false,
                s => Nft(HostNs(s), "table ip pstest_nat {\n\tchain post {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\t\tip saddr 192.0.2.1 masquerade\n\t}\n}\n"),
                s => Proc.Check("ip", "netns", "exec", HostNs(s), "nft", "delete", "table", "ip", "pstest_nat"),
                "no_nat", "fail", "nft delete rule ip pstest_nat post"),
            new("the port range narrowed below the slice", false,
                s =>
                {
                    range = ReadSysctl(HostNs(s), "net.ipv4.ip_local_port_range");
                    var parts = range.Split((char[])['\t', ' '], StringSplitOptions.RemoveEmptyEntries).Select(p => int.Parse(p, CultureInfo.InvariantCulture)).ToArray();
                    Sysctl(HostNs(s), "net.ipv4.ip_local_port_range", $"{parts[0] + 2} {parts[1]}");
                },
                s => Sysctl(HostNs(s), "net.ipv4.ip_local_port_range", range!.Replace('\t', ' ')),
                "netns_port_range", "fail", "sysctl -w net.ipv4.ip_local_port_range="),
            new("strict rp_filter", false,
                s => Sysctl(HostNs(s), "net.ipv4.conf.all.rp_filter", "1"),
                s => Sysctl(HostNs(s), "net.ipv4.conf.all.rp_filter", "0"),
                "rp_filter", "fail", "rp_filter=2"),
            new("arp_ignore=0 (egress address not on the router's L2)", false,
                s => Sysctl(HostNs(s), "net.ipv4.conf.all.arp_ignore", "0"),
                s => Sysctl(HostNs(s), "net.ipv4.conf.all.arp_ignore", "1"),
                "arp_ignore", "warn", "sysctl -w net.ipv4.conf.all.arp_ignore=1"),
            new("arp_ignore=0 with the egress address on the router's L2", false,
                s =>
                {
                    Sysctl(HostNs(s), "net.ipv4.conf.all.arp_ignore", "0");
                    Proc.Check("ip", "-n", HostNs(s), "addr", "add", "192.0.2.2/24", "dev", "uplink");
                },
                s =>
                {
                    Proc.Check("ip", "-n", HostNs(s), "addr", "del", "192.0.2.2/24", "dev", "uplink");
                    Sysctl(HostNs(s), "net.ipv4.conf.all.arp_ignore", "1");
                },
                "arp_ignore", "fail", "sysctl -w net.ipv4.conf.all.arp_ignore=1"),
            new("a router route removed", true,
                s => Proc.Check("ip", "-n", RouterNs(s), "route", "del", "192.0.2.1", "table", FirstHostTable(s)),
                s => NetLab.RouterOf(s).Apply(PlanRoutes.From(NetLab.PlanOf(s), DateTimeOffset.UtcNow)),
                "installed_matches_plan", "fail", "portshare router apply"),
            new("forwarding off on the router", true,
                s => Sysctl(RouterNs(s), "net.ipv4.ip_forward", "0"),
                s => Sysctl(RouterNs(s), "net.ipv4.ip_forward", "1"),
                "forwarding", "fail", "sysctl -w net.ipv4.ip_forward=1"),
            new("a masquerade rule on the router", true,
                s => Nft(RouterNs(s), "table ip pstest_nat {\n\tchain post {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\t\toifname \"srv\" ip saddr 192.0.2.0/24 masquerade\n\t}\n}\n"),
                s => Proc.Check("ip", "netns", "exec", RouterNs(s), "nft", "delete", "table", "ip", "pstest_nat"),
                "no_nat", "fail", "nft delete rule ip pstest_nat post"),
            new("a conntrack entry for the egress address on the router", true,
                s => Proc.Check("ip", "netns", "exec", RouterNs(s), "conntrack", "-I", "-s", "192.0.2.1", "-d", "203.0.113.10", "-p", "tcp", "--sport", "40000", "--dport", "7000", "--state", "ESTABLISHED", "-t", "60", "-u", "ASSURED"),
                s => Proc.Check("ip", "netns", "exec", RouterNs(s), "conntrack", "-D", "-s", "192.0.2.1"),
                "conntrack_entries", "fail", "conntrack -D -d 192.0.2.1"),
        ];
    }

    private static async Task<JsonElement> DoctorAsync(LabState s, string plan, bool router)
    {
        string[] args = router
            ? ["doctor", "--router", "--netns", RouterNs(s), "--plan", plan, "--json"]
            : ["doctor", "--netns", HostNs(s), "--plan", plan, "--host", "h1", "--host-file", Path.Combine(s.StateDir, "h1.json"), "--json"];
        var r = await CliRunner.RunInProcessAsync(args);
        Assert.True(r.StdErr.Length == 0, r.StdErr);
        using var doc = JsonDocument.Parse(r.StdOut);
        var root = doc.RootElement.Clone();
        Assert.Equal(root.GetProperty("passed").GetBoolean() ? 0 : 1, r.ExitCode);
        return root;
    }

    private static async Task<JsonElement> LabDoctorAsync(string statePath)
    {
        var r = await CliRunner.RunInProcessAsync("lab", "doctor", "--state", statePath, "--json");
        Assert.True(r.StdErr.Length == 0, r.StdErr);
        using var doc = JsonDocument.Parse(r.StdOut);
        return doc.RootElement.Clone();
    }

    private static string Failures(JsonElement result) => string.Join("; ", result.GetProperty("results").EnumerateArray()
        .SelectMany(x => x.GetProperty("checks").EnumerateArray())
        .Where(c => c.GetProperty("status").GetString() == "fail")
        .Select(c => c.GetProperty("id").GetString() + ": " + c.GetProperty("detail").GetString()));

    [Fact]
    public async Task Doctor_passes_on_the_lab_and_names_each_broken_condition_with_its_fix()
    {
        Root.Require();
        var state = NetLab.Up(new LabOptions { Hosts = 2 }, cancellationToken: TestContext.Current.CancellationToken);
        var statePath = Path.Combine(Path.GetTempPath(), $"pst-labdoctor-{Guid.NewGuid():N}.json");
        try
        {
            state.Save(statePath);
            var lab = await LabDoctorAsync(statePath);
            Assert.True(lab.GetProperty("passed").GetBoolean(), Failures(lab));
            Assert.Equal(3, lab.GetProperty("results").GetArrayLength());
            var plan = Path.Combine(state.StateDir, "plan.json");

            // From the host file alone (no plan): the same checks, and they pass.
            var fromFile = await CliRunner.RunInProcessAsync("doctor", "--netns", HostNs(state), "--host-file", Path.Combine(state.StateDir, "h1.json"), "--json");
            Assert.True(fromFile.ExitCode == 0, fromFile.StdOut + fromFile.StdErr);
            Assert.Contains("\"subject\":\"h1\"", fromFile.StdOut, StringComparison.Ordinal);

            foreach (var b in Breakages())
            {
                b.Break(state);
                JsonElement result;
                try
                {
                    result = await DoctorAsync(state, plan, b.Router);
                }
                finally
                {
                    b.Restore(state);
                }

                var checks = result.GetProperty("checks").EnumerateArray().Where(c => c.GetProperty("id").GetString() == b.Check).ToList();
                var check = Assert.Single(checks);
                Assert.True(check.GetProperty("status").GetString() == b.Status, $"{b.Name}: {b.Check} is {check.GetProperty("status").GetString()}, expected {b.Status}: {check.GetProperty("detail").GetString()}");
                Assert.Contains(b.Fix, check.GetProperty("fix").GetString(), StringComparison.Ordinal);
                Assert.Equal(b.Status == "fail", !result.GetProperty("passed").GetBoolean());
                // Only the broken condition is reported: every other check still passes or only warns.
                Assert.All(
                    result.GetProperty("checks").EnumerateArray().Where(c => c.GetProperty("id").GetString() != b.Check),
                    c => Assert.True(c.GetProperty("status").GetString() != "fail", $"{b.Name}: unexpected failure {c.GetProperty("id").GetString()}: {c.GetProperty("detail").GetString()}"));

                var again = await DoctorAsync(state, plan, b.Router);
                Assert.True(again.GetProperty("passed").GetBoolean(), $"after restoring {b.Name}: {again}");
            }

            lab = await LabDoctorAsync(statePath);
            Assert.True(lab.GetProperty("passed").GetBoolean(), Failures(lab));
        }
        finally
        {
            NetLab.Down(state);
            File.Delete(statePath);
        }

        Assert.All(state.Namespaces, ns => Assert.False(File.Exists(Path.Combine("/run/netns", ns)), $"{ns} left behind"));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Portshare_ping_from_every_host_gets_its_replies_and_no_other_host_sees_them(bool ipv6)
    {
        Root.Require();
        var state = NetLab.Up(new LabOptions { Hosts = 3, Ipv6 = ipv6 }, cancellationToken: TestContext.Current.CancellationToken);
        var statePath = Path.Combine(Path.GetTempPath(), $"pst-labping-{Guid.NewGuid():N}.json");
        try
        {
            var egress = NetLab.Egress(state);
            var server = NetLab.Server(state);
            var plan = NetLab.PlanOf(state);
            foreach (var h in state.Hosts)
            {
                var ns = LabTopology.HostNs(state.Prefix, h);
                Sysctl(ns, "net.ipv4.ping_group_range", "0 2147483647");
                Nft(ns, $"table inet pstest_echo {{\n\tcounter echo {{ }}\n\tchain c {{\n\t\ttype filter hook prerouting priority -400; policy accept;\n\t\t{(ipv6 ? "ip6" : "ip")} daddr {egress} {(ipv6 ? "icmpv6" : "icmp")} type echo-reply counter name \"echo\"\n\t}}\n}}\n");
            }

            foreach (var h in state.Hosts)
            {
                var before = state.Hosts.ToDictionary(x => x, x => EchoReplies(state, x));
                var env = new Dictionary<string, string> { ["PORTSHARE_HOST_FILE"] = Path.Combine(state.StateDir, h + ".json") };
                var r = CliRunner.RunInNamespace(LabTopology.HostNs(state.Prefix, h), env, "ping", server.ToString(), "--count", "3", "--interval", "0.2", "--timeout", "2", "--json");
                Assert.True(r.ExitCode == 0, $"{h}: {r.StdOut} {r.StdErr}");
                using var doc = JsonDocument.Parse(r.StdOut);
                var ping = doc.RootElement;
                Assert.Equal(3, ping.GetProperty("received").GetInt32());
                Assert.Equal(egress.ToString(), ping.GetProperty("egress").GetString());
                var id = ping.GetProperty("echo_id").GetInt32();
                Assert.Contains(plan.GetSlice(h, egress), range => range.Contains(id));
                Assert.All(ping.GetProperty("replies").EnumerateArray(), x => Assert.Equal(server.ToString(), x.GetProperty("from").GetString()));
                foreach (var other in state.Hosts)
                {
                    Assert.Equal(other == h ? 3 : 0, EchoReplies(state, other) - before[other]);
                }
            }

            // With traffic through the router, its next hops resolve too: the whole lab passes.
            state.Save(statePath);
            var lab = await LabDoctorAsync(statePath);
            Assert.True(lab.GetProperty("passed").GetBoolean(), Failures(lab));
        }
        finally
        {
            NetLab.Down(state);
            File.Delete(statePath);
        }
    }

    [Fact]
    public void Plain_ping_id_outside_every_slice_gets_no_reply_through_the_router()
    {
        Root.Require();
        var state = NetLab.Up(new LabOptions { Hosts = 2 }, cancellationToken: TestContext.Current.CancellationToken);
        try
        {
            var ns = LabTopology.HostNs(state.Prefix, "h1");
            Sysctl(ns, "net.ipv4.ping_group_range", "0 2147483647");
            // What 'ping -I 192.0.2.1' does: an echo id the kernel picks, here one no slice owns (the plan covers 32768-60999).
            var r = CliRunner.RunInNamespace(ns, null, "ping", NetLab.Server(state).ToString(), "--slice", "20000-20001", "--egress", NetLab.Egress(state).ToString(), "--count", "2", "--interval", "0.1", "--timeout", "0.5", "--json");
            Assert.Equal(1, r.ExitCode);
            using var doc = JsonDocument.Parse(r.StdOut);
            Assert.Equal(0, doc.RootElement.GetProperty("received").GetInt32());
        }
        finally
        {
            NetLab.Down(state);
        }
    }

    private static long EchoReplies(LabState state, string host)
    {
        var json = Proc.Check("ip", "netns", "exec", LabTopology.HostNs(state.Prefix, host), "nft", "-j", "list", "counter", "inet", "pstest_echo", "echo");
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.GetProperty("nftables").EnumerateArray()
            .Where(i => i.TryGetProperty("counter", out _))
            .Select(i => i.GetProperty("counter").GetProperty("packets").GetInt64())
            .Single();
    }

    [Fact]
    public async Task Doctor_rejects_bad_input_with_one_line_naming_it()
    {
        var r = await CliRunner.RunInProcessAsync("doctor", "--router");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--plan", r.StdErr, StringComparison.Ordinal);
        r = await CliRunner.RunInProcessAsync("doctor", "--plan", "/nonexistent/plan.json", "--host", "h1");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("/nonexistent/plan.json", r.StdErr, StringComparison.Ordinal);
        r = await CliRunner.RunInProcessAsync("ping", "not an address!");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("not an address!", r.StdErr, StringComparison.Ordinal);
        r = await CliRunner.RunInProcessAsync("ping", "127.0.0.1", "--count", "0");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--count", r.StdErr, StringComparison.Ordinal);
    }
}
