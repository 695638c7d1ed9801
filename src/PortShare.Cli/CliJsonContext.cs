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

// Every --json of every command is snake_case.
[JsonSourceGenerationOptions(WriteIndented = false, PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(ConnectionRecord))]
[JsonSerializable(typeof(List<PortShare.Cli.Bench.BenchResult>))]
[JsonSerializable(typeof(PortShare.Cli.Bench.RouteReport))]
[JsonSerializable(typeof(List<PortShare.Lab.ElasticRun>))]
internal sealed partial class CliJsonContext : JsonSerializerContext;
