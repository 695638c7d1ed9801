using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using PortShare.Connect;
using PortShare.Routing;

namespace PortShare.Cli.Doctor;

/// <summary>
/// The facts of a real network namespace (the current one, or a named one entered on a dedicated thread): sysctls and
/// sockets through the kernel, addresses, neighbours and rulesets through <c>ip</c>, <c>nft</c> and <c>conntrack</c>.
/// </summary>
internal sealed class SystemDoctorFacts : IHostDoctorFacts, IRouterDoctorFacts, IDisposable
{
    private readonly NetworkNamespace? _ns;
    private readonly NetTools _tools;
    private readonly Lazy<IReadOnlyList<InterfaceAddress>> _addresses;
    private readonly Lazy<string?> _ruleset;
    private readonly Lazy<RouterState> _state;

    public SystemDoctorFacts(string? netns, RouterOptions? routerOptions = null)
    {
        _ns = netns is null ? null : NetworkNamespace.Enter(netns);
        _tools = new NetTools(netns);
        Options = routerOptions ?? new RouterOptions();
        _addresses = new(() => ParseAddresses(_tools.IpCheck("-j", "addr", "show")));
        _ruleset = new(() =>
        {
            if (!_tools.HasNft())
            {
                return null;
            }

            var r = _tools.Nft(["list", "ruleset"]);
            return r.ExitCode == 0 ? r.StdOut : null;
        });
        _state = new(() => new Router(_tools, Options).ReadState());
    }

    public string KernelRelease => HostFacts.KernelRelease();

    public bool SupportsLocalPortRange => HostFacts.SupportsLocalPortRange();

    public PortRange NetnsRange => Run(HostFacts.ReadNetnsRange);

    public IReadOnlyList<PortRange> ReservedPorts => Run(HostFacts.ReadReservedPorts);

    public IReadOnlyList<InterfaceAddress> Addresses => _addresses.Value;

    public string? NftRuleset => _ruleset.Value;

    public IReadOnlyList<long> Groups => ReadGroups();

    public RouterOptions Options { get; }

    public RouterState State => _state.Value;

    public IReadOnlyList<NeighbourEntry> Neighbours => ParseNeighbours(_tools.IpCheck("-j", "neigh", "show"));

    public IPAddress? SourceToward(IPAddress destination) => Run(() =>
    {
        // connect() on a UDP socket only runs the route lookup and fixes the source: no packet is sent.
        try
        {
            using var s = new Socket(destination.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            s.Connect(new IPEndPoint(destination, 9));
            return ((IPEndPoint)s.LocalEndPoint!).Address;
        }
        catch (SocketException)
        {
            return null;
        }
    });

    public string? Sysctl(string key) => Run(() =>
    {
        try
        {
            return File.ReadAllText(Path.Combine("/proc/sys", key)).Trim();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    });

    public PlanComparison Compare(IReadOnlyList<RouteSlice> routes)
    {
        var state = State;
        var backend = state.Netdev is not null ? RouterBackend.Netdev
            : state.Nft is not null ? RouterBackend.Nftables
            : state.Rules.Any(r => r.Ports is not null) ? RouterBackend.IpRule
            : RouterBackend.Netdev;
        // Compared as installed: the netdev backend's uplinks are the ones it was applied with, unless given.
        var uplinks = Options.Uplinks.Count == 0 && state.Netdev is { } nd ? nd.Uplinks : Options.Uplinks;
        var router = new Router(_tools, Options with { Backend = backend, Reassemble = state.Nft?.Reassemble ?? false, Uplinks = uplinks });
        var change = router.Plan(routes);
        var lines = change.Add.OrderBy(kv => kv.Key).SelectMany(kv => kv.Value.Select(l => $"ip -{kv.Key} {l}")).ToList();
        // The netdev script also carries the plan's generation; what forwards is the same when the digests agree.
        var sameNetdev = backend == RouterBackend.Netdev && change.NetdevDigest is { } wanted && wanted == state.Netdev?.Digest();
        if (change.Nft is not null && !sameNetdev)
        {
            lines.Add(backend == RouterBackend.Netdev ? "nft -f - (update the netdev table)" : $"nft -f - (replace table inet {Options.NftTable})");
        }

        lines.AddRange(change.Delete.OrderBy(kv => kv.Key).SelectMany(kv => kv.Value.Select(l => $"ip -{kv.Key} {l}")));
        return new PlanComparison(backend, lines, backend == RouterBackend.Netdev ? state.Digest() : state.Nft?.Hash);
    }

    public long? ConntrackEntries(IPAddress address)
    {
        long total = 0;
        var family = address.AddressFamily == AddressFamily.InterNetworkV6 ? "ipv6" : "ipv4";
        foreach (var direction in (string[])["-s", "-d"])
        {
            string[] args = ["-L", "-f", family, direction, address.ToString()];
            ToolResult r;
            try
            {
                r = _tools.Netns is null ? _tools.Runner.Run("conntrack", args) : _tools.Runner.Run("ip", ["netns", "exec", _tools.Netns, "conntrack", .. args]);
            }
            catch (RoutingException)
            {
                return null;
            }

            if (r.ExitCode != 0)
            {
                // Without nf_conntrack loaded in this namespace there is nothing to list.
                if (r.StdErr.Contains("No such file or directory", StringComparison.Ordinal) && r.StdErr.Contains("exec", StringComparison.Ordinal))
                {
                    return null;
                }

                continue;
            }

            total += r.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;
        }

        return total;
    }

    public void Dispose() => _ns?.Dispose();

    /// <summary>Parses <c>ip -j addr show</c>.</summary>
    internal static IReadOnlyList<InterfaceAddress> ParseAddresses(string json)
    {
        var result = new List<InterfaceAddress>();
        using var doc = JsonDocument.Parse(string.IsNullOrWhiteSpace(json) ? "[]" : json);
        foreach (var link in doc.RootElement.EnumerateArray())
        {
            var dev = link.TryGetProperty("ifname", out var n) ? n.GetString() ?? string.Empty : string.Empty;
            if (!link.TryGetProperty("addr_info", out var infos))
            {
                continue;
            }

            foreach (var info in infos.EnumerateArray())
            {
                if (info.TryGetProperty("local", out var local) && IPAddress.TryParse(local.GetString(), out var a)
                    && info.TryGetProperty("prefixlen", out var p))
                {
                    result.Add(new InterfaceAddress(dev, a, p.GetInt32()));
                }
            }
        }

        return result;
    }

    /// <summary>Parses <c>ip -j neigh show</c>.</summary>
    internal static IReadOnlyList<NeighbourEntry> ParseNeighbours(string json)
    {
        var result = new List<NeighbourEntry>();
        using var doc = JsonDocument.Parse(string.IsNullOrWhiteSpace(json) ? "[]" : json);
        foreach (var e in doc.RootElement.EnumerateArray())
        {
            if (!e.TryGetProperty("dst", out var dst) || !IPAddress.TryParse(dst.GetString(), out var a))
            {
                continue;
            }

            var states = e.TryGetProperty("state", out var s) && s.ValueKind == JsonValueKind.Array
                ? s.EnumerateArray().Select(x => x.GetString() ?? string.Empty).ToList()
                : [];
            result.Add(new NeighbourEntry(a, e.TryGetProperty("dev", out var d) ? d.GetString() ?? string.Empty : string.Empty, states));
        }

        return result;
    }

    private static List<long> ReadGroups()
    {
        var groups = new List<long>();
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("Gid:", StringComparison.Ordinal) || line.StartsWith("Groups:", StringComparison.Ordinal))
            {
                groups.AddRange(line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..]
                    .Split((char[])['\t', ' '], StringSplitOptions.RemoveEmptyEntries)
                    .Select(x => long.Parse(x, CultureInfo.InvariantCulture)));
            }
        }

        return groups.Distinct().ToList();
    }

    private T Run<T>(Func<T> func) => _ns is null ? func() : _ns.Run(func);
}
