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

    /// <summary>
    /// Also narrow the netns <c>ip_local_port_range</c> to the host's ports, so unaware programs stay inside them: the
    /// range becomes the slice's span and the gaps between its ranges go into <c>ip_local_reserved_ports</c>. The
    /// sysctls are per namespace, so every egress address must have the same slice.
    /// </summary>
    public bool NarrowPortRange { get; init; }

    /// <summary>The nftables table that exempts the egress addresses from conntrack (and so from NAT).</summary>
    public string NftTable { get; init; } = "portshare_host";
}

/// <summary>What <c>host show</c> reports.</summary>
/// <param name="Slices">The host file's slices.</param>
/// <param name="AddressesPresent">Per egress address: is it on <c>lo</c>.</param>
/// <param name="ConntrackExempt">True when the exemption table is installed.</param>
/// <param name="PortRange">The netns <c>ip_local_port_range</c>.</param>
public sealed record HostReport(HostSliceFile Slices, IReadOnlyDictionary<IPAddress, bool> AddressesPresent, bool ConntrackExempt, string PortRange);

/// <summary>What <c>host remove</c> undid.</summary>
/// <param name="HadHostFile">False when there was no host file: only what can be recognised as PortShare's (its nftables table) was removed.</param>
/// <param name="Undone">One line per change undone.</param>
public sealed record HostRemoval(bool HadHostFile, IReadOnlyList<string> Undone);

/// <summary>
/// Prepares a host to egress from the shared address: the address on <c>lo</c> (so it is never the primary source of
/// unaware programs), <c>arp_ignore=1</c>/<c>arp_announce=2</c>, conntrack (and so NAT) exemption, the host file the
/// library reads, and optionally a narrowed <c>ip_local_port_range</c> with the slice's gaps reserved. Idempotent and
/// transactional: every input is checked before anything changes, a failure rolls back what was done, and the host file
/// records what was changed (with the values before) so that <see cref="Remove"/> undoes exactly that.
/// </summary>
public sealed class HostSetup
{
    private const string PortRangeKey = "net/ipv4/ip_local_port_range";
    private const string ReservedPortsKey = "net/ipv4/ip_local_reserved_ports";
    private const string ArpIgnoreKey = "net/ipv4/conf/all/arp_ignore";
    private const string ArpAnnounceKey = "net/ipv4/conf/all/arp_announce";
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

    /// <summary>The commands <see cref="Apply"/> would run (for <c>--dry-run</c>).</summary>
    public IEnumerable<string> Describe(HostSliceFile slices)
    {
        ArgumentNullException.ThrowIfNull(slices);
        var narrow = CheckInputs(slices);
        foreach (var e in slices.EgressAddresses)
        {
            yield return $"ip {string.Join(' ', AddressArgs("replace", e))}";
        }

        yield return "sysctl net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2";
        yield return "nft -f - <<'EOF'";
        foreach (var l in ExemptScript(EgressOf(slices)).TrimEnd('\n').Split('\n'))
        {
            yield return l;
        }

        yield return "EOF";
        if (narrow is { } n)
        {
            yield return $"sysctl net.ipv4.ip_local_port_range=\"{n.Span.Low} {n.Span.High}\"";
            if (n.Gaps().Count > 0)
            {
                yield return $"sysctl net.ipv4.ip_local_reserved_ports=\"(current),{string.Join(',', n.Gaps())}\"";
            }
        }

        yield return $"write {HostSliceFile.ResolvePath(_options.StatePath)}";
    }

    /// <summary>
    /// Applies the host side for <paramref name="slices"/> and writes the host file. Either everything is applied or,
    /// on any failure, what was changed is put back and the exception propagates.
    /// </summary>
    /// <returns>Warnings about the host that do not stop the apply (e.g. a slice outside <c>ip_local_port_range</c>).</returns>
    /// <exception cref="RoutingException">An input is unusable (bad host name, narrowing with differing slices), a tool is
    /// missing or failed, or the host file cannot be written.</exception>
    public IReadOnlyList<string> Apply(HostSliceFile slices)
    {
        ArgumentNullException.ThrowIfNull(slices);
        // Ports in quarantine keep their egress address set up: the old owner's open connections on them need it, and the
        // new owner needs nothing more than a new host file when they are handed over.
        return ApplyCore(slices, [.. slices.EgressAddresses], CheckInputs(slices));
    }

    /// <summary>
    /// The fleet agent's apply: the system side (addresses on <c>lo</c>, ARP settings, conntrack exemption) for every
    /// egress address in <paramref name="egress"/> (the addresses the host holds units on, draining ones included, so
    /// their live connections keep their address), and <paramref name="serving"/> (possibly no slice at all) as the host
    /// file, so applications open new connections only from the ports being served. Transactional like <see cref="Apply"/>.
    /// </summary>
    /// <exception cref="RoutingException">An input is unusable, a tool is missing or failed, or the host file cannot be written.</exception>
    public IReadOnlyList<string> Serve(HostSliceFile serving, IReadOnlyCollection<IPAddress> egress)
    {
        ArgumentNullException.ThrowIfNull(serving);
        ArgumentNullException.ThrowIfNull(egress);
        if (!RouteValidation.IsValidName(serving.Host))
        {
            throw new RoutingException($"Host name '{serving.Host}' is invalid: use letters, digits, '.', '_' or '-'.");
        }

        if (serving.Slices.FirstOrDefault(s => !egress.Contains(s.Egress)) is { } stray)
        {
            throw new RoutingException($"Host {serving.Host} would serve ports on {stray.Egress}, which is not among the egress addresses it holds ({string.Join(", ", egress)}).");
        }

        return ApplyCore(serving, [.. egress.Distinct()], narrow: null);
    }

    /// <summary>
    /// Rewrites the host file as <paramref name="file"/> (its slices and <see cref="HostSliceFile.ValidUntil"/>), keeping
    /// what the last apply recorded: the fleet agent's renewal, which changes nothing on the system.
    /// </summary>
    /// <exception cref="RoutingException">The host file cannot be written.</exception>
    public void Renew(HostSliceFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        var path = HostSliceFile.ResolvePath(_options.StatePath);
        try
        {
            (file with { Applied = ReadPrevious(path)?.Applied }).Save(path);
        }
        catch (PortShareException ex)
        {
            throw new RoutingException(ex.Message, ex);
        }
    }

    private IReadOnlyList<string> ApplyCore(HostSliceFile slices, IReadOnlyList<IPAddress> keep, PortSlice? narrow)
    {
        if (!_tools.HasNft())
        {
            throw new RoutingException("Host apply needs the 'nft' tool to exempt the egress address from conntrack and NAT. Run ./setup.sh as root (apt-get install nftables).");
        }

        var path = HostSliceFile.ResolvePath(_options.StatePath);
        CheckWritable(path);
        var previous = ReadPrevious(path);
        var before = previous?.Applied;
        var undo = new Stack<Action>();
        try
        {
            // Sysctls: remember the value before PortShare first touched each key, across re-applies.
            var sysctls = new List<SysctlChange>();
            void Set(string key, string value)
            {
                var current = Normalize(_sysctl.Read(key));
                var original = before?.Sysctls.FirstOrDefault(c => c.Key == key)?.Previous ?? current;
                if (current != value)
                {
                    _sysctl.Write(key, value);
                    undo.Push(() => _sysctl.Write(key, current));
                }

                sysctls.Add(new SysctlChange(key, original, value));
            }

            var hadTable = _tools.Nft(["list", "table", "inet", _options.NftTable]).ExitCode == 0;
            Run(_tools.Nft(["-f", "-"], ExemptScript(keep)), "nft", ["-f", "-"]);
            undo.Push(() => _tools.Nft(["-f", "-"], hadTable && previous is not null
                ? ExemptScript(EgressOf(previous))
                : $"table inet {_options.NftTable}\ndelete table inet {_options.NftTable}\n"));

            _tools.IpCheck("link", "set", "lo", "up");
            var present = AddressesOnLo();
            var added = new List<IPAddress>();
            foreach (var e in keep)
            {
                if (before?.Addresses.Contains(e) == true)
                {
                    added.Add(e);
                }

                if (!present.Contains(e))
                {
                    _tools.IpCheck(AddressArgs("add", e));
                    undo.Push(() => _tools.Ip(AddressArgs("del", e)));
                    if (!added.Contains(e))
                    {
                        added.Add(e);
                    }
                }
            }

            // Addresses PortShare added for slices the host no longer has.
            foreach (var old in before?.Addresses.Where(e => !keep.Contains(e)) ?? [])
            {
                if (present.Contains(old))
                {
                    _tools.IpCheck(AddressArgs("del", old));
                    undo.Push(() => _tools.Ip(AddressArgs("add", old)));
                }
            }

            Set(ArpIgnoreKey, "1");
            Set(ArpAnnounceKey, "2");

            if (narrow is { } n)
            {
                Set(PortRangeKey, string.Create(CultureInfo.InvariantCulture, $"{n.Span.Low} {n.Span.High}"));
                if (n.Gaps().Count > 0)
                {
                    var original = before?.Sysctls.FirstOrDefault(c => c.Key == ReservedPortsKey)?.Previous ?? Normalize(_sysctl.Read(ReservedPortsKey));
                    Set(ReservedPortsKey, JoinReserved(original, n.Gaps()));
                }
            }

            // Narrowed before but not now: put those keys back.
            foreach (var c in before?.Sysctls ?? [])
            {
                if (!sysctls.Any(x => x.Key == c.Key) && c.Key is PortRangeKey or ReservedPortsKey)
                {
                    var current = Normalize(_sysctl.Read(c.Key));
                    _sysctl.Write(c.Key, c.Previous);
                    undo.Push(() => _sysctl.Write(c.Key, current));
                }
            }

            var file = slices with { Applied = new HostChanges { Addresses = added, Sysctls = sysctls, NftTable = _options.NftTable } };
            try
            {
                file.Save(path);
            }
            catch (PortShareException ex)
            {
                throw new RoutingException($"{ex.Message} Nothing was left applied.", ex);
            }
        }
        catch
        {
            while (undo.TryPop(out var step))
            {
                step();
            }

            throw;
        }

        return Warnings(slices);
    }

    /// <summary>
    /// Undoes <see cref="Apply"/> as its host file recorded it: restores every sysctl to its value before, deletes the
    /// addresses it added and its nftables table, and deletes the host file. Without a host file, removes what is
    /// recognisably PortShare's (its nftables table) and says what it could not know.
    /// </summary>
    public HostRemoval Remove()
    {
        var path = HostSliceFile.ResolvePath(_options.StatePath);
        var undone = new List<string>();
        var previous = File.Exists(path) ? HostSliceFile.Load(path) : null;
        var applied = previous?.Applied;
        var table = applied?.NftTable ?? _options.NftTable;
        if (_tools.HasNft() && _tools.Nft(["list", "table", "inet", table]).ExitCode == 0)
        {
            Run(_tools.Nft(["delete", "table", "inet", table]), "nft", ["delete", "table", "inet", table]);
            undone.Add($"deleted nftables table inet {table}");
        }

        if (previous is null)
        {
            return new HostRemoval(false, undone);
        }

        var present = AddressesOnLo();
        foreach (var e in applied?.Addresses ?? [])
        {
            if (present.Contains(e))
            {
                _tools.IpCheck(AddressArgs("del", e));
                undone.Add($"deleted {e} from lo");
            }
        }

        foreach (var c in (applied?.Sysctls ?? []).Reverse())
        {
            _sysctl.Write(c.Key, c.Previous);
            undone.Add($"restored {c.Key.Replace('/', '.')} = {c.Previous}");
        }

        File.Delete(path);
        undone.Add($"deleted {path}");
        return new HostRemoval(true, undone);
    }

    /// <summary>The host file and what is actually in place.</summary>
    public HostReport Show()
    {
        var path = HostSliceFile.ResolvePath(_options.StatePath);
        var slices = HostSliceFile.Load(path);
        var present = AddressesOnLo();
        var exempt = _tools.HasNft() && _tools.Nft(["list", "table", "inet", _options.NftTable]).ExitCode == 0;
        return new HostReport(slices, slices.EgressAddresses.ToDictionary(e => e, present.Contains), exempt, Normalize(_sysctl.Read(PortRangeKey)));
    }

    /// <summary>Checks what can be checked before anything changes; returns the slice to narrow to, if asked.</summary>
    private PortSlice? CheckInputs(HostSliceFile slices)
    {
        if (!RouteValidation.IsValidName(slices.Host))
        {
            throw new RoutingException($"Host name '{slices.Host}' is invalid: use letters, digits, '.', '_' or '-'.");
        }

        if (slices.Slices.Count == 0 && slices.Quarantine.Count == 0)
        {
            throw new RoutingException($"Host {slices.Host} owns no slice: nothing to apply.");
        }

        // A host whose every port is still in quarantine has nothing to narrow to yet: the range stays as it was before
        // PortShare (unaware programs do not use the egress address, which is never the primary source).
        if (!_options.NarrowPortRange || slices.Slices.Count == 0)
        {
            return null;
        }

        var distinct = slices.Slices.Select(s => s.Ports).Distinct().ToList();
        return distinct.Count == 1
            ? distinct[0]
            : throw new RoutingException($"Narrowing ip_local_port_range to the host's ports needs the same slice on every egress address (it is one setting per network namespace), but host {slices.Host} owns different ports on its egress addresses ({string.Join("; ", slices.Slices.Select(s => $"{s.Ports} on {s.Egress}"))}). Do not narrow the range, or give the host the same slice on every egress address.");
    }

    private static void CheckWritable(string path)
    {
        try
        {
            SafeFile.Check(path, "the host file");
        }
        catch (PortShareException ex)
        {
            throw new RoutingException(ex.Message, ex);
        }
    }

    private List<string> Warnings(HostSliceFile slices)
    {
        var warnings = new List<string>();
        if (PortRange.TryParse(Normalize(_sysctl.Read(PortRangeKey)).Replace(' ', '-'), out var netns, out _))
        {
            foreach (var s in slices.Slices)
            {
                foreach (var r in s.Ports.Ranges.Where(r => !netns.Contains(r)))
                {
                    warnings.Add($"range {r} of {s.Egress} lies outside this namespace's ip_local_port_range {netns}: connects from it are refused (fail closed) until net.ipv4.ip_local_port_range covers it.");
                }
            }
        }

        return warnings;
    }

    private void Run(ToolResult result, string tool, string[] args)
    {
        if (result.ExitCode != 0)
        {
            throw _tools.Failed(tool, args, result);
        }
    }

    private HashSet<IPAddress> AddressesOnLo()
    {
        var json = _tools.IpCheck("-j", "addr", "show", "dev", "lo");
        var found = new HashSet<IPAddress>();
        using var doc = System.Text.Json.JsonDocument.Parse(json);
        foreach (var link in doc.RootElement.EnumerateArray())
        {
            if (!link.TryGetProperty("addr_info", out var infos))
            {
                continue;
            }

            foreach (var info in infos.EnumerateArray())
            {
                if (info.TryGetProperty("local", out var local) && IPAddress.TryParse(local.GetString(), out var a))
                {
                    found.Add(a);
                }
            }
        }

        return found;
    }

    private static string JoinReserved(string existing, IReadOnlyList<PortRange> gaps)
    {
        var parts = existing.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
        parts.AddRange(gaps.Select(g => g.ToString()));
        return string.Join(',', parts);
    }

    private static string Normalize(string sysctlValue) => sysctlValue.Replace('\t', ' ').Trim();

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

    private static string[] AddressArgs(string verb, IPAddress e) => e.AddressFamily == AddressFamily.InterNetworkV6
        ? ["-6", "addr", verb, e + "/128", "dev", "lo"]
        : ["-4", "addr", verb, e + "/32", "dev", "lo"];

    private static List<IPAddress> EgressOf(HostSliceFile slices) =>
        [.. slices.EgressAddresses.Concat(slices.Applied?.Addresses ?? []).Distinct()];

    private string ExemptScript(IEnumerable<IPAddress> egress)
    {
        var t = _options.NftTable;
        var pre = new List<string>();
        var output = new List<string>();
        foreach (var e in egress.Distinct())
        {
            var f = e.AddressFamily == AddressFamily.InterNetworkV6 ? "ip6" : "ip";
            pre.Add($"\t\t{f} daddr {e} notrack");
            output.Add($"\t\t{f} saddr {e} notrack");
        }

        // No conntrack entry, so no NAT and no clash resolution that could move a source port out of the slice.
        return $"table inet {t}\ndelete table inet {t}\ntable inet {t} {{\n\tchain prerouting {{\n\t\ttype filter hook prerouting priority raw; policy accept;\n{string.Join('\n', pre)}\n\t}}\n\tchain output {{\n\t\ttype filter hook output priority raw; policy accept;\n{string.Join('\n', output)}\n\t}}\n}}\n";
    }
}
