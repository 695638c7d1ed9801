using System.Text.Json.Serialization;

namespace PortShare.Cli;

/// <summary>
/// One line of <c>portshare connect --json</c>, TCP and UDP alike: <c>local_address</c>, <c>local_port</c>,
/// <c>remote</c>, <c>protocol</c>, <c>strategy</c> (TCP: kernel or fallback; UDP: shared or unique), and for UDP the
/// <c>reply</c> (null when none came, and always for TCP) and a <c>note</c> saying why not.
/// </summary>
internal sealed record ConnectionRecord(
    string LocalAddress,
    int LocalPort,
    string Remote,
    string Protocol,
    string Strategy,
    string? Reply = null,
    string? Note = null);

/// <summary>The result of <c>portshare doctor --json</c>.</summary>
internal sealed record DoctorReport(
    [property: JsonPropertyName("kernel")] string Kernel,
    [property: JsonPropertyName("ip_local_port_range_supported")] bool LocalPortRangeSupported,
    [property: JsonPropertyName("netns_range")] string NetnsRange,
    [property: JsonPropertyName("reserved_ports")] IReadOnlyList<string> ReservedPorts,
    [property: JsonPropertyName("root")] bool Root,
    [property: JsonPropertyName("tools")] IReadOnlyDictionary<string, bool> Tools,
    [property: JsonPropertyName("advice")] IReadOnlyList<string> Advice);

// Every --json of every command is snake_case.
[JsonSourceGenerationOptions(WriteIndented = false, PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(ConnectionRecord))]
[JsonSerializable(typeof(DoctorReport))]
[JsonSerializable(typeof(List<PortShare.Cli.Bench.BenchResult>))]
[JsonSerializable(typeof(List<PortShare.Cli.Bench.RouteResult>))]
internal sealed partial class CliJsonContext : JsonSerializerContext;
