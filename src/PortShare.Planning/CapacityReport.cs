using System.Globalization;

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

public sealed record EgressCapacity
{
    public required string Egress { get; init; }

    public required PortRange UsableRange { get; init; }

    public required int UsablePorts { get; init; }

    public required int ReservedPorts { get; init; }

    public required int AllocatedPorts { get; init; }

    public required int SparePorts { get; init; }

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

    public static CapacityReport Create(Plan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var egress = new List<EgressCapacity>(plan.Egress.Count);
        foreach (var e in plan.Egress)
        {
            var reserved = PortSet.Count(PortSet.Intersect(PortSet.Normalize(e.Reserved), [e.UsableRange]));
            var usable = e.UsableRange.Count - reserved;
            var slices = e.Slices.Select(s => Slice(e, s, usable)).ToList();
            egress.Add(new EgressCapacity
            {
                Egress = e.Address,
                UsableRange = e.UsableRange,
                UsablePorts = usable,
                ReservedPorts = reserved,
                AllocatedPorts = slices.Sum(s => s.Ports),
                SparePorts = PortSet.Count(e.Spare),
                Slices = slices,
            });
        }

        return new CapacityReport { Generation = plan.Generation, Egress = egress };
    }

    private static SliceCapacity Slice(EgressPlan e, HostSlice s, int usable)
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
            warnings.Add($"{segments} separate ranges: one IP_LOCAL_PORT_RANGE value holds one range, so each socket uses one of them (re-plan with --compact for one range)");
        }

        return new SliceCapacity
        {
            Egress = e.Address,
            Host = s.Host,
            Ranges = s.Ranges,
            Ports = ports,
            Share = usable > 0 ? Math.Round((double)ports / usable, 6) : 0,
            TcpPerDestination = ports,
            UdpFlows = ports,
            EntropyBits = Math.Round(bits, 3),
            Warnings = warnings,
        };
    }
}
