using System.Globalization;
using System.Net;

namespace PortShare.Fleet;

/// <summary>
/// Where a pool lives in etcd, under one prefix: <c>pool</c> (the spec), <c>hosts/NAME</c> (a registered agent, under
/// its lease), <c>units/EGRESS/LOW</c> (a claimed unit, under its owner's lease; absent when not owned),
/// <c>quarantine/EGRESS/LOW</c> (the unit's routing hold: written with the claim under a second lease of the owner whose
/// TTL is the lease TTL plus the quarantine, and moved to a lease of its own of the quarantine's length on release, so
/// it outlives the owner by the quarantine whatever happens to the owner), <c>drain/host/NAME</c> and
/// <c>drain/egress/IP</c> (drain orders).
/// </summary>
public sealed class FleetKeys
{
    /// <summary>The default prefix.</summary>
    public const string DefaultPrefix = "/portshare/";

    /// <summary>Creates the layout under <paramref name="prefix"/> (a trailing '/' is added).</summary>
    public FleetKeys(string prefix = DefaultPrefix)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(prefix);
        Prefix = prefix.EndsWith('/') ? prefix : prefix + "/";
    }

    /// <summary>The prefix, ending in '/'.</summary>
    public string Prefix { get; }

    /// <summary>The pool record.</summary>
    public string Pool => Prefix + "pool";

    /// <summary>A registered host.</summary>
    public string Host(string name) => Prefix + "hosts/" + name;

    /// <summary>A unit's owner key.</summary>
    public string Unit(IPAddress egress, PortRange unit) => Prefix + "units/" + Suffix(egress, unit);

    /// <summary>A unit's routing hold (quarantine) key.</summary>
    public string Quarantine(IPAddress egress, PortRange unit) => Prefix + "quarantine/" + Suffix(egress, unit);

    /// <summary>A host's standing request for one more unit on <paramref name="egress"/> when the pool is short (under its lease).</summary>
    public string Want(IPAddress egress, string host) => Prefix + "wants/" + egress + "/" + host;

    /// <summary>The prefix of every want.</summary>
    public string WantsPrefix => Prefix + "wants/";

    /// <summary>The prefix of every registered host.</summary>
    public string HostsPrefix => Prefix + "hosts/";

    /// <summary>The prefix of every drain order.</summary>
    public string DrainPrefix => Prefix + "drain/";

    /// <summary>A host's drain order.</summary>
    public string DrainHost(string name) => Prefix + "drain/host/" + name;

    /// <summary>An egress address's drain order.</summary>
    public string DrainEgress(IPAddress egress) => Prefix + "drain/egress/" + egress;

    /// <summary>The end of the prefix range (etcd's <c>range_end</c> for "every key with this prefix").</summary>
    public string PrefixEnd => RangeEnd(Prefix);

    /// <summary>etcd's <c>range_end</c> for every key starting with <paramref name="prefix"/> (its last character plus one).</summary>
    public static string RangeEnd(string prefix)
    {
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        return prefix[..^1] + (char)(prefix[^1] + 1);
    }

    private static string Suffix(IPAddress egress, PortRange unit) =>
        string.Create(CultureInfo.InvariantCulture, $"{egress}/{unit.Low:D5}");
}
