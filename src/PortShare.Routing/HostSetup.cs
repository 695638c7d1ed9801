using System.Globalization;
using System.Net;
using System.Net.Sockets;
using PortShare.Connect;

namespace PortShare.Routing;

/// <summary>Reads and writes <c>/proc/sys</c> keys of one network namespace.</summary>
public interface ISysctl
{
    /// <summary>Reads a key such as <c>net/ipv4/ip_local_port_range</c>.</summary>
    string Read(string key);

    /// <summary>Writes a key.</summary>
    void Write(string key, string value);
}

/// <summary>The calling thread's network namespace.</summary>
public sealed class CurrentSysctl : ISysctl
{
    /// <summary>The shared instance.</summary>
    public static readonly CurrentSysctl Instance = new();

    /// <inheritdoc/>
    public string Read(string key) => File.ReadAllText(Path.Combine("/proc/sys", key)).Trim();

    /// <inheritdoc/>
    public void Write(string key, string value) => File.WriteAllText(Path.Combine("/proc/sys", key), value);
}

/// <summary>A named network namespace's sysctls, through <c>ip netns exec NS sysctl</c> (keys as /proc/sys paths).</summary>
public sealed class NetnsSysctl(NetTools tools) : ISysctl
{
    /// <inheritdoc/>
    public string Read(string key) => Run("-n", key).Trim();

    /// <inheritdoc/>
    public void Write(string key, string value) => Run("-q", "-w", $"{key}={value}");

    private string Run(params string[] args)
    {
        ArgumentNullException.ThrowIfNull(tools.Netns, nameof(tools));
        string[] full = ["netns", "exec", tools.Netns, "sysctl", .. args];
        var r = tools.Runner.Run("ip", full);
        return r.ExitCode == 0 ? r.StdOut : throw tools.Failed("ip", full, r);
    }
}

/// <summary>What <c>host apply</c> does beyond the addresses.</summary>
public sealed record HostOptions
{
    /// <summary>Where the host's slices are written (null: <see cref="HostSliceFile.ResolvePath"/>).</summary>
    public string? StatePath { get; init; }

    /// <summary>Also narrow the netns <c>ip_local_port_range</c> to the slice (only when every slice has the same range).</summary>
    public bool NarrowPortRange { get; init; }

    /// <summary>The nftables table that exempts the egress addresses from conntrack (and so from NAT).</summary>
    public string NftTable { get; init; } = "portshare_host";
}

/// <summary>What <c>host show</c> reports.</summary>
/// <param name="Slices">The state file's slices.</param>
/// <param name="AddressesPresent">Per egress address: is it on <c>lo</c>.</param>
/// <param name="ConntrackExempt">True when the exemption table is installed.</param>
/// <param name="PortRange">The netns <c>ip_local_port_range</c>.</param>
public sealed record HostReport(HostSliceFile Slices, IReadOnlyDictionary<IPAddress, bool> AddressesPresent, bool ConntrackExempt, string PortRange);

/// <summary>
/// Prepares a host to egress from the shared address: the address on <c>lo</c> (so it is never the primary source of
/// unaware programs), <c>arp_ignore=1</c>/<c>arp_announce=2</c>, conntrack (and so NAT) exemption, the state file the
/// library reads, and optionally a narrowed <c>ip_local_port_range</c>. Idempotent.
/// </summary>
public sealed class HostSetup
{
    private const string PortRangeKey = "net/ipv4/ip_local_port_range";
    private const string PreviousRangeField = "previousPortRange";
    private readonly NetTools _tools;
    private readonly ISysctl _sysctl;
    private readonly HostOptions _options;

    /// <summary>Creates the setup for the namespace of <paramref name="tools"/>, whose sysctls <paramref name="sysctl"/> reaches.</summary>
    public HostSetup(NetTools tools, ISysctl sysctl, HostOptions options)
    {
        ArgumentNullException.ThrowIfNull(tools);
        ArgumentNullException.ThrowIfNull(sysctl);
        ArgumentNullException.ThrowIfNull(options);
        _tools = tools;
        _sysctl = sysctl;
        _options = options;
    }

    /// <summary>The host's slices of <paramref name="slices"/> (a plan's route slices).</summary>
    /// <exception cref="InvalidPlanException">The host is not in the plan.</exception>
    public static HostSliceFile SlicesOf(IReadOnlyList<RouteSlice> slices, string host)
    {
        ArgumentNullException.ThrowIfNull(slices);
        var mine = slices.Where(s => string.Equals(s.Host, host, StringComparison.Ordinal)).Select(s => new EgressSlice(s.Egress, s.Range)).ToList();
        if (mine.Count == 0)
        {
            var known = string.Join(", ", slices.Select(s => s.Host).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal));
            throw new InvalidPlanException([$"Host '{host}' is not in the plan; its hosts are: {known}."]);
        }

        return new HostSliceFile(host, mine);
    }

    /// <summary>The commands <see cref="Apply"/> would run (for <c>--dry-run</c>).</summary>
    public IEnumerable<string> Describe(HostSliceFile slices)
    {
        ArgumentNullException.ThrowIfNull(slices);
        foreach (var e in slices.Slices.Select(s => s.Egress).Distinct())
        {
            yield return $"ip {string.Join(' ', AddressArgs("replace", e))}";
        }

        yield return "sysctl net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2";
        yield return "nft -f - <<'EOF'";
        foreach (var l in ExemptScript(slices).TrimEnd('\n').Split('\n'))
        {
            yield return l;
        }

        yield return "EOF";
        if (_options.NarrowPortRange && NarrowTo(slices) is { } r)
        {
            yield return $"sysctl net.ipv4.ip_local_port_range=\"{r.Low} {r.High}\"";
        }

        yield return $"write {HostSliceFile.ResolvePath(_options.StatePath)}";
    }

    /// <summary>Applies the host side for <paramref name="slices"/>.</summary>
    public void Apply(HostSliceFile slices)
    {
        ArgumentNullException.ThrowIfNull(slices);
        if (!RouteValidation.IsValidName(slices.Host))
        {
            throw new InvalidPlanException([$"Host name '{slices.Host}' is invalid."]);
        }

        PortRange? narrow = null;
        if (_options.NarrowPortRange)
        {
            narrow = NarrowTo(slices) ?? throw new InvalidPlanException([$"--sysctl narrows ip_local_port_range, which is one range per network namespace, but host {slices.Host} has slices {string.Join(", ", slices.Slices.Select(s => s.Range).Distinct())}. Drop --sysctl, or give the host one slice."]);
        }

        if (!_tools.HasNft())
        {
            throw new RoutingException("Host apply needs the 'nft' tool to exempt the egress address from conntrack and NAT. Run ./setup.sh as root (apt-get install nftables).");
        }

        var path = HostSliceFile.ResolvePath(_options.StatePath);
        var previous = ReadPrevious(path);
        var nft = _tools.Nft(["-f", "-"], ExemptScript(slices));
        if (nft.ExitCode != 0)
        {
            throw _tools.Failed("nft", ["-f", "-"], nft);
        }

        _tools.IpCheck("link", "set", "lo", "up");
        var keep = slices.Slices.Select(s => s.Egress).ToHashSet();
        foreach (var e in keep)
        {
            _tools.IpCheck(AddressArgs("replace", e));
        }

        foreach (var old in previous?.Slices.Select(s => s.Egress).Distinct().Where(e => !keep.Contains(e)) ?? [])
        {
            _tools.Ip(AddressArgs("del", old));
        }

        _sysctl.Write("net/ipv4/conf/all/arp_ignore", "1");
        _sysctl.Write("net/ipv4/conf/all/arp_announce", "2");

        var extra = new Dictionary<string, string>();
        var previousRange = previous is null ? null : ReadField(path, PreviousRangeField);
        if (narrow is { } range)
        {
            extra[PreviousRangeField] = previousRange ?? _sysctl.Read(PortRangeKey).Replace('\t', ' ');
            _sysctl.Write(PortRangeKey, string.Create(CultureInfo.InvariantCulture, $"{range.Low} {range.High}"));
        }
        else if (previousRange is not null)
        {
            _sysctl.Write(PortRangeKey, previousRange);
        }

        var dir = Path.GetDirectoryName(path);
        if (!string.IsNullOrEmpty(dir))
        {
            Directory.CreateDirectory(dir);
        }

        var tmp = path + ".tmp";
        File.WriteAllText(tmp, slices.ToJson(extra));
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>Undoes <see cref="Apply"/>: addresses, exemption table, port range and the state file.</summary>
    /// <returns>False when there was no state file (nothing to remove).</returns>
    public bool Remove()
    {
        var path = HostSliceFile.ResolvePath(_options.StatePath);
        var previous = ReadPrevious(path);
        if (previous is null)
        {
            return false;
        }

        foreach (var e in previous.Slices.Select(s => s.Egress).Distinct())
        {
            _tools.Ip(AddressArgs("del", e));
        }

        if (_tools.HasNft())
        {
            _tools.Nft(["-f", "-"], $"table inet {_options.NftTable}\ndelete table inet {_options.NftTable}\n");
        }

        if (ReadField(path, PreviousRangeField) is { } range)
        {
            _sysctl.Write(PortRangeKey, range);
        }

        File.Delete(path);
        return true;
    }

    /// <summary>The state file and what is actually in place.</summary>
    public HostReport Show()
    {
        var path = HostSliceFile.ResolvePath(_options.StatePath);
        var slices = HostSliceFile.Load(path);
        var addrs = _tools.IpCheck("-j", "addr", "show", "dev", "lo");
        var present = slices.Slices.Select(s => s.Egress).Distinct().ToDictionary(e => e, e => addrs.Contains($"\"{e}\"", StringComparison.Ordinal));
        var exempt = _tools.HasNft() && _tools.Nft(["list", "table", "inet", _options.NftTable]).ExitCode == 0;
        return new HostReport(slices, present, exempt, _sysctl.Read(PortRangeKey).Replace('\t', ' '));
    }

    private static PortRange? NarrowTo(HostSliceFile slices)
    {
        var ranges = slices.Slices.Select(s => s.Range).Distinct().ToList();
        return ranges.Count == 1 ? ranges[0] : null;
    }

    private static HostSliceFile? ReadPrevious(string path)
    {
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            return HostSliceFile.Load(path);
        }
        catch (PortShareException)
        {
            return null;
        }
    }

    private static string? ReadField(string path, string field)
    {
        try
        {
            using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(path));
            return doc.RootElement.TryGetProperty(field, out var v) ? v.GetString() : null;
        }
        catch (Exception ex) when (ex is IOException or System.Text.Json.JsonException)
        {
            return null;
        }
    }

    private static string[] AddressArgs(string verb, IPAddress e) => e.AddressFamily == AddressFamily.InterNetworkV6
        ? ["-6", "addr", verb, e + "/128", "dev", "lo"]
        : ["-4", "addr", verb, e + "/32", "dev", "lo"];

    private string ExemptScript(HostSliceFile slices)
    {
        var t = _options.NftTable;
        var pre = new List<string>();
        var output = new List<string>();
        foreach (var e in slices.Slices.Select(s => s.Egress).Distinct())
        {
            var f = e.AddressFamily == AddressFamily.InterNetworkV6 ? "ip6" : "ip";
            pre.Add($"\t\t{f} daddr {e} notrack");
            output.Add($"\t\t{f} saddr {e} notrack");
        }

        // No conntrack entry, so no NAT and no clash resolution that could move a source port out of the slice.
        return $"table inet {t}\ndelete table inet {t}\ntable inet {t} {{\n\tchain prerouting {{\n\t\ttype filter hook prerouting priority raw; policy accept;\n{string.Join('\n', pre)}\n\t}}\n\tchain output {{\n\t\ttype filter hook output priority raw; policy accept;\n{string.Join('\n', output)}\n\t}}\n}}\n";
    }
}
