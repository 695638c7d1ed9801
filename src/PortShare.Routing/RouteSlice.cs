using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace PortShare.Routing;

/// <summary>
/// One slice of the return path: replies to <see cref="Egress"/> on a destination port in <see cref="Range"/> go to
/// host <see cref="Host"/>, reached at <see cref="NextHop"/>.
/// </summary>
/// <param name="Egress">The shared egress address.</param>
/// <param name="Host">The owning host's name (letters, digits, '.', '_' and '-').</param>
/// <param name="NextHop">The owning host's address on the router's link, of the egress address's family.</param>
/// <param name="Range">The slice's ports.</param>
public sealed record RouteSlice(IPAddress Egress, string Host, IPAddress NextHop, PortRange Range);

/// <summary>Checks a set of <see cref="RouteSlice"/>s before anything touches the kernel.</summary>
public static partial class RouteValidation
{
    /// <summary>Host names PortShare accepts: they end up in file names and command arguments.</summary>
    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$", RegexOptions.CultureInvariant)]
    internal static partial Regex HostName();

    /// <summary>True when <paramref name="name"/> is an acceptable host (or namespace) name.</summary>
    public static bool IsValidName(string? name) => name is not null && HostName().IsMatch(name);

    /// <summary>Every problem of the slice set, each naming the slice and how to fix it; empty when it is usable.</summary>
    public static IReadOnlyList<string> Validate(IReadOnlyList<RouteSlice> slices)
    {
        ArgumentNullException.ThrowIfNull(slices);
        var errors = new List<string>();
        if (slices.Count == 0)
        {
            errors.Add("The plan has no slices: nothing to route.");
        }

        foreach (var s in slices)
        {
            if (!IsValidName(s.Host))
            {
                errors.Add($"Host name '{s.Host}' is invalid: use 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit.");
            }

            if (s.Egress.AddressFamily is not (AddressFamily.InterNetwork or AddressFamily.InterNetworkV6))
            {
                errors.Add($"Egress address {s.Egress} of host {s.Host} is not an IPv4 or IPv6 address.");
            }
            else if (s.Egress.AddressFamily != s.NextHop.AddressFamily)
            {
                errors.Add($"Host {s.Host}: next hop {s.NextHop} is not of the same family as egress address {s.Egress}.");
            }

            if (s.Egress.IsIPv4MappedToIPv6 || s.NextHop.IsIPv4MappedToIPv6 || (s.Egress.AddressFamily == AddressFamily.InterNetworkV6 && s.Egress.ScopeId != 0))
            {
                errors.Add($"Host {s.Host}: use plain IPv4 or IPv6 addresses (no mapped or scoped addresses): egress {s.Egress}, next hop {s.NextHop}.");
            }

            if (IPAddress.IsLoopback(s.NextHop) || s.NextHop.Equals(IPAddress.Any) || s.NextHop.Equals(IPAddress.IPv6Any))
            {
                errors.Add($"Host {s.Host}: next hop {s.NextHop} cannot be a loopback or unspecified address.");
            }
        }

        foreach (var group in slices.GroupBy(s => s.Egress))
        {
            var sorted = group.OrderBy(s => s.Range.Low).ToList();
            for (var i = 1; i < sorted.Count; i++)
            {
                if (sorted[i - 1].Range.Overlaps(sorted[i].Range))
                {
                    errors.Add($"Egress {group.Key}: slice {sorted[i - 1].Range} of host {sorted[i - 1].Host} overlaps slice {sorted[i].Range} of host {sorted[i].Host}; slices must be disjoint.");
                }
            }
        }

        foreach (var host in slices.GroupBy(s => s.Host, StringComparer.Ordinal))
        {
            foreach (var fam in host.GroupBy(s => s.NextHop.AddressFamily))
            {
                var hops = fam.Select(s => s.NextHop).Distinct().ToList();
                if (hops.Count > 1)
                {
                    errors.Add($"Host {host.Key} has several {Family(fam.Key)} next hops ({string.Join(", ", hops)}); give each host one next hop per address family.");
                }
            }
        }

        foreach (var hop in slices.GroupBy(s => s.NextHop))
        {
            var hosts = hop.Select(s => s.Host).Distinct(StringComparer.Ordinal).ToList();
            if (hosts.Count > 1)
            {
                errors.Add($"Next hop {hop.Key} is given for several hosts ({string.Join(", ", hosts)}); each host needs its own next hop.");
            }
        }

        return errors;
    }

    /// <summary>Throws <see cref="InvalidPlanException"/> listing every problem, or returns.</summary>
    public static void ThrowIfInvalid(IReadOnlyList<RouteSlice> slices)
    {
        var errors = Validate(slices);
        if (errors.Count > 0)
        {
            throw new InvalidPlanException(errors);
        }
    }

    internal static string Family(AddressFamily family) => family == AddressFamily.InterNetworkV6 ? "IPv6" : "IPv4";
}

/// <summary>A plan (or slice set) that cannot be applied; <see cref="Errors"/> lists every problem.</summary>
public sealed class InvalidPlanException : PortShareException
{
    /// <summary>Creates the exception from the list of problems.</summary>
    public InvalidPlanException(IReadOnlyList<string> errors)
        : base("The plan is invalid:" + Environment.NewLine + string.Join(Environment.NewLine, errors.Select(e => "  - " + e)))
    {
        Errors = errors;
    }

    /// <summary>Creates the exception.</summary>
    public InvalidPlanException()
    {
        Errors = [];
    }

    /// <summary>Creates the exception.</summary>
    public InvalidPlanException(string message)
        : base(message)
    {
        Errors = [message];
    }

    /// <summary>Creates the exception.</summary>
    public InvalidPlanException(string message, Exception innerException)
        : base(message, innerException)
    {
        Errors = [message];
    }

    /// <summary>Every problem found.</summary>
    public IReadOnlyList<string> Errors { get; }
}

/// <summary>A tool PortShare drives (ip, nft) failed or is missing; the message holds its own error text.</summary>
public sealed class RoutingException : PortShareException
{
    /// <summary>Creates the exception.</summary>
    public RoutingException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public RoutingException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception.</summary>
    public RoutingException()
    {
    }
}
