using System.Globalization;
using PortShare.Planning;

namespace PortShare.Tests.Planning;

/// <summary>Specs for tests: the repository's example, and random specs drawn from a seed (FsCheck supplies seeds).</summary>
internal static class PlanTestData
{
    public static string ExamplePath(string name) => Path.Combine(AppContext.BaseDirectory, "examples", name);

    public static PlanSpec Example(string name = "spec.json") => PlanFile.LoadSpec(ExamplePath(name));

    public static SpecHost Host(string name, int weight = 1, int? sliceSize = null, params string[] nextHops) => new()
    {
        Name = name,
        Weight = weight,
        SliceSize = sliceSize,
        NextHops = nextHops.Length > 0 ? nextHops : NextHops(name),
    };

    /// <summary>A host's own next hops (the router needs one per host): derived from its name, so they are stable.</summary>
    public static string[] NextHops(string name)
    {
        var h = 2166136261u;
        foreach (var c in name)
        {
            h = (h ^ c) * 16777619u;
        }

        h &= 0xFFFFFF;
        return [string.Create(CultureInfo.InvariantCulture, $"10.{h >> 16}.{(h >> 8) & 255}.{h & 255}"), string.Create(CultureInfo.InvariantCulture, $"2001:db8:100::{h >> 16:x}:{h & 0xFFFF:x}")];
    }

    public static PlanSpec Equal(int hosts, PortRange usable, int alignment = 2, int minSize = 2) => new()
    {
        Version = 1,
        UsableRange = usable,
        Alignment = alignment,
        MinSliceSize = minSize,
        Egress = [new SpecEgress { Address = "192.0.2.1" }],
        Hosts = [.. Enumerable.Range(0, hosts).Select(i => Host(Name(i)))],
    };

    /// <summary>A fleet: <paramref name="hosts"/> hosts of weights 1-3 on egress IPs 192.0.2.1.. sharing ports 1024-65535.</summary>
    public static PlanSpec Fleet(int egress, int hosts) => new()
    {
        Version = 1,
        UsableRange = new PortRange(1024, 65535),
        Egress = [.. Enumerable.Range(1, egress).Select(i => new SpecEgress { Address = string.Create(CultureInfo.InvariantCulture, $"192.0.2.{i}") })],
        Hosts = [.. Enumerable.Range(0, hosts).Select(i => Host(Name(i), 1 + (i % 3)))],
    };

    public static string Name(int i) => string.Create(CultureInfo.InvariantCulture, $"h{i:D5}");

    /// <summary>A random feasible spec. <paramref name="reserved"/>, <paramref name="pinned"/> and <paramref name="map"/> switch features on.</summary>
    public static PlanSpec Random(int seed, bool reserved = true, bool pinned = true, bool map = true)
    {
        var r = new Random(seed);
        int[] alignments = [2, 4, 8, 16, 64, 256];
        var alignment = alignments[r.Next(alignments.Length)];
        var hostCount = r.Next(1, 25);
        var useMap = map && r.Next(5) == 0;
        MapShape? shape = useMap ? new MapShape { OffsetBits = r.Next(1, 7), PsidLength = r.Next(5, 8) } : null;

        // Room for every host several times over, so the spec is feasible and the weighted shares are not tiny.
        var need = hostCount * alignment * 16;
        var size = r.Next(need, Math.Max(need + 1, 40000));
        var low = r.Next(1, Math.Max(2, 65535 - size));
        var usable = new PortRange((ushort)low, (ushort)Math.Min(65535, low + size));
        if (useMap)
        {
            usable = new PortRange(1024, 65535);
        }

        var reservedRanges = new List<PortRange>();
        for (var i = reserved ? r.Next(0, 4) : 0; i > 0; i--)
        {
            var at = r.Next(usable.Low, usable.High - 60);
            reservedRanges.Add(new PortRange((ushort)at, (ushort)(at + r.Next(0, 50))));
        }

        var egress = new List<SpecEgress>();
        for (var i = r.Next(1, 4); i > 0; i--)
        {
            egress.Add(new SpecEgress { Address = r.Next(2) == 0 ? $"192.0.2.{i}" : $"2001:db8:1::{i}" });
        }

        var hosts = new List<SpecHost>();
        for (var i = 0; i < hostCount; i++)
        {
            int? slice = pinned && r.Next(6) == 0 ? alignment * r.Next(1, 4) : null;
            hosts.Add(Host(Name(i), r.Next(1, 10), useMap ? null : slice));
        }

        return new PlanSpec
        {
            Version = 1,
            UsableRange = usable,
            Reserved = reservedRanges,
            Alignment = alignment,
            MinSliceSize = 2,
            Map = shape,
            Egress = egress,
            Hosts = hosts,
        };
    }
}
