using System.Text.Json.Serialization;

namespace PortShare.Cli;

/// <summary>One line of <c>portshare connect --json</c>.</summary>
internal sealed record ConnectionRecord(
    [property: JsonPropertyName("local_address")] string LocalAddress,
    [property: JsonPropertyName("local_port")] int LocalPort,
    [property: JsonPropertyName("remote")] string Remote,
    [property: JsonPropertyName("strategy")] string Strategy);

/// <summary>The result of <c>portshare doctor --json</c>.</summary>
internal sealed record DoctorReport(
    [property: JsonPropertyName("kernel")] string Kernel,
    [property: JsonPropertyName("ip_local_port_range_supported")] bool LocalPortRangeSupported,
    [property: JsonPropertyName("netns_range")] string NetnsRange,
    [property: JsonPropertyName("reserved_ports")] IReadOnlyList<string> ReservedPorts,
    [property: JsonPropertyName("root")] bool Root,
    [property: JsonPropertyName("tools")] IReadOnlyDictionary<string, bool> Tools,
    [property: JsonPropertyName("advice")] IReadOnlyList<string> Advice);

[JsonSourceGenerationOptions(WriteIndented = false)]
[JsonSerializable(typeof(ConnectionRecord))]
[JsonSerializable(typeof(DoctorReport))]
[JsonSerializable(typeof(List<PortShare.Cli.Bench.BenchResult>))]
[JsonSerializable(typeof(PortShare.Cli.Bench.RouteReport))]
internal sealed partial class CliJsonContext : JsonSerializerContext;
