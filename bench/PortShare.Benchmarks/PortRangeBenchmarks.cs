using BenchmarkDotNet.Attributes;

namespace PortShare.Benchmarks;

/// <summary>The pure rules on every connect's path: parse (configuration), pack (setsockopt value), clamp (validation).</summary>
[MemoryDiagnoser]
public class PortRangeBenchmarks
{
    private readonly PortRange _netns = new(32768, 60999);
    private readonly PortRange _slice = new(40000, 40511);

    [Benchmark(Baseline = true)]
    public PortRange Parse() => PortRange.Parse("40000-40511");

    [Benchmark]
    public uint Pack() => _slice.Pack();

    [Benchmark]
    public PortRange Clamp() => PortRange.Effective(_netns, _slice.Low, _slice.High);

    [Benchmark]
    public bool ContainsAndOverlaps() => _netns.Contains(_slice) && _slice.Overlaps(_netns);
}
