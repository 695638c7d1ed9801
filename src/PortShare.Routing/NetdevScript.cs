using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace PortShare.Routing;

/// <summary>Where one host's replies of one address family are forwarded: its next hop on the router's link <see cref="Device"/>.</summary>
/// <param name="Host">The host's name.</param>
/// <param name="Family">4 or 6.</param>
/// <param name="NextHop">The host's address on that link.</param>
/// <param name="Device">The router's device toward the host.</param>
public sealed record NetdevTarget(string Host, int Family, IPAddress NextHop, string Device)
{
    /// <summary>The host chain's name: <c>h4_NAME</c> or <c>h6_NAME</c> (host names are valid nft identifiers after a letter prefix).</summary>
    public string Chain => (Family == 6 ? "h6_" : "h4_") + Host;
}

/// <summary>One port range of an egress address and the host chain its replies go to.</summary>
/// <param name="Egress">The egress address.</param>
/// <param name="Range">The ports.</param>
/// <param name="Chain">The host chain (see <see cref="NetdevTarget.Chain"/>).</param>
public sealed record NetdevSlice(IPAddress Egress, PortRange Range, string Chain);

/// <summary>
/// The netdev backend's state, as wanted or as read back from the kernel: the uplink devices, the host chains, the
/// per-egress port maps and the plan generation. Two routers serve the same plan exactly when their states are equal,
/// which <see cref="Digest"/> condenses.
/// </summary>
public sealed record NetdevState(IReadOnlyList<string> Uplinks, IReadOnlyList<NetdevTarget> Targets, IReadOnlyList<NetdevSlice> Slices, long Generation)
{
    /// <summary>A digest of the state (not of the generation): equal on every router that forwards the same way.</summary>
    public string Digest()
    {
        var sb = new StringBuilder();
        foreach (var u in Uplinks.Order(StringComparer.Ordinal))
        {
            sb.Append("u ").Append(u).Append('\n');
        }

        foreach (var t in Targets.OrderBy(t => t.Chain, StringComparer.Ordinal))
        {
            sb.Append(CultureInfo.InvariantCulture, $"t {t.Chain} {t.NextHop} {t.Device}\n");
        }

        foreach (var s in Slices.OrderBy(s => s.Egress.AddressFamily).ThenBy(s => s.Egress.ToString(), StringComparer.Ordinal).ThenBy(s => s.Range.Low))
        {
            sb.Append(CultureInfo.InvariantCulture, $"s {s.Egress} {s.Range.Low}-{s.Range.High} {s.Chain}\n");
        }

        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(sb.ToString())))[..16];
    }
}

/// <summary>Per-host forwarded packets and bytes, and the replies dropped because no slice owns their port.</summary>
/// <param name="Hosts">Per host: packets and bytes forwarded to it (both families).</param>
/// <param name="UnownedPackets">Packets to an egress address on a port no slice owns (dropped).</param>
/// <param name="UnownedBytes">Their bytes.</param>
public sealed record RouterCounters(IReadOnlyDictionary<string, (long Packets, long Bytes)> Hosts, long UnownedPackets, long UnownedBytes);

/// <summary>
/// The netdev backend's nftables scripts: a <c>netdev</c> table with an <c>ingress</c> chain on each uplink. The
/// destination address picks a chain per egress address (<c>ip daddr vmap</c>, a hash lookup); there a single-field
/// interval map of the destination port (a tree: its cost does not grow like a concatenated map's) jumps to the host's
/// chain, which forwards the packet with <c>fwd ip to NEXTHOP device DEV</c>: no routing table, rule or mark per host.
/// ICMP errors are steered by the embedded header's source port and echo replies by their id; anything else sent to
/// an egress address is counted and dropped. A small <c>inet</c> table exempts the hosts' outgoing packets from
/// conntrack. <c>fwd</c> leaves the forwarding path, so replies are not TTL-decremented (see README).
/// </summary>
public static class NetdevScript
{
    /// <summary>The named counter of replies to ports no slice owns.</summary>
    public const string UnownedCounter = "unowned";

    /// <summary>
    /// An empty chain named after the installed state (<c>state_DIGEST_gGENERATION</c>), replaced in every transaction:
    /// listing chain names is fast whatever the element count, so apply can tell that its saved copy of the state is
    /// what is installed without listing 320,000 elements (which takes seconds).
    /// </summary>
    public static string Stamp(NetdevState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        return string.Create(CultureInfo.InvariantCulture, $"state_{state.Digest()}_g{state.Generation}");
    }

    /// <summary>The script that replaces both tables with <paramref name="state"/>, as one transaction.</summary>
    public static string Build(NetdevState state, RouterOptions options)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(options);
        var t = options.NftTable;
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"table netdev {t}\ndelete table netdev {t}\ntable inet {t}\ndelete table inet {t}\n");
        sb.Append(CultureInfo.InvariantCulture, $"table netdev {t} {{\n");
        sb.Append(CultureInfo.InvariantCulture, $"\tset generation {{\n\t\ttype mark\n\t\tcomment \"plan generation\"\n\t\telements = {{ {state.Generation} }}\n\t}}\n");
        // nft 1.0.6 leaves a netdev chain's device out of its JSON: the set records the uplinks for reading back.
        sb.Append(CultureInfo.InvariantCulture, $"\tset uplinks {{\n\t\ttype ifname\n\t\tcomment \"the devices of the ingress chains\"\n\t\telements = {{ {string.Join(", ", state.Uplinks.Select(u => $"\"{u}\""))} }}\n\t}}\n");
        sb.Append(CultureInfo.InvariantCulture, $"\tchain {Stamp(state)} {{\n\t}}\n");
        sb.Append(CultureInfo.InvariantCulture, $"\tcounter {UnownedCounter} {{\n\t\tcomment \"replies to ports no slice owns (dropped)\"\n\t}}\n");
        foreach (var target in state.Targets.OrderBy(x => x.Chain, StringComparer.Ordinal))
        {
            sb.Append(CultureInfo.InvariantCulture, $"\tchain {target.Chain} {{\n\t\t{FwdRule(target)}\n\t}}\n");
        }

        var groups = Groups(state.Slices);
        foreach (var (egress, slices) in groups)
        {
            var name = NftScript.MapName(egress);
            var elements = Elements(slices);
            var ipv6 = egress.AddressFamily == AddressFamily.InterNetworkV6;
            var icmpKey = NftScript.IcmpPortKey(ipv6);
            sb.Append(CultureInfo.InvariantCulture, $"\tmap {name} {{\n\t\ttype inet_service : verdict\n\t\tflags interval\n\t\telements = {{ {elements} }}\n\t}}\n");
            // Raw payload keys are plain integers to nft: the ICMP lookups need a twin map with the same elements.
            sb.Append(CultureInfo.InvariantCulture, $"\tmap {name}_icmp {{\n\t\ttypeof {icmpKey} : verdict\n\t\tflags interval\n\t\telements = {{ {elements} }}\n\t}}\n");
            sb.Append(CultureInfo.InvariantCulture, $"\tchain c_{name} {{\n");
            sb.Append(CultureInfo.InvariantCulture, $"\t\tmeta l4proto {{ tcp, udp }} th dport vmap @{name}\n");
            sb.Append(CultureInfo.InvariantCulture, $"\t\t{NftScript.IcmpErrorMatch(ipv6)} {icmpKey} vmap @{name}_icmp\n");
            sb.Append(CultureInfo.InvariantCulture, $"\t\t{(ipv6 ? "icmpv6" : "icmp")} type echo-reply @th,32,16 vmap @{name}_icmp\n");

            sb.Append(CultureInfo.InvariantCulture, $"\t\tcounter name \"{UnownedCounter}\" drop\n\t}}\n");
        }

        foreach (var family in (int[])[4, 6])
        {
            var list = string.Join(", ", groups.Where(g => Family(g.Egress) == family).Select(g => $"{g.Egress} : jump c_{NftScript.MapName(g.Egress)}"));
            sb.Append(CultureInfo.InvariantCulture, $"\tmap egress{family} {{\n\t\ttype {(family == 6 ? "ipv6_addr" : "ipv4_addr")} : verdict\n");
            if (list.Length > 0)
            {
                sb.Append(CultureInfo.InvariantCulture, $"\t\telements = {{ {list} }}\n");
            }

            sb.Append("\t}\n");
        }

        var i = 0;
        foreach (var uplink in state.Uplinks)
        {
            i++;
            sb.Append(CultureInfo.InvariantCulture, $"\tchain in_{i} {{\n\t\ttype filter hook ingress device \"{uplink}\" priority filter; policy accept;\n");
            sb.Append("\t\tmeta protocol ip ip daddr vmap @egress4\n\t\tmeta protocol ip6 ip6 daddr vmap @egress6\n\t}\n");
        }

        sb.Append("}\n");
        // The hosts' outgoing packets still take the forwarding path: keep them out of conntrack as the other backends do.
        sb.Append(CultureInfo.InvariantCulture, $"table inet {t} {{\n\tchain prerouting {{\n\t\ttype filter hook prerouting priority raw; policy accept;\n");
        foreach (var (egress, _) in groups)
        {
            sb.Append(CultureInfo.InvariantCulture, $"\t\t{(Family(egress) == 6 ? "ip6" : "ip")} saddr {egress} notrack\n");
        }

        sb.Append("\t}\n}\n");
        return sb.ToString();
    }

    /// <summary>
    /// The script that turns <paramref name="installed"/> into <paramref name="wanted"/> by changing only the map
    /// elements and host chains that differ (one transaction), or null when <paramref name="wanted"/> needs a new table
    /// (other uplinks or egress addresses): then use <see cref="Build"/>. Empty when nothing differs.
    /// </summary>
    public static string? Update(NetdevState installed, NetdevState wanted, RouterOptions options)
    {
        ArgumentNullException.ThrowIfNull(installed);
        ArgumentNullException.ThrowIfNull(wanted);
        ArgumentNullException.ThrowIfNull(options);
        var egressNow = installed.Slices.Select(s => s.Egress).ToHashSet();
        var egressWanted = wanted.Slices.Select(s => s.Egress).ToHashSet();
        if (!installed.Uplinks.SequenceEqual(wanted.Uplinks, StringComparer.Ordinal) || !egressNow.SetEquals(egressWanted))
        {
            return null;
        }

        var t = options.NftTable;
        var sb = new StringBuilder();
        var targetsNow = installed.Targets.ToDictionary(x => x.Chain, StringComparer.Ordinal);
        var targetsWanted = wanted.Targets.ToDictionary(x => x.Chain, StringComparer.Ordinal);
        foreach (var (chain, target) in targetsWanted.OrderBy(k => k.Key, StringComparer.Ordinal))
        {
            if (!targetsNow.TryGetValue(chain, out var now))
            {
                sb.Append(CultureInfo.InvariantCulture, $"add chain netdev {t} {chain}\nadd rule netdev {t} {chain} {FwdRule(target)}\n");
            }
            else if (now != target)
            {
                sb.Append(CultureInfo.InvariantCulture, $"flush chain netdev {t} {chain}\nadd rule netdev {t} {chain} {FwdRule(target)}\n");
            }
        }

        var slicesNow = installed.Slices.ToHashSet();
        var slicesWanted = wanted.Slices.ToHashSet();
        var gone = installed.Slices.Where(s => !slicesWanted.Contains(s)).ToList();
        var added = wanted.Slices.Where(s => !slicesNow.Contains(s)).ToList();
        // Deletes first: an added range may overlap a deleted one (a host's slice moved), never one that stays.
        foreach (var (egress, slices) in Groups(gone))
        {
            var keys = string.Join(", ", slices.Select(s => Key(s.Range)));
            var name = NftScript.MapName(egress);
            sb.Append(CultureInfo.InvariantCulture, $"delete element netdev {t} {name} {{ {keys} }}\ndelete element netdev {t} {name}_icmp {{ {keys} }}\n");
        }

        foreach (var (egress, slices) in Groups(added))
        {
            var elements = Elements(slices);
            var name = NftScript.MapName(egress);
            sb.Append(CultureInfo.InvariantCulture, $"add element netdev {t} {name} {{ {elements} }}\nadd element netdev {t} {name}_icmp {{ {elements} }}\n");
        }

        foreach (var chain in targetsNow.Keys.Where(c => !targetsWanted.ContainsKey(c)).Order(StringComparer.Ordinal))
        {
            sb.Append(CultureInfo.InvariantCulture, $"delete chain netdev {t} {chain}\n");
        }

        if (sb.Length > 0 || installed.Generation != wanted.Generation)
        {
            sb.Append(CultureInfo.InvariantCulture, $"flush set netdev {t} generation\nadd element netdev {t} generation {{ {wanted.Generation} }}\n");
            sb.Append(CultureInfo.InvariantCulture, $"delete chain netdev {t} {Stamp(installed)}\nadd chain netdev {t} {Stamp(wanted)}\n");
        }

        return sb.ToString();
    }

    /// <summary>The script that deletes both tables (when they exist).</summary>
    public static string Delete(RouterOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return $"table netdev {options.NftTable}\ndelete table netdev {options.NftTable}\ntable inet {options.NftTable}\ndelete table inet {options.NftTable}\n";
    }

    /// <summary>
    /// The installed table's stamp (<see cref="Stamp"/>): null when the table is absent, empty when it has none.
    /// One <c>nft list chains</c>, fast at any size.
    /// </summary>
    public static string? ReadStamp(NetTools tools, RouterOptions options)
    {
        ArgumentNullException.ThrowIfNull(tools);
        ArgumentNullException.ThrowIfNull(options);
        string[] args = ["-j", "list", "chains", "netdev"];
        var r = tools.Nft(args);
        if (r.ExitCode != 0)
        {
            throw tools.Failed("nft", args, r);
        }

        using var doc = JsonDocument.Parse(r.StdOut);
        string? stamp = null;
        foreach (var item in doc.RootElement.GetProperty("nftables").EnumerateArray())
        {
            if (item.TryGetProperty("chain", out var chain) && chain.GetProperty("table").GetString() == options.NftTable)
            {
                var name = chain.GetProperty("name").GetString() ?? string.Empty;
                stamp = name.StartsWith("state_", StringComparison.Ordinal) ? name : stamp ?? string.Empty;
            }
        }

        return stamp;
    }

    /// <summary>The state as text (one fact a line), for the copy apply keeps beside the stamp.</summary>
    public static string Serialize(NetdevState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"g {state.Generation}\n");
        foreach (var u in state.Uplinks)
        {
            sb.Append(CultureInfo.InvariantCulture, $"u {u}\n");
        }

        foreach (var t in state.Targets)
        {
            sb.Append(CultureInfo.InvariantCulture, $"t {t.Host} {t.Family} {t.NextHop} {t.Device}\n");
        }

        foreach (var x in state.Slices)
        {
            sb.Append(CultureInfo.InvariantCulture, $"s {x.Egress} {x.Range.Low} {x.Range.High} {x.Chain}\n");
        }

        return sb.ToString();
    }

    /// <summary>Reads <see cref="Serialize"/>'s text back; null when it is not such a text.</summary>
    public static NetdevState? Deserialize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        long generation = 0;
        var uplinks = new List<string>();
        var targets = new List<NetdevTarget>();
        var slices = new List<NetdevSlice>();
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var f = line.Split(' ');
            switch (f[0])
            {
                case "g" when f.Length == 2 && long.TryParse(f[1], NumberStyles.None, CultureInfo.InvariantCulture, out var g):
                    generation = g;
                    break;
                case "u" when f.Length == 2:
                    uplinks.Add(f[1]);
                    break;
                case "t" when f.Length == 5 && IPAddress.TryParse(f[3], out var hop):
                    targets.Add(new NetdevTarget(f[1], f[2] == "6" ? 6 : 4, hop, f[4]));
                    break;
                case "s" when f.Length == 5 && IPAddress.TryParse(f[1], out var egress)
                    && ushort.TryParse(f[2], NumberStyles.None, CultureInfo.InvariantCulture, out var lo)
                    && ushort.TryParse(f[3], NumberStyles.None, CultureInfo.InvariantCulture, out var hi):
                    slices.Add(new NetdevSlice(egress, new PortRange(lo, hi), f[4]));
                    break;
                default:
                    return null;
            }
        }

        return new NetdevState(uplinks, targets, slices, generation);
    }

    /// <summary>The installed netdev table, or null when it is absent.</summary>
    public static (NetdevState State, RouterCounters Counters)? ReadInstalled(NetTools tools, RouterOptions options)
    {
        ArgumentNullException.ThrowIfNull(tools);
        ArgumentNullException.ThrowIfNull(options);
        string[] args = ["-j", "list", "table", "netdev", options.NftTable];
        var r = tools.Nft(args);
        if (r.ExitCode != 0)
        {
            return r.StdErr.Contains("No such file or directory", StringComparison.Ordinal) ? null : throw tools.Failed("nft", args, r);
        }

        return Parse(r.StdOut);
    }

    /// <summary>Parses <c>nft -j list table netdev …</c> output.</summary>
    public static (NetdevState State, RouterCounters Counters) Parse(string json)
    {
        var uplinks = new List<string>();
        var targets = new List<NetdevTarget>();
        var slices = new List<NetdevSlice>();
        var hosts = new Dictionary<string, (long Packets, long Bytes)>(StringComparer.Ordinal);
        long generation = 0, unownedPackets = 0, unownedBytes = 0;
        using var doc = JsonDocument.Parse(json);
        foreach (var item in doc.RootElement.GetProperty("nftables").EnumerateArray())
        {
            if (item.TryGetProperty("set", out var set) && set.GetProperty("name").GetString() == "generation" && set.TryGetProperty("elem", out var gen))
            {
                generation = gen.EnumerateArray().Select(e => e.GetInt64()).FirstOrDefault();
            }
            else if (item.TryGetProperty("set", out var up) && up.GetProperty("name").GetString() == "uplinks" && up.TryGetProperty("elem", out var devices))
            {
                uplinks.AddRange(devices.EnumerateArray().Select(e => e.GetString() ?? string.Empty));
            }
            else if (item.TryGetProperty("counter", out var counter) && counter.GetProperty("name").GetString() == UnownedCounter)
            {
                unownedPackets = counter.GetProperty("packets").GetInt64();
                unownedBytes = counter.GetProperty("bytes").GetInt64();
            }
            else if (item.TryGetProperty("map", out var map))
            {
                var name = map.GetProperty("name").GetString() ?? string.Empty;
                if (NftScript.ParseMapName(name) is not { } egress || !map.TryGetProperty("elem", out var elems))
                {
                    continue;
                }

                foreach (var elem in elems.EnumerateArray())
                {
                    var key = elem[0];
                    var target = elem[1].TryGetProperty("goto", out var g) ? g.GetProperty("target").GetString() : null;
                    if (target is null)
                    {
                        continue;
                    }

                    slices.Add(new NetdevSlice(egress, NftScript.ParseKey(key), target));
                }
            }
            else if (item.TryGetProperty("rule", out var rule))
            {
                var chainName = rule.GetProperty("chain").GetString() ?? string.Empty;
                if (!(chainName.StartsWith("h4_", StringComparison.Ordinal) || chainName.StartsWith("h6_", StringComparison.Ordinal)))
                {
                    continue;
                }

                var host = chainName[3..];
                foreach (var expr in rule.GetProperty("expr").EnumerateArray())
                {
                    if (expr.TryGetProperty("counter", out var c) && c.ValueKind == JsonValueKind.Object && c.TryGetProperty("packets", out var p))
                    {
                        var sum = hosts.GetValueOrDefault(host);
                        hosts[host] = (sum.Packets + p.GetInt64(), sum.Bytes + c.GetProperty("bytes").GetInt64());
                    }
                    else if (expr.TryGetProperty("fwd", out var fwd) && fwd.TryGetProperty("addr", out var addr) && IPAddress.TryParse(addr.GetString(), out var hop))
                    {
                        targets.Add(new NetdevTarget(host, chainName[1] == '6' ? 6 : 4, hop, DeviceName(fwd.GetProperty("dev"))));
                    }
                }
            }
        }

        return (new NetdevState(uplinks.Order(StringComparer.Ordinal).ToList(), targets, slices, generation), new RouterCounters(hosts, unownedPackets, unownedBytes));
    }

    private static string DeviceName(JsonElement dev) => dev.ValueKind == JsonValueKind.Array ? dev[0].GetString() ?? string.Empty : dev.GetString() ?? string.Empty;

    private static string FwdRule(NetdevTarget target) =>
        $"counter fwd {(target.Family == 6 ? "ip6" : "ip")} to {target.NextHop} device \"{target.Device}\"";

    private static List<(IPAddress Egress, List<NetdevSlice> Slices)> Groups(IEnumerable<NetdevSlice> slices) =>
        slices.GroupBy(s => s.Egress)
            .OrderBy(g => g.Key.AddressFamily)
            .ThenBy(g => g.Key.ToString(), StringComparer.Ordinal)
            .Select(g => (g.Key, g.OrderBy(s => s.Range.Low).ToList()))
            .ToList();

    private static string Elements(IEnumerable<NetdevSlice> slices) => string.Join(", ", slices.Select(s => $"{Key(s.Range)} : goto {s.Chain}"));

    private static string Key(PortRange r) => NftScript.Key(r);

    private static int Family(IPAddress a) => a.AddressFamily == AddressFamily.InterNetworkV6 ? 6 : 4;
}
