using System.Globalization;
using System.Net;
using System.Text.Json;

namespace PortShare.Routing;

/// <summary>
/// One policy rule PortShare makes: either <c>fwmark M lookup T</c>, <c>to E ipproto P dport LO-HI lookup T</c>, or
/// <c>to E blackhole</c>. Records compare by value, which is what the diff needs.
/// </summary>
/// <param name="Family">4 or 6.</param>
/// <param name="Priority">The rule's preference.</param>
/// <param name="To">The destination address (no prefix length: always a single address), or null.</param>
/// <param name="Protocol">"tcp" or "udp", or null.</param>
/// <param name="Ports">The destination port range, or null.</param>
/// <param name="Fwmark">The mark to match (full mask), or null.</param>
/// <param name="Table">The table to look up, or null for a blackhole rule.</param>
public sealed record IpRule(int Family, int Priority, string? To, string? Protocol, PortRange? Ports, uint? Fwmark, int? Table)
{
    /// <summary>The selector and action as <c>ip rule</c> arguments, after <c>add</c> or <c>del</c>, tagged with <paramref name="protocol"/>.</summary>
    public IReadOnlyList<string> Arguments(int protocol)
    {
        var a = new List<string> { "pref", Priority.ToString(CultureInfo.InvariantCulture) };
        if (To is not null)
        {
            a.Add("to");
            a.Add(To);
        }

        if (Protocol is not null)
        {
            a.Add("ipproto");
            a.Add(Protocol);
        }

        if (Ports is { } p)
        {
            a.Add("dport");
            a.Add(string.Create(CultureInfo.InvariantCulture, $"{p.Low}-{p.High}"));
        }

        if (Fwmark is { } m)
        {
            a.Add("fwmark");
            a.Add(string.Create(CultureInfo.InvariantCulture, $"0x{m:x}"));
        }

        if (Table is { } t)
        {
            a.Add("lookup");
            a.Add(t.ToString(CultureInfo.InvariantCulture));
        }
        else
        {
            a.Add("blackhole");
        }

        a.Add("protocol");
        a.Add(protocol.ToString(CultureInfo.InvariantCulture));
        return a;
    }

    /// <summary>The <c>ip -batch</c> line that adds or deletes the rule (tagged with PortShare's <paramref name="protocol"/>).</summary>
    public string BatchLine(bool add, int protocol) => (add ? "rule add " : "rule del ") + string.Join(' ', Arguments(protocol));
}

/// <summary>A route PortShare makes in one of its tables: <c>DST via GATEWAY table T</c>.</summary>
/// <param name="Family">4 or 6.</param>
/// <param name="Table">The table.</param>
/// <param name="Destination">The egress address.</param>
/// <param name="Gateway">The host's address (the next hop).</param>
public sealed record IpRoute(int Family, int Table, string Destination, string Gateway)
{
    /// <summary>The <c>ip -batch</c> line that installs (replaces) the route, tagged with PortShare's <paramref name="protocol"/>.</summary>
    public string ReplaceLine(int protocol) => string.Create(CultureInfo.InvariantCulture, $"route replace {Destination} via {Gateway} table {Table} proto {protocol}");

    /// <summary>The <c>ip -batch</c> line that deletes the route.</summary>
    public string DeleteLine() => string.Create(CultureInfo.InvariantCulture, $"route del {Destination} table {Table}");
}

/// <summary>Reads the rules and routes PortShare owns from <c>ip -j</c> output.</summary>
public static class IpStateReader
{
    /// <summary>Every rule of <paramref name="family"/> PortShare made (its protocol, in the owned range); others in the range go to <paramref name="foreign"/>.</summary>
    public static IReadOnlyList<IpRule> ReadRules(NetTools tools, int family, RouterOptions options, ICollection<string>? foreign = null)
    {
        ArgumentNullException.ThrowIfNull(tools);
        ArgumentNullException.ThrowIfNull(options);
        var json = tools.IpCheck(family == 6 ? "-6" : "-4", "-j", "rule", "show");
        return ParseRules(json, family, options, foreign);
    }

    /// <summary>
    /// Parses <c>ip -j rule show</c>, keeping rules whose priority lies in the owned range and that carry PortShare's
    /// protocol; rules in the range that do not are someone else's, described in <paramref name="foreign"/>.
    /// </summary>
    public static IReadOnlyList<IpRule> ParseRules(string json, int family, RouterOptions options, ICollection<string>? foreign = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var result = new List<IpRule>();
        if (string.IsNullOrWhiteSpace(json))
        {
            return result;
        }

        using var doc = JsonDocument.Parse(json);
        foreach (var e in doc.RootElement.EnumerateArray())
        {
            var prio = e.TryGetProperty("priority", out var pr) ? pr.GetInt32() : 0;
            if (prio < options.PriorityBase || prio >= options.PriorityBase + options.PriorityCount)
            {
                continue;
            }

            if (!IsOurs(e, options))
            {
                foreign?.Add($"ip -{family} rule: {Describe(e)}");
                continue;
            }

            string? to = e.TryGetProperty("dst", out var d) ? Normalize(d.GetString()) : null;
            string? proto = e.TryGetProperty("ipproto", out var ip) ? ip.GetString() : null;
            PortRange? ports = null;
            if (e.TryGetProperty("dport_start", out var ds) && e.TryGetProperty("dport_end", out var de))
            {
                ports = new PortRange((ushort)ds.GetInt32(), (ushort)de.GetInt32());
            }
            else if (e.TryGetProperty("dport", out var dp))
            {
                ports = new PortRange((ushort)dp.GetInt32(), (ushort)dp.GetInt32());
            }

            uint? mark = null;
            if (e.TryGetProperty("fwmark", out var fm))
            {
                var text = fm.GetString() ?? "0";
                mark = text.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
                    ? uint.Parse(text.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture)
                    : uint.Parse(text, CultureInfo.InvariantCulture);
            }

            int? table = null;
            if (e.TryGetProperty("table", out var t) && int.TryParse(t.GetString(), NumberStyles.None, CultureInfo.InvariantCulture, out var tn))
            {
                table = tn;
            }

            result.Add(new IpRule(family, prio, to, proto, ports, mark, table));
        }

        return result;
    }

    /// <summary>Every route of <paramref name="family"/> PortShare made in the owned table range; others there go to <paramref name="foreign"/>.</summary>
    public static IReadOnlyList<IpRoute> ReadRoutes(NetTools tools, int family, RouterOptions options, ICollection<string>? foreign = null)
    {
        ArgumentNullException.ThrowIfNull(tools);
        var json = tools.IpCheck(family == 6 ? "-6" : "-4", "-j", "route", "show", "table", "all");
        return ParseRoutes(json, family, options, foreign);
    }

    /// <summary>Parses <c>ip -j route show table all</c>, keeping PortShare's routes (its protocol) in the owned table range.</summary>
    public static IReadOnlyList<IpRoute> ParseRoutes(string json, int family, RouterOptions options, ICollection<string>? foreign = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var result = new List<IpRoute>();
        if (string.IsNullOrWhiteSpace(json))
        {
            return result;
        }

        using var doc = JsonDocument.Parse(json);
        foreach (var e in doc.RootElement.EnumerateArray())
        {
            if (!e.TryGetProperty("table", out var t) || !int.TryParse(t.GetString(), NumberStyles.None, CultureInfo.InvariantCulture, out var table)
                || table < options.TableBase || table >= options.TableBase + options.TableCount)
            {
                continue;
            }

            if (!IsOurs(e, options))
            {
                foreign?.Add($"ip -{family} route: {Describe(e)}");
                continue;
            }

            var dst = e.TryGetProperty("dst", out var d) ? d.GetString() ?? string.Empty : string.Empty;
            var gw = e.TryGetProperty("gateway", out var g) ? g.GetString() ?? string.Empty : string.Empty;
            result.Add(new IpRoute(family, table, Normalize(dst) ?? dst, Normalize(gw) ?? gw));
        }

        return result;
    }

    private static bool IsOurs(JsonElement e, RouterOptions options) =>
        e.TryGetProperty("protocol", out var p) && (p.ValueKind == JsonValueKind.Number
            ? p.GetInt32() == options.Protocol
            : p.GetString() == options.Protocol.ToString(CultureInfo.InvariantCulture));

    private static string Describe(JsonElement e) =>
        string.Join(' ', e.EnumerateObject().Where(p => p.Value.ValueKind is JsonValueKind.String or JsonValueKind.Number).Select(p => $"{p.Name} {p.Value}"));

    private static string? Normalize(string? address) =>
        address is not null && IPAddress.TryParse(address, out var ip) ? ip.ToString() : address;
}
