using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace PortShare.Planning;

/// <summary>
/// The one source-generated JSON contract for specs, plans, history and reports: snake_case, unknown members
/// rejected, required members enforced, nulls omitted, indented (a plan is a file people read and diff).
/// </summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    RespectNullableAnnotations = true,
    AllowTrailingCommas = false,
    ReadCommentHandling = JsonCommentHandling.Disallow,
    WriteIndented = true,
    UseStringEnumConverter = true,
    Converters = [typeof(PortRangeJsonConverter), typeof(IPAddressJsonConverter)])]
[JsonSerializable(typeof(PlanSpec))]
[JsonSerializable(typeof(Plan))]
[JsonSerializable(typeof(HostSlice))]
[JsonSerializable(typeof(MapShape))]
[JsonSerializable(typeof(PlanHistory))]
[JsonSerializable(typeof(MovementReport))]
[JsonSerializable(typeof(CapacityReport))]
[JsonSerializable(typeof(IReadOnlyList<PlanIssue>))]
[JsonSerializable(typeof(WhoAnswer))]
public sealed partial class PlanningJsonContext : JsonSerializerContext
{
}

/// <summary>A port range in JSON: the string <c>"LO-HI"</c> (or <c>"P"</c>), as people write it.</summary>
public sealed class PortRangeJsonConverter : JsonConverter<PortRange>
{
    public override PortRange Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.String)
        {
            throw new JsonException($"expected a port range string like \"40000-40511\", found {reader.TokenType}");
        }

        var text = reader.GetString();
        return PortRange.TryParse(text, out var range, out var error) ? range : throw new JsonException(error);
    }

    public override void Write(Utf8JsonWriter writer, PortRange value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        Span<char> buffer = stackalloc char[11];
        value.TryFormat(buffer, out var written, default, null);
        writer.WriteStringValue(buffer[..written]);
    }
}

/// <summary>An IP address in JSON: its text form. Anything else is a read error naming the value.</summary>
public sealed class IPAddressJsonConverter : JsonConverter<IPAddress>
{
    public override IPAddress Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.String && TryParse(ref reader, out var address))
        {
            return address;
        }

        throw new JsonException(reader.TokenType == JsonTokenType.String
            ? $"'{reader.GetString()}' is not a valid IPv4 or IPv6 address"
            : $"expected an IP address string like \"192.0.2.1\", found {reader.TokenType}");
    }

    public override void Write(Utf8JsonWriter writer, IPAddress value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(value);
        Span<char> buffer = stackalloc char[64];
        writer.WriteStringValue(value.TryFormat(buffer, out var written) ? buffer[..written] : value.ToString());
    }

    /// <summary>Parses the current string token as the spec's addresses are parsed: a plain literal (dotted quad or
    /// IPv6), no surrounding space, no scope.</summary>
    internal static bool TryParse(ref Utf8JsonReader reader, [NotNullWhen(true)] out IPAddress? address) =>
        (!reader.ValueIsEscaped && !reader.HasValueSequence && SpecValidator.TryParseDottedQuad(reader.ValueSpan, out address)) ||
        SpecValidator.TryParseAddress(reader.GetString(), out address);
}
