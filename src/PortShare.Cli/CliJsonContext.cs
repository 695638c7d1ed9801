using System.Text.Json.Serialization;

namespace PortShare.Cli;

/// <summary>One line of <c>portshare connect --json</c>.</summary>
internal sealed record ConnectionRecord(
    [property: JsonPropertyName("local_address")] string LocalAddress,
    [property: JsonPropertyName("local_port")] int LocalPort,
    [property: JsonPropertyName("remote")] string Remote,
    [property: JsonPropertyName("strategy")] string Strategy);

[JsonSourceGenerationOptions(WriteIndented = false)]
[JsonSerializable(typeof(ConnectionRecord))]
[JsonSerializable(typeof(List<PortShare.Cli.Bench.BenchResult>))]
[JsonSerializable(typeof(List<PortShare.Cli.Bench.RouteResult>))]
internal sealed partial class CliJsonContext : JsonSerializerContext;
