using System.Globalization;
using System.Net;
using System.Text.Json;

namespace PortShare.Routing;

/// <summary>
/// The router's devices as the netdev backend needs them: which link each next hop is on (the connected route that
/// holds it, longest prefix first) and which devices replies arrive on (the uplinks: given, or those of the default
/// routes). Read with one <c>ip -j</c> call per question, whatever the number of hosts.
/// </summary>
public sealed class RouterLinks
{
    private readonly List<(IPAddress Network, int Prefix, string Device)> _connected;
    private readonly HashSet<string> _devices;
    private readonly List<string> _defaultDevices;
    private readonly string _where;

    private RouterLinks(List<(IPAddress, int, string)> connected, HashSet<string> devices, List<string> defaultDevices, string where)
    {
        _connected = connected;
        _devices = devices;
        _defaultDevices = defaultDevices;
        _where = where;
    }

    /// <summary>Reads the links, connected routes and default routes of the namespace of <paramref name="tools"/>.</summary>
    public static RouterLinks Read(NetTools tools)
    {
        ArgumentNullException.ThrowIfNull(tools);
        var devices = new HashSet<string>(StringComparer.Ordinal);
        using (var links = JsonDocument.Parse(Or(tools.IpCheck("-j", "link", "show"))))
        {
            foreach (var l in links.RootElement.EnumerateArray())
            {
                devices.Add(l.GetProperty("ifname").GetString() ?? string.Empty);
            }
        }

        var connected = new List<(IPAddress, int, string)>();
        var defaults = new List<string>();
        foreach (var family in (string[])["-4", "-6"])
        {
            using var routes = JsonDocument.Parse(Or(tools.IpCheck(family, "-j", "route", "show", "table", "main")));
            foreach (var r in routes.RootElement.EnumerateArray())
            {
                var dst = r.TryGetProperty("dst", out var d) ? d.GetString() ?? string.Empty : string.Empty;
                if (dst == "default")
                {
                    if (r.TryGetProperty("dev", out var dev))
                    {
                        defaults.Add(dev.GetString() ?? string.Empty);
                    }

                    if (r.TryGetProperty("nexthops", out var hops))
                    {
                        defaults.AddRange(hops.EnumerateArray().Where(h => h.TryGetProperty("dev", out _)).Select(h => h.GetProperty("dev").GetString() ?? string.Empty));
                    }
                }
                else if (!r.TryGetProperty("gateway", out _) && r.TryGetProperty("dev", out var dev) && ParsePrefix(dst) is { } p)
                {
                    connected.Add((p.Network, p.Prefix, dev.GetString() ?? string.Empty));
                }
            }
        }

        connected.Sort((a, b) => b.Item2.CompareTo(a.Item2));
        return new RouterLinks(connected, devices, defaults.Distinct(StringComparer.Ordinal).ToList(), tools.Netns is null ? string.Empty : $" in network namespace {tools.Netns}");
    }

    /// <summary>The device whose connected network holds <paramref name="nextHop"/>, or null.</summary>
    public string? DeviceOf(IPAddress nextHop)
    {
        ArgumentNullException.ThrowIfNull(nextHop);
        foreach (var (network, prefix, device) in _connected)
        {
            if (network.AddressFamily == nextHop.AddressFamily && Contains(network, prefix, nextHop))
            {
                return device;
            }
        }

        return null;
    }

    /// <summary>
    /// The uplinks: <paramref name="given"/> when not empty (each must exist), else the devices of the default routes.
    /// Throws <see cref="InvalidPlanException"/> naming the unknown device, or saying how to give one.
    /// </summary>
    public IReadOnlyList<string> Uplinks(IReadOnlyList<string> given)
    {
        ArgumentNullException.ThrowIfNull(given);
        if (given.Count > 0)
        {
            var unknown = given.Where(g => !_devices.Contains(g)).ToList();
            if (unknown.Count > 0)
            {
                throw new InvalidPlanException(unknown.Select(u => $"--uplink '{u}': no such device{_where} (devices: {string.Join(", ", _devices.Order(StringComparer.Ordinal))}).").ToList());
            }

            return given.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        }

        if (_defaultDevices.Count == 0)
        {
            throw new InvalidPlanException($"The netdev backend needs the device(s) replies arrive on: pass --uplink DEV (there is no default route{_where} to derive it from).");
        }

        return _defaultDevices.Order(StringComparer.Ordinal).ToList();
    }

    private static string Or(string json) => string.IsNullOrWhiteSpace(json) ? "[]" : json;

    private static (IPAddress Network, int Prefix)? ParsePrefix(string text)
    {
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        var addr = slash < 0 ? text : text[..slash];
        if (!IPAddress.TryParse(addr, out var ip))
        {
            return null;
        }

        var max = ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? 128 : 32;
        if (slash < 0)
        {
            return (ip, max);
        }

        return int.TryParse(text.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var p) && p <= max ? (ip, p) : null;
    }

    private static bool Contains(IPAddress network, int prefix, IPAddress address)
    {
        var n = network.GetAddressBytes();
        var a = address.GetAddressBytes();
        for (var bit = 0; bit < prefix; bit++)
        {
            var mask = 0x80 >> (bit % 8);
            if ((n[bit / 8] & mask) != (a[bit / 8] & mask))
            {
                return false;
            }
        }

        return true;
    }
}
