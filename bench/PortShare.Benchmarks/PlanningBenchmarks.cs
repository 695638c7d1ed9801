using System.Globalization;
using BenchmarkDotNet.Attributes;
using PortShare.Planning;

namespace PortShare.Benchmarks;

/// <summary>Planning a large fleet: 10,000 hosts (weights 1-3) on 16 egress IPs over ports 1024-65535; target &lt; 100 ms.</summary>
[MemoryDiagnoser]
public class PlanningBenchmarks
{
    private PlanSpec _spec = null!;
    private PlanSpec _plusOne = null!;
    private Plan _plan = null!;

    [GlobalSetup]
    public void Setup()
    {
        _spec = Fleet(10_000, 16);
        _plusOne = _spec with { Hosts = [.. _spec.Hosts, Host(10_000)] };
        _plan = Planner.Create(_spec);
    }

    /// <summary>A fresh plan (generation 1).</summary>
    [Benchmark(Baseline = true)]
    public Plan Create() => Planner.Create(_spec);

    /// <summary>Re-plan keeping ports in place, one host added: every existing host gives up a little.</summary>
    [Benchmark]
    public ReplanResult ReplanAddOneHost() => Planner.Replan(_plan, _plusOne);

    internal static PlanSpec Fleet(int hosts, int egress) => new()
    {
        Version = PlanSpec.CurrentVersion,
        UsableRange = new PortRange(1024, 65535),
        Egress = [.. Enumerable.Range(1, egress).Select(i => new SpecEgress { Address = string.Create(CultureInfo.InvariantCulture, $"192.0.2.{i}") })],
        Hosts = [.. Enumerable.Range(0, hosts).Select(Host)],
    };

    private static SpecHost Host(int i) => new()
    {
        Name = string.Create(CultureInfo.InvariantCulture, $"h{i:D5}"),
        Weight = 1 + (i % 3),
        NextHops = [string.Create(CultureInfo.InvariantCulture, $"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}")],
    };
}
