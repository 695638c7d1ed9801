using System.Globalization;
using System.Numerics;

namespace PortShare.Planning;

/// <summary>What one host's slice on one egress IP can carry, and how guessable its source ports are.</summary>
public sealed record SliceCapacity
{
    public required string Egress { get; init; }

    public required string Host { get; init; }

    public required IReadOnlyList<PortRange> Ranges { get; init; }

    public required int Ports { get; init; }

    /// <summary>Fraction of the egress IP's usable, unreserved ports.</summary>
    public required double Share { get; init; }

    /// <summary>Concurrent TCP connections to one destination (IP, port): one per source port (D1, D2).</summary>
    public required int TcpPerDestination { get; init; }

    /// <summary>Concurrent connected UDP sockets in total: UDP never shares a source port across destinations (E2).</summary>
    public required int UdpFlows { get; init; }

    /// <summary>log2(ports): the source-port randomness an off-path attacker must guess (RFC 6056, RFC 5452).</summary>
    public required double EntropyBits { get; init; }

    public IReadOnlyList<string> Warnings { get; set; } = [];
}

/// <summary>How many of an egress IP's slices hold between <see cref="MinPorts"/> and <see cref="MaxPorts"/> ports.</summary>
public sealed record SizeBucket(int MinPorts, int MaxPorts, int Slices);

/// <summary>One host's share, for the smallest and the largest slice of an egress IP.</summary>
public sealed record ShareOf(string Host, int Ports, double Share);

public sealed record EgressCapacity
{
    public required string Egress { get; init; }

    public required PortRange UsableRange { get; init; }

    public required int UsablePorts { get; init; }

    public required int ReservedPorts { get; init; }

    public required int AllocatedPorts { get; init; }

    public required int SparePorts { get; init; }

    /// <summary>Hosts with a slice on this egress IP.</summary>
    public required int Hosts { get; init; }

    public ShareOf? Smallest { get; init; }

    public ShareOf? Largest { get; init; }

    /// <summary>Slices by size, in powers of two (2-3, 4-7, 8-15, … ports); empty buckets are left out.</summary>
    public required IReadOnlyList<SizeBucket> Distribution { get; init; }

    /// <summary>Slices with fewer than 2^<see cref="CapacityReport.DnsEntropyWarningBits"/> ports (guessable DNS source ports).</summary>
    public required int LowEntropySlices { get; init; }

    /// <summary>Slices with fewer than <see cref="CapacityReport.SmallSlicePorts"/> ports.</summary>
    public required int SmallSlices { get; init; }

    /// <summary>Slices the kernel sees as more than one range.</summary>
    public required int SplitSlices { get; init; }

    /// <summary>Per-host rows: every slice, or only those asked for (<c>plan show --host</c>); none in a summary.</summary>
    public required IReadOnlyList<SliceCapacity> Slices { get; init; }
}

/// <summary>The capacity and risk report every plan comes with (<c>plan show</c>).</summary>
public sealed record CapacityReport
{
    /// <summary>Below this many bits (1,024 ports) a DNS resolver's answers become guessable: RFC 5452 §9.2 counts
    /// on the full port range next to the 16-bit query ID.</summary>
    public const double DnsEntropyWarningBits = 10;

    /// <summary>Below this many ports a busy host runs out of TCP ports toward one destination quickly.</summary>
    public const int SmallSlicePorts = 256;

    public required long Generation { get; init; }

    public required IReadOnlyList<EgressCapacity> Egress { get; init; }

    /// <summary>Ports in quarantine when the report was made (<c>plan show</c>): still routed to their previous owner.</summary>
    public IReadOnlyList<QuarantinedPorts> Quarantined { get; init; } = [];

    /// <summary>The report with a row for every slice.</summary>
    public static CapacityReport Create(Plan plan) => Create(plan, static _ => true);

    /// <summary>
    /// The summary of every egress IP (counts, smallest and largest share, size distribution, risks), with per-host rows
    /// only for the slices <paramref name="include"/> selects (none: <c>_ => false</c>). The summary costs no string per
    /// slice, so it stays fast for a fleet.
    /// </summary>
    public static CapacityReport Create(Plan plan, Func<HostSlice, bool> include)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(include);
        var egress = new List<EgressCapacity>(plan.Egress.Count);
        foreach (var e in plan.Egress)
        {
            var address = AddressText.Format(e.Address);
            var reserved = PortSet.Count(PortSet.Intersect(PortSet.Normalize(e.Reserved), [e.UsableRange]));
            var usable = e.UsableRange.Count - reserved;
            var buckets = new int[17];
            int allocated = 0, lowEntropy = 0, small = 0, split = 0;
            HostSlice? smallest = null, largest = null;
            int min = int.MaxValue, max = -1;
            var rows = new List<SliceCapacity>();
            foreach (var s in e.Slices)
            {
                var ports = s.PortCount;
                allocated += ports;
                buckets[ports <= 1 ? 0 : BitOperations.Log2((uint)ports)]++;
                lowEntropy += ports < 1 << (int)DnsEntropyWarningBits ? 1 : 0;
                small += ports < SmallSlicePorts ? 1 : 0;
                split += s.Ranges.Count > 1 && PortSet.Segments(s.Ranges, e.Reserved).Count > 1 ? 1 : 0;
                if (ports < min)
                {
                    (min, smallest) = (ports, s);
                }

                if (ports > max)
                {
                    (max, largest) = (ports, s);
                }

                if (include(s))
                {
                    rows.Add(Slice(e, address, s, usable));
                }
            }

            var distribution = new List<SizeBucket>();
            for (var b = 0; b < buckets.Length; b++)
            {
                if (buckets[b] > 0)
                {
                    distribution.Add(new SizeBucket(b == 0 ? 0 : 1 << b, b == 0 ? 1 : (int)Math.Min(65535, (1L << (b + 1)) - 1), buckets[b]));
                }
            }

            egress.Add(new EgressCapacity
            {
                Egress = address,
                UsableRange = e.UsableRange,
                UsablePorts = usable,
                ReservedPorts = reserved,
                AllocatedPorts = allocated,
                SparePorts = PortSet.Count(e.Spare),
                Hosts = e.Slices.Count,
                Smallest = smallest is null ? null : new ShareOf(smallest.Host, min, ShareOfUsable(min, usable)),
                Largest = largest is null ? null : new ShareOf(largest.Host, max, ShareOfUsable(max, usable)),
                Distribution = distribution,
                LowEntropySlices = lowEntropy,
                SmallSlices = small,
                SplitSlices = split,
                Slices = rows,
            });
        }

        return new CapacityReport { Generation = plan.Generation, Egress = egress };
    }

    private static double ShareOfUsable(int ports, int usable) => usable > 0 ? Math.Round((double)ports / usable, 6) : 0;

    private static SliceCapacity Slice(EgressPlan e, string address, HostSlice s, int usable)
    {
        var ports = s.PortCount;
        var bits = ports > 0 ? Math.Log2(ports) : 0;
        var warnings = new List<string>();
        if (bits < DnsEntropyWarningBits)
        {
            warnings.Add(string.Create(CultureInfo.InvariantCulture, $"only {bits:0.#} bits of source-port entropy ({ports} ports): DNS answers to this host are guessable (RFC 5452); resolve through a host with a larger slice"));
        }

        if (ports < SmallSlicePorts)
        {
            warnings.Add($"{ports} ports: at most {ports} concurrent TCP connections per destination and {ports} UDP flows");
        }

        var segments = PortSet.Segments(s.Ranges, e.Reserved).Count;
        if (segments > 1)
        {
            warnings.Add($"{segments} separate ranges: connectors use all of them (the kernel path sets IP_LOCAL_PORT_RANGE to one range per socket and moves to the next when it is full), but a program outside PortShare that narrows ip_local_port_range gets only one; a compact re-plan makes it one range");
        }

        return new SliceCapacity
        {
            Egress = address,
            Host = s.Host,
            Ranges = s.Ranges,
            Ports = ports,
            Share = ShareOfUsable(ports, usable),
            TcpPerDestination = ports,
            UdpFlows = ports,
            EntropyBits = Math.Round(bits, 3),
            Warnings = warnings,
        };
    }
}
