using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace PortShare.Routing;

/// <summary>One entry of an installed or desired port map: ports of an egress address and the mark of their host.</summary>
/// <param name="Egress">The egress address.</param>
/// <param name="Range">The ports.</param>
/// <param name="Mark">The host's mark.</param>
public sealed record MarkedSlice(IPAddress Egress, PortRange Range, uint Mark);

/// <summary>
/// Generates the nftables table of the router (one atomic <c>nft -f -</c> transaction) and reads it back.
/// Per egress address: a <c>flags interval</c> map port → mark (for TCP/UDP), a twin map keyed by a raw 16-bit payload for
/// ICMP errors (steered by the embedded header's source port) and echo replies (by ICMP id), <c>notrack</c> both ways,
/// and a drop for everything else sent to the egress address (ports no slice owns).
/// </summary>
public static class NftScript
{
    private const string HashPrefix = "portshare:";

    /// <summary>The script that replaces the table with one steering <paramref name="slices"/>.</summary>
    public static string Build(IReadOnlyList<MarkedSlice> slices, RouterOptions options)
    {
        ArgumentNullException.ThrowIfNull(slices);
        ArgumentNullException.ThrowIfNull(options);
        var body = Body(slices, options);
        var sb = new StringBuilder();
        // "table …; delete table …" first: the delete never fails, and the whole file is one transaction.
        sb.Append(CultureInfo.InvariantCulture, $"table inet {options.NftTable}\n");
        sb.Append(CultureInfo.InvariantCulture, $"delete table inet {options.NftTable}\n");
        sb.Append(CultureInfo.InvariantCulture, $"table inet {options.NftTable} {{\n");
        sb.Append(CultureInfo.InvariantCulture, $"\tcomment \"{HashPrefix}{Hash(body)}\"\n");
        sb.Append(body);
        sb.Append("}\n");
        return sb.ToString();
    }

    /// <summary>The content hash the table's comment carries, so that apply can tell "nothing to change".</summary>
    public static string Hash(IReadOnlyList<MarkedSlice> slices, RouterOptions options) => Hash(Body(slices, options));

    /// <summary>The script that deletes the table (when it exists).</summary>
    public static string Delete(RouterOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return $"table inet {options.NftTable}\ndelete table inet {options.NftTable}\n";
    }

    /// <summary>The map name for an egress address: <c>e4_192_0_2_1</c> or <c>e6_</c> + 32 hex digits.</summary>
    public static string MapName(IPAddress egress)
    {
        ArgumentNullException.ThrowIfNull(egress);
        return egress.AddressFamily == AddressFamily.InterNetworkV6
            ? "e6_" + Convert.ToHexStringLower(egress.GetAddressBytes())
            : "e4_" + egress.ToString().Replace('.', '_');
    }

    /// <summary>The egress address a map name stands for, or null when it is not one of ours.</summary>
    public static IPAddress? ParseMapName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.StartsWith("e4_", StringComparison.Ordinal) && IPAddress.TryParse(name[3..].Replace('_', '.'), out var v4)
            && v4.AddressFamily == AddressFamily.InterNetwork)
        {
            return v4;
        }

        if (name.StartsWith("e6_", StringComparison.Ordinal) && name.Length == 35)
        {
            try
            {
                return new IPAddress(Convert.FromHexString(name.AsSpan(3)));
            }
            catch (FormatException)
            {
                return null;
            }
        }

        return null;
    }

    /// <summary>
    /// The match for ICMP errors about one of our TCP/UDP packets. Errors embed our packet: for IPv4 an 8-byte ICMP
    /// header, a 20-byte IPv4 header (0x45: no options, TCP/UDP), then its source port; for IPv6 an 8-byte ICMPv6
    /// header, a 40-byte IPv6 header (version 6, next header TCP/UDP), then its source port.
    /// </summary>
    internal static string IcmpErrorMatch(bool ipv6) => ipv6
        ? "icmpv6 type { destination-unreachable, packet-too-big, time-exceeded, parameter-problem } @th,64,4 6 @th,112,8 { 6, 17 }"
        : "icmp type { destination-unreachable, time-exceeded, parameter-problem } @th,64,8 0x45 @th,136,8 { 6, 17 }";

    /// <summary>The embedded source port of an ICMP error (see <see cref="IcmpErrorMatch"/>) as a raw payload key.</summary>
    internal static string IcmpPortKey(bool ipv6) => ipv6 ? "@th,384,16" : "@th,224,16";

    /// <summary>A port range as an nft set key: <c>LO-HI</c>, or one port.</summary>
    internal static string Key(PortRange r) => r.Low == r.High
        ? r.Low.ToString(CultureInfo.InvariantCulture)
        : string.Create(CultureInfo.InvariantCulture, $"{r.Low}-{r.High}");

    /// <summary>A set element key of <c>nft -j</c> output: a number, or <c>{"range": [LO, HI]}</c>.</summary>
    internal static PortRange ParseKey(JsonElement key) => key.ValueKind == JsonValueKind.Number
        ? new PortRange((ushort)key.GetInt32(), (ushort)key.GetInt32())
        : new PortRange((ushort)key.GetProperty("range")[0].GetInt32(), (ushort)key.GetProperty("range")[1].GetInt32());

    private static string Body(IReadOnlyList<MarkedSlice> slices, RouterOptions options)
    {
        var sb = new StringBuilder();
        var groups = slices.GroupBy(s => s.Egress)
            .OrderBy(g => g.Key.AddressFamily)
            .ThenBy(g => g.Key.GetAddressBytes(), ByteOrder.Instance)
            .ToList();
        foreach (var g in groups)
        {
            var name = MapName(g.Key);
            var elements = string.Join(", ", g.OrderBy(s => s.Range.Low).Select(s => string.Create(CultureInfo.InvariantCulture, $"{Key(s.Range)} : 0x{s.Mark:x8}")));
            sb.Append(CultureInfo.InvariantCulture, $"\tmap {name} {{\n\t\ttype inet_service : mark\n\t\tflags interval\n\t\telements = {{ {elements} }}\n\t}}\n");
            // ICMP lookups use raw payload keys, which nft types as plain integers: a twin map with the same elements.
            var icmpKey = IcmpPortKey(g.Key.AddressFamily == AddressFamily.InterNetworkV6);
            sb.Append(CultureInfo.InvariantCulture, $"\tmap {name}_icmp {{\n\t\ttypeof {icmpKey} : meta mark\n\t\tflags interval\n\t\telements = {{ {elements} }}\n\t}}\n");
        }

        sb.Append("\tchain prerouting {\n\t\ttype filter hook prerouting priority raw; policy accept;\n");
        foreach (var g in groups)
        {
            var name = MapName(g.Key);
            var e = g.Key.ToString();
            if (g.Key.AddressFamily == AddressFamily.InterNetworkV6)
            {
                sb.Append(CultureInfo.InvariantCulture, $"\t\tip6 saddr {e} notrack\n");
                sb.Append(CultureInfo.InvariantCulture, $"\t\tip6 saddr {e} meta l4proto {{ tcp, udp }} meta mark set th sport map @{name} accept\n");
                sb.Append(CultureInfo.InvariantCulture, $"\t\tip6 daddr {e} meta l4proto {{ tcp, udp }} notrack meta mark set th dport map @{name} accept\n");
                sb.Append(CultureInfo.InvariantCulture, $"\t\tip6 daddr {e} {IcmpErrorMatch(true)} notrack meta mark set {IcmpPortKey(true)} map @{name}_icmp accept\n");
                sb.Append(CultureInfo.InvariantCulture, $"\t\tip6 daddr {e} icmpv6 type echo-reply notrack meta mark set @th,32,16 map @{name}_icmp accept\n");
                sb.Append(CultureInfo.InvariantCulture, $"\t\tip6 daddr {e} counter drop comment \"no slice owns it\"\n");
            }
            else
            {
                sb.Append(CultureInfo.InvariantCulture, $"\t\tip saddr {e} notrack\n");
                // Outgoing packets carry their host's mark too: with net.ipv4.fwmark_reflect=1 the router's own ICMP errors
                // about them (e.g. fragmentation-needed from a smaller uplink MTU) are routed back to that host.
                sb.Append(CultureInfo.InvariantCulture, $"\t\tip saddr {e} meta l4proto {{ tcp, udp }} meta mark set th sport map @{name} accept\n");
                sb.Append(CultureInfo.InvariantCulture, $"\t\tip daddr {e} meta l4proto {{ tcp, udp }} notrack meta mark set th dport map @{name} accept\n");
                sb.Append(CultureInfo.InvariantCulture, $"\t\tip daddr {e} {IcmpErrorMatch(false)} notrack meta mark set {IcmpPortKey(false)} map @{name}_icmp accept\n");
                sb.Append(CultureInfo.InvariantCulture, $"\t\tip daddr {e} icmp type echo-reply notrack meta mark set @th,32,16 map @{name}_icmp accept\n");
                sb.Append(CultureInfo.InvariantCulture, $"\t\tip daddr {e} counter drop comment \"no slice owns it\"\n");
            }
        }

        if (options.Reassemble)
        {
            // Any ct expression registers nf_defrag for this namespace: fragments are reassembled before the raw hook,
            // so a large UDP datagram's later fragments follow the first one's port.
            sb.Append("\t\tct state untracked counter comment \"registers nf_defrag: reassemble before the port lookup\"\n");
        }

        sb.Append("\t}\n");
        return sb.ToString();
    }

    private static string Hash(string body) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(body)))[..16];

    /// <summary>The installed table: the comment's hash and the TCP/UDP map entries, or null when the table is absent.</summary>
    public static InstalledNft? ReadInstalled(NetTools tools, RouterOptions options)
    {
        ArgumentNullException.ThrowIfNull(tools);
        ArgumentNullException.ThrowIfNull(options);
        var r = tools.Nft(["-j", "list", "table", "inet", options.NftTable]);
        if (r.ExitCode != 0)
        {
            if (r.StdErr.Contains("No such file or directory", StringComparison.Ordinal))
            {
                return null;
            }

            throw tools.Failed("nft", ["-j", "list", "table", "inet", options.NftTable], r);
        }

        // nft 1.0.6 leaves table comments out of its JSON: read the hash from the text listing.
        var text = tools.Nft(["list", "table", "inet", options.NftTable]);
        var installed = ParseInstalled(r.StdOut);
        return installed.Hash.Length > 0 ? installed : installed with { Hash = HashFromText(text.StdOut) };
    }

    /// <summary>The hash in the table comment of an <c>nft list table</c> text listing, or empty.</summary>
    public static string HashFromText(string listing)
    {
        ArgumentNullException.ThrowIfNull(listing);
        var at = listing.IndexOf("comment \"" + HashPrefix, StringComparison.Ordinal);
        if (at < 0)
        {
            return string.Empty;
        }

        var start = at + "comment \"".Length + HashPrefix.Length;
        var end = listing.IndexOf('"', start);
        return end < 0 ? string.Empty : listing[start..end];
    }

    /// <summary>Parses <c>nft -j list table</c> output.</summary>
    public static InstalledNft ParseInstalled(string json)
    {
        var hash = string.Empty;
        var reassemble = false;
        var slices = new List<MarkedSlice>();
        using var doc = JsonDocument.Parse(json);
        foreach (var item in doc.RootElement.GetProperty("nftables").EnumerateArray())
        {
            if (item.TryGetProperty("table", out var table) && table.TryGetProperty("comment", out var c))
            {
                var text = c.GetString() ?? string.Empty;
                hash = text.StartsWith(HashPrefix, StringComparison.Ordinal) ? text[HashPrefix.Length..] : text;
            }
            else if (item.TryGetProperty("map", out var map))
            {
                var name = map.GetProperty("name").GetString() ?? string.Empty;
                if (name.EndsWith("_icmp", StringComparison.Ordinal) || ParseMapName(name) is not { } egress || !map.TryGetProperty("elem", out var elems))
                {
                    continue;
                }

                foreach (var elem in elems.EnumerateArray())
                {
                    var key = elem[0];
                    var mark = elem[1].GetUInt32();
                    slices.Add(new MarkedSlice(egress, ParseKey(key), mark));
                }
            }
            else if (item.TryGetProperty("rule", out var rule) && rule.GetRawText().Contains("\"ct\"", StringComparison.Ordinal))
            {
                reassemble = true;
            }
        }

        return new InstalledNft(hash, slices, reassemble);
    }

    private sealed class ByteOrder : IComparer<byte[]>
    {
        public static readonly ByteOrder Instance = new();

        public int Compare(byte[]? x, byte[]? y)
        {
            ArgumentNullException.ThrowIfNull(x);
            ArgumentNullException.ThrowIfNull(y);
            return x.AsSpan().SequenceCompareTo(y);
        }
    }
}

/// <summary>The router's installed nftables table as PortShare reads it back.</summary>
/// <param name="Hash">The content hash from the table's comment.</param>
/// <param name="Slices">The TCP/UDP map entries.</param>
/// <param name="Reassemble">True when the table enables reassembly.</param>
public sealed record InstalledNft(string Hash, IReadOnlyList<MarkedSlice> Slices, bool Reassemble);
