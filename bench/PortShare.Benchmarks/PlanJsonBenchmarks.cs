using System.Text.Json;
using BenchmarkDotNet.Attributes;
using PortShare.Planning;

namespace PortShare.Benchmarks;

/// <summary>
/// Loading a plan file: <see cref="PlanJson.DeserializePlan"/> against a bare <see cref="JsonDocument"/> parse of the same
/// text (the baseline: the cost of reading the JSON at all), for a small plan and the 10,000-host × 16-IP one.
/// </summary>
[MemoryDiagnoser]
public class PlanJsonBenchmarks
{
    private string _json = null!;

    [Params(100, 10_000)]
    public int Hosts { get; set; }

    [GlobalSetup]
    public void Setup() => _json = PlanJson.Serialize(Planner.Create(PlanningBenchmarks.Fleet(Hosts, 16)));

    [Benchmark(Baseline = true)]
    public int ParseDocument()
    {
        using var doc = JsonDocument.Parse(_json);
        return (int)doc.RootElement.ValueKind;
    }

    [Benchmark]
    public Plan DeserializePlan() => PlanJson.DeserializePlan(_json);
}
