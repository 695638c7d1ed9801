using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Runtime.CompilerServices;

namespace PortShare.Planning;

/// <summary>Checks a spec before planning and returns every problem, each naming the field and value.</summary>
public static class SpecValidator
{
    public const int MaxWeight = 1_000_000;

    // Specs that passed Validate, so the planner does not check a loaded spec a second time (a fleet's spec has 10,000
    // hosts). A spec is immutable; one made from it with 'with' is another object, checked again.
    private static readonly ConditionalWeakTable<PlanSpec, object> s_valid = [];

    /// <summary>True when <paramref name="spec"/> (this very object) passed <see cref="Validate"/>.</summary>
    internal static bool IsKnownValid(PlanSpec spec) => s_valid.TryGetValue(spec, out _);

    public static IReadOnlyList<string> Validate(PlanSpec spec)
    {
        var problems = Check(spec);
        if (problems.Count == 0)
        {
            s_valid.AddOrUpdate(spec, s_valid);
        }

        return problems;
    }

    private static List<string> Check(PlanSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var problems = Nulls(spec);
        if (problems.Count > 0)
        {
            // JSON null where an object or a value belongs: nothing below can look inside it.
            return problems;
        }

        problems.AddRange(CheckRules(spec.Alignment, spec.MinSliceSize, spec.Map));
        if (spec.SparePorts < 0)
        {
            problems.Add($"spare_ports is {spec.SparePorts}; it must be 0 or more.");
        }

        if (spec.Egress.Count == 0)
        {
            problems.Add("egress is empty: list at least one egress IP.");
        }

        var egress = new Dictionary<IPAddress, string>();
        foreach (var e in spec.Egress)
        {
            if (!TryParseAddress(e.Address, out var a))
            {
                problems.Add($"egress '{e.Address}': not a valid IPv4 or IPv6 address.");
            }
            else if (!egress.TryAdd(a, e.Address))
            {
                problems.Add($"egress {e.Address}: listed twice (also as '{egress[a]}').");
            }

            var usable = e.UsableRange ?? spec.UsableRange;
            var free = PortSet.Subtract([usable], PortSet.Normalize(spec.Reserved.Concat(e.Reserved)));
            if (PortSet.Count(free) < 2)
            {
                problems.Add($"egress {e.Address}: the usable range {usable} minus reserved ports leaves no room for a slice.");
            }
        }

        if (spec.Hosts.Count == 0)
        {
            problems.Add("hosts is empty: list at least one host.");
        }

        var names = new HashSet<string>(spec.Hosts.Count, StringComparer.Ordinal);
        var hopOwners = new Dictionary<IPAddress, string>(spec.Hosts.Count);
        var families = Families(egress.Keys);
        foreach (var h in spec.Hosts)
        {
            CheckHost(spec, h, egress, families, names, hopOwners, problems);
        }

        return problems;
    }

    /// <summary>Every JSON <c>null</c> where a list, an object or a string belongs, by its place in the spec.</summary>
    private static List<string> Nulls(PlanSpec spec)
    {
        // Places are named only when something is wrong there (a fleet's spec has 10,000 hosts).
        var problems = new List<string>();
        void Each<T>(IReadOnlyList<T>? list, Func<string> where, Action<T, Func<string>>? inner = null)
        {
            if (list is null)
            {
                problems.Add($"{where()} is null: give a list (or leave it out where it is optional).");
                return;
            }

            for (var i = 0; i < list.Count; i++)
            {
                var item = list[i];
                if (item is null)
                {
                    problems.Add($"{where()}[{i}] is null.");
                }
                else if (inner is not null && !IsComplete(item))
                {
                    inner(item, At(where, i));
                }
            }
        }

        // The place of an item, made (with its closure) only for an item that has a problem.
        static Func<string> At(Func<string> where, int index) => () => $"{where()}[{index}]";

        Each(spec.Reserved, () => "reserved");
        Each(spec.Egress, () => "egress", (e, at) =>
        {
            if (e.Address is null)
            {
                problems.Add($"{at()}.address is null.");
            }

            Each(e.Reserved, () => $"{at()}.reserved");
        });
        Each(spec.Hosts, () => "hosts", (h, at) =>
        {
            if (h.Name is null)
            {
                problems.Add($"{at()}.name is null.");
            }

            Each(h.NextHops, () => $"{at()}.next_hops");
            if (h.Egress is not null)
            {
                Each(h.Egress, () => $"{at()}.egress");
            }
        });
        return problems;

        // The usual case, checked without building a place name or a closure.
        static bool IsComplete<T>(T item) => item switch
        {
            SpecHost h => h.Name is not null && h.NextHops is not null && !h.NextHops.Contains(null!) && (h.Egress is null || !h.Egress.Contains(null!)),
            SpecEgress e => e.Address is not null && e.Reserved is not null,
            _ => false,
        };
    }

    /// <summary>
    /// What the planner could not give as asked, for a spec that passed <see cref="Validate"/>: a host with a
    /// <c>slice_size</c> that got fewer ports on an egress IP (the range ran out). Warnings, not errors: the plan is usable.
    /// </summary>
    public static IReadOnlyList<string> Shortfalls(PlanSpec spec, Plan plan)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(plan);
        var warnings = new List<string>();
        foreach (var h in spec.Hosts.Where(h => h.SliceSize is not null))
        {
            foreach (var e in plan.Egress)
            {
                if (h.Egress is { } only && !only.Any(x => AddressText.TryParse(x, out var a) && a.Equals(e.Address)))
                {
                    continue;
                }

                var got = e.FindSlice(h.Name)?.PortCount ?? 0;
                if (got < h.SliceSize)
                {
                    warnings.Add($"host '{h.Name}' asked for slice_size {h.SliceSize} but got {got} ports on {e.Address}: the usable range is too small for every host's share.");
                }
            }
        }

        return warnings;
    }

    // The address families of a set of egress IPs: IPv4, IPv6, or both.
    private static (bool V4, bool V6) Families(IEnumerable<IPAddress> addresses)
    {
        var (v4, v6) = (false, false);
        foreach (var a in addresses)
        {
            v4 |= a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork;
            v6 |= a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6;
        }

        return (v4, v6);
    }

    private static void CheckHost(PlanSpec spec, SpecHost h, Dictionary<IPAddress, string> egress, (bool V4, bool V6) allFamilies, HashSet<string> names, Dictionary<IPAddress, string> hopOwners, List<string> problems)
    {
        var n = h.Name;
        if (!PlanValidator.IsValidHostName(n))
        {
            problems.Add($"host '{n}': invalid name (use letters, digits, '.', '_', '-'; at most 63 characters).");
        }
        else if (!names.Add(n))
        {
            problems.Add($"host '{n}': listed twice; host names must be unique.");
        }

        if (h.Weight is < 1 or > MaxWeight)
        {
            problems.Add($"host '{n}': weight {h.Weight} must be between 1 and {MaxWeight}.");
        }

        if (h.SliceSize is { } size && (size < spec.MinSliceSize || size > 65536))
        {
            problems.Add($"host '{n}': slice_size {size} must be at least min_slice_size {spec.MinSliceSize} and at most 65536.");
        }
        else if (h.SliceSize is { } odd && odd % 2 != 0)
        {
            problems.Add($"host '{n}': slice_size {odd} is odd; slices are even-sized (the kernel's TCP bind(0) loses a port of an odd-sized range): use {odd - 1} or {odd + 1}.");
        }

        if (h.Egress is { Count: 0 })
        {
            problems.Add($"host '{n}': egress is an empty list, so the host would get no slice at all; list the egress IPs it uses, or leave egress out to use every one.");
        }

        // The host's next hop of each family (usually one or two: no dictionary per host).
        string? hopV4 = null, hopV6 = null;
        foreach (var hop in h.NextHops)
        {
            if (!TryParseAddress(hop, out var a))
            {
                problems.Add($"host '{n}': next hop '{hop}' is not a valid IP address.");
                continue;
            }

            ref var ofFamily = ref a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? ref hopV6 : ref hopV4;
            if (ofFamily is not null)
            {
                problems.Add($"host '{n}': next hops '{ofFamily}' and '{hop}' are both {PlanValidator.Family(a)}; give one per family.");
            }
            else if (IPAddress.IsLoopback(a) || a.Equals(IPAddress.Any) || a.Equals(IPAddress.IPv6Any) || a.IsIPv4MappedToIPv6)
            {
                problems.Add($"host '{n}': next hop '{hop}' cannot be a loopback, unspecified or IPv4-mapped address; give the address the router reaches this host at.");
            }
            else if (!hopOwners.TryAdd(a, n))
            {
                problems.Add($"host '{n}': next hop '{hop}' is also host '{hopOwners[a]}''s; each host needs its own next hop (the router sends a host's replies there).");
            }

            ofFamily ??= hop;
        }

        if (h.NextHops.Count == 0)
        {
            problems.Add($"host '{n}': next_hops is empty; give the address the router reaches this host at.");
        }

        var used = allFamilies;
        if (h.Egress is { } refs)
        {
            var mine = new List<IPAddress>(refs.Count);
            foreach (var r in refs)
            {
                if (!TryParseAddress(r, out var a) || !egress.ContainsKey(a))
                {
                    problems.Add($"host '{n}': egress '{r}' is not one of the spec's egress IPs ({string.Join(", ", egress.Values)}).");
                }
                else
                {
                    mine.Add(a);
                }
            }

            used = Families(mine);
        }

        if (used.V4 && hopV4 is null)
        {
            problems.Add($"host '{n}': uses an IPv4 egress IP but has no IPv4 next hop in next_hops.");
        }

        if (used.V6 && hopV6 is null)
        {
            problems.Add($"host '{n}': uses an IPv6 egress IP but has no IPv6 next hop in next_hops.");
        }
    }

    /// <summary>Rules shared by specs and plans: alignment, minimum size, MAP parameters.</summary>
    internal static IEnumerable<string> CheckRules(int alignment, int minSliceSize, MapShape? map)
    {
        if (alignment < 2 || alignment > 32768 || alignment % 2 != 0)
        {
            yield return $"alignment {alignment} must be an even number from 2 to 32768 (slices need an even low and an odd high port).";
        }

        if (minSliceSize < 2 || minSliceSize > 65536)
        {
            yield return $"min_slice_size {minSliceSize} must be between 2 and 65536.";
        }

        if (map is not null && (map.OffsetBits < 1 || map.PsidLength < 1 || map.ContiguousBits < 1))
        {
            yield return $"map: offset_bits {map.OffsetBits} and psid_length {map.PsidLength} must each be at least 1 and leave at least 1 contiguous bit (offset_bits + psid_length <= 15), so port blocks are even-sized.";
        }
    }

    /// <summary>
    /// The usual IPv4 literal, four decimal numbers 0-255 without leading zeros, parsed from UTF-8 as
    /// <see cref="TryParseAddress"/> parses it; false for anything else, which that method then reads (IPv6, and the
    /// forms it rejects or reads differently). A fleet's plan lists 10,000 next hops: this spares each a string and the
    /// runtime's general parser.
    /// </summary>
    internal static bool TryParseDottedQuad(ReadOnlySpan<byte> utf8, [NotNullWhen(true)] out IPAddress? address)
    {
        address = null;
        Span<byte> bytes = stackalloc byte[4];
        var i = 0;
        for (var part = 0; part < 4; part++)
        {
            if (part > 0)
            {
                if (i >= utf8.Length || utf8[i] != (byte)'.')
                {
                    return false;
                }

                i++;
            }

            var (start, value) = (i, 0);
            while (i < utf8.Length && i - start < 3 && utf8[i] is >= (byte)'0' and <= (byte)'9')
            {
                value = (value * 10) + (utf8[i++] - '0');
            }

            if (i == start || value > 255 || (i - start > 1 && utf8[start] == (byte)'0'))
            {
                return false;
            }

            bytes[part] = (byte)value;
        }

        if (i != utf8.Length)
        {
            return false;
        }

        address = new IPAddress(bytes);
        return true;
    }

    internal static bool TryParseAddress(string? text, [NotNullWhen(true)] out IPAddress? address)
    {
        address = null;
        return !string.IsNullOrWhiteSpace(text) && text.Trim() == text && !text.Contains('%', StringComparison.Ordinal) &&
               (text.Contains(':', StringComparison.Ordinal) || text.AsSpan().Count('.') == 3) &&
               AddressText.TryParse(text, out address);
    }
}
