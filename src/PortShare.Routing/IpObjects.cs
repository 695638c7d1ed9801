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
    /// <summary>The selector and action as <c>ip rule</c> arguments, after <c>add</c> or <c>del</c>.</summary>
    public IReadOnlyList<string> Arguments()
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

        return a;
    }

    /// <summary>The <c>ip -batch</c> line that adds or deletes the rule.</summary>
    public string BatchLine(bool add) => (add ? "rule add " : "rule del ") + string.Join(' ', Arguments());
}

/// <summary>A route PortShare makes in one of its tables: <c>DST via GATEWAY table T</c>.</summary>
/// <param name="Family">4 or 6.</param>
/// <param name="Table">The table.</param>
/// <param name="Destination">The egress address.</param>
/// <param name="Gateway">The host's address (the next hop).</param>
public sealed record IpRoute(int Family, int Table, string Destination, string Gateway)
{
    /// <summary>The <c>ip -batch</c> line that installs (replaces) the route.</summary>
    public string ReplaceLine() => string.Create(CultureInfo.InvariantCulture, $"route replace {Destination} via {Gateway} table {Table}");

    /// <summary>The <c>ip -batch</c> line that deletes the route.</summary>
    public string DeleteLine() => string.Create(CultureInfo.InvariantCulture, $"route del {Destination} table {Table}");
}

/// <summary>Reads the rules and routes PortShare owns from <c>ip -j</c> output.</summary>
public static class IpStateReader
{
    /// <summary>Every rule of <paramref name="family"/> whose priority lies in the owned range.</summary>
    public static IReadOnlyList<IpRule> ReadRules(NetTools tools, int family, RouterOptions options)
    {
        ArgumentNullException.ThrowIfNull(tools);
        ArgumentNullException.ThrowIfNull(options);
        var json = tools.IpCheck(family == 6 ? "-6" : "-4", "-j", "rule", "show");
        return ParseRules(json, family, options);
    }

    /// <summary>Parses <c>ip -j rule show</c>, keeping rules whose priority lies in the owned range.</summary>
    public static IReadOnlyList<IpRule> ParseRules(string json, int family, RouterOptions options)
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

    /// <summary>Every route of <paramref name="family"/> in the owned table range.</summary>
    public static IReadOnlyList<IpRoute> ReadRoutes(NetTools tools, int family, RouterOptions options)
    {
        ArgumentNullException.ThrowIfNull(tools);
        var json = tools.IpCheck(family == 6 ? "-6" : "-4", "-j", "route", "show", "table", "all");
        return ParseRoutes(json, family, options);
    }

    /// <summary>Parses <c>ip -j route show table all</c>, keeping routes in the owned table range.</summary>
    public static IReadOnlyList<IpRoute> ParseRoutes(string json, int family, RouterOptions options)
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

            var dst = e.TryGetProperty("dst", out var d) ? d.GetString() ?? string.Empty : string.Empty;
            var gw = e.TryGetProperty("gateway", out var g) ? g.GetString() ?? string.Empty : string.Empty;
            result.Add(new IpRoute(family, table, Normalize(dst) ?? dst, Normalize(gw) ?? gw));
        }

        return result;
    }

    private static string? Normalize(string? address) =>
        address is not null && IPAddress.TryParse(address, out var ip) ? ip.ToString() : address;
}
