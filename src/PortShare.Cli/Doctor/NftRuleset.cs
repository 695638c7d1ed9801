using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace PortShare.Cli.Doctor;

/// <summary>One rule of an <c>nft list ruleset</c> listing, with the chain it sits in.</summary>
/// <param name="Family">The table's family: ip, ip6, inet, …</param>
/// <param name="Table">The table's name.</param>
/// <param name="Chain">The chain's name.</param>
/// <param name="Type">The base chain's type (filter, nat, route), or null for a regular chain.</param>
/// <param name="Hook">The base chain's hook (prerouting, output, …), or null.</param>
/// <param name="Priority">The base chain's numeric priority (named priorities resolved), or null.</param>
/// <param name="Text">The rule as listed.</param>
internal sealed record NftRule(string Family, string Table, string Chain, string? Type, string? Hook, int? Priority, string Text)
{
    /// <summary>Where it is, for a message: <c>table ip nat chain POSTROUTING</c>.</summary>
    public string Where => $"table {Family} {Table} chain {Chain}";
}

/// <summary>
/// Reads the rules of an <c>nft list ruleset</c> text listing (nftables and iptables-nft alike) and answers the two
/// questions doctor asks of it: is an address exempt from conntrack, and which NAT rules could touch it.
/// A text listing rather than JSON: iptables-nft's compat expressions (<c>xt target "MASQUERADE"</c>) keep their names there.
/// </summary>
internal static class NftRuleset
{
    private static readonly string[] s_natVerbs = ["masquerade", "snat ", "dnat ", "redirect", "xt target \"MASQUERADE\"", "xt target \"SNAT\"", "xt target \"DNAT\"", "xt target \"REDIRECT\""];

    /// <summary>Conntrack's own hook priority: a notrack rule must run before it.</summary>
    private const int ConntrackPriority = -200;

    /// <summary>Every rule of the listing.</summary>
    public static IReadOnlyList<NftRule> Parse(string listing)
    {
        ArgumentNullException.ThrowIfNull(listing);
        var rules = new List<NftRule>();
        // A stack of open blocks: "table", "chain" or "other" (sets, maps, multi-line element lists).
        var stack = new Stack<string>();
        string family = string.Empty, table = string.Empty, chain = string.Empty;
        string? type = null, hook = null;
        int? priority = null;
        foreach (var raw in listing.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            var net = line.Count(c => c == '{') - line.Count(c => c == '}');
            if (net > 0)
            {
                var words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (stack.Count == 0 && words is ["table", var f, var t, ..])
                {
                    (family, table) = (f, t);
                    stack.Push("table");
                }
                else if (stack.Count == 1 && words is ["chain", var c, ..])
                {
                    (chain, type, hook, priority) = (c, null, null, null);
                    stack.Push("chain");
                }
                else
                {
                    for (var i = 0; i < net; i++)
                    {
                        stack.Push("other");
                    }
                }

                continue;
            }

            if (net < 0)
            {
                for (var i = 0; i < -net && stack.Count > 0; i++)
                {
                    stack.Pop();
                }

                continue;
            }

            if (stack.Count == 0 || stack.Peek() != "chain")
            {
                continue;
            }

            if (line.StartsWith("type ", StringComparison.Ordinal))
            {
                (type, hook, priority) = ParseChainType(line);
                continue;
            }

            if (line.StartsWith("policy ", StringComparison.Ordinal) || line.StartsWith("comment ", StringComparison.Ordinal))
            {
                continue;
            }

            rules.Add(new NftRule(family, table, chain, type, hook, priority, line));
        }

        return rules;
    }

    /// <summary>
    /// The rule that exempts <paramref name="address"/> from conntrack in one direction: on <c>prerouting</c> for packets
    /// to it (<paramref name="incoming"/>), on <c>output</c> for packets from it; null when there is none. Only a rule
    /// that runs before conntrack (priority below -200, e.g. <c>raw</c>) counts.
    /// </summary>
    public static NftRule? Notrack(IReadOnlyList<NftRule> rules, IPAddress address, bool incoming)
    {
        ArgumentNullException.ThrowIfNull(rules);
        ArgumentNullException.ThrowIfNull(address);
        var hookName = incoming ? "prerouting" : "output";
        var field = incoming ? "daddr" : "saddr";
        return rules.FirstOrDefault(r => r.Hook == hookName && r.Priority < ConntrackPriority && AppliesToFamily(r.Family, address)
            && (r.Text.Contains("notrack", StringComparison.Ordinal) || r.Text.Contains("xt target \"CT\"", StringComparison.Ordinal) || r.Text.Contains("xt target \"NOTRACK\"", StringComparison.Ordinal))
            && !NamesOtherFamily(r.Text, address)
            && Matches(r.Text, field, address) is not false);
    }

    /// <summary>NAT rules that could rewrite packets of <paramref name="address"/>: naming it (or a prefix holding it), or
    /// naming no address of its family at all (then they apply to every address).</summary>
    public static IReadOnlyList<(NftRule Rule, bool Explicit)> NatTouching(IReadOnlyList<NftRule> rules, IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(rules);
        ArgumentNullException.ThrowIfNull(address);
        var result = new List<(NftRule, bool)>();
        foreach (var r in rules.Where(r => AppliesToFamily(r.Family, address) && !NamesOtherFamily(r.Text, address) && s_natVerbs.Any(v => r.Text.Contains(v, StringComparison.Ordinal))))
        {
            var addresses = AddressTokens(r.Text).ToList();
            if (addresses.Any(a => !a.Negated && Covers((a.Address, a.Prefix), address)))
            {
                result.Add((r, true));
            }
            else if (!addresses.Any(a => a.Address.AddressFamily == address.AddressFamily))
            {
                result.Add((r, false));
            }
        }

        return result;
    }

    /// <summary>True when <paramref name="rule"/> drops everything sent to <paramref name="address"/> (no port match).</summary>
    public static bool IsDropTo(NftRule rule, IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(rule);
        var words = rule.Text.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return words.Contains("drop") && !words.Contains("dport") && Matches(rule.Text, "daddr", address) == true;
    }

    /// <summary>Does the rule's <paramref name="field"/> match cover <paramref name="address"/>? Null when the rule does not match on it.</summary>
    internal static bool? Matches(string text, string field, IPAddress address)
    {
        var words = text.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var proto = address.AddressFamily == AddressFamily.InterNetworkV6 ? "ip6" : "ip";
        bool? result = null;
        for (var i = 0; i + 1 < words.Length; i++)
        {
            if (words[i] != proto || words[i + 1] != field)
            {
                continue;
            }

            var j = i + 2;
            if (j < words.Length && words[j] == "!=")
            {
                // A negated match may or may not cover the address; doctor does not count it as covering.
                return false;
            }

            var values = new List<string>();
            if (j < words.Length && words[j] == "{")
            {
                for (j++; j < words.Length && words[j] != "}"; j++)
                {
                    values.Add(words[j].TrimEnd(','));
                }
            }
            else if (j < words.Length)
            {
                values.Add(words[j]);
            }

            result = values.Select(ParsePrefix).Any(p => p is { } prefix && Covers(prefix, address));
            if (result == true)
            {
                return true;
            }
        }

        return result;
    }

    /// <summary>Every address or prefix the rule names, and whether it follows a <c>!=</c>.</summary>
    private static IEnumerable<(IPAddress Address, int Prefix, bool Negated)> AddressTokens(string text)
    {
        var negated = false;
        foreach (var word in text.Split((char[])[' ', ','], StringSplitOptions.RemoveEmptyEntries))
        {
            if (word == "!=")
            {
                negated = true;
            }
            else if (ParsePrefix(word.Trim('{', '}')) is { } p)
            {
                yield return (p.Address, p.Prefix, negated);
            }
            else if (word is not ("{" or "}"))
            {
                negated = false;
            }
        }
    }

    /// <summary>True when the rule only matches the other address family (<c>ip6 saddr …</c> for an IPv4 address).</summary>
    private static bool NamesOtherFamily(string text, IPAddress address)
    {
        var words = text.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var other = address.AddressFamily == AddressFamily.InterNetworkV6 ? "ip" : "ip6";
        var otherProto = address.AddressFamily == AddressFamily.InterNetworkV6 ? "ipv4" : "ipv6";
        for (var i = 0; i + 1 < words.Length; i++)
        {
            if ((words[i] == other && words[i + 1] is "saddr" or "daddr" or "protocol" or "nexthdr") || (words[i] == "nfproto" && words[i + 1] == otherProto))
            {
                return true;
            }
        }

        return false;
    }

    private static (IPAddress Address, int Prefix)? ParsePrefix(string token)
    {
        var slash = token.IndexOf('/', StringComparison.Ordinal);
        var addressText = slash < 0 ? token : token[..slash];
        // Plain numbers ("100", "0x50530001") are not addresses even where IPAddress.TryParse would take them.
        if (!(addressText.Contains('.', StringComparison.Ordinal) || addressText.Contains(':', StringComparison.Ordinal)) || !IPAddress.TryParse(addressText, out var a))
        {
            return null;
        }

        var max = a.AddressFamily == AddressFamily.InterNetworkV6 ? 128 : 32;
        if (slash < 0)
        {
            return (a, max);
        }

        return int.TryParse(token.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var p) && p <= max ? (a, p) : null;
    }

    /// <summary>True when the prefix <paramref name="net"/> holds <paramref name="address"/>.</summary>
    internal static bool Covers((IPAddress Address, int Prefix) net, IPAddress address)
    {
        if (net.Address.AddressFamily != address.AddressFamily)
        {
            return false;
        }

        var a = net.Address.GetAddressBytes();
        var b = address.GetAddressBytes();
        var bits = net.Prefix;
        for (var i = 0; i < a.Length && bits > 0; i++, bits -= 8)
        {
            var mask = bits >= 8 ? 0xFF : (0xFF << (8 - bits)) & 0xFF;
            if ((a[i] & mask) != (b[i] & mask))
            {
                return false;
            }
        }

        return true;
    }

    private static bool AppliesToFamily(string family, IPAddress address) => family switch
    {
        "ip" => address.AddressFamily == AddressFamily.InterNetwork,
        "ip6" => address.AddressFamily == AddressFamily.InterNetworkV6,
        "inet" => true,
        _ => false,
    };

    private static (string? Type, string? Hook, int? Priority) ParseChainType(string line)
    {
        // "type filter hook prerouting priority raw; policy accept;" or "… priority -300;" or "… priority raw - 10;"
        var body = line.Split(';')[0];
        var words = body.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        string? type = null, hook = null;
        int? priority = null;
        for (var i = 0; i + 1 < words.Length; i++)
        {
            switch (words[i])
            {
                case "type":
                    type = words[i + 1];
                    break;
                case "hook":
                    hook = words[i + 1];
                    break;
                case "priority":
                    priority = ParsePriority(words[(i + 1)..]);
                    break;
            }
        }

        return (type, hook, priority);
    }

    private static int? ParsePriority(string[] words)
    {
        int? basis = words[0] switch
        {
            "raw" => -300,
            "mangle" => -150,
            "dstnat" => -100,
            "filter" => 0,
            "security" => 50,
            "srcnat" => 100,
            _ => int.TryParse(words[0], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n) ? n : null,
        };
        if (basis is { } b && words.Length >= 3 && int.TryParse(words[2], NumberStyles.None, CultureInfo.InvariantCulture, out var offset))
        {
            return words[1] == "-" ? b - offset : b + offset;
        }

        return basis;
    }
}
