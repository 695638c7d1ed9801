using System.Text.Json;
using System.Text.Json.Serialization;

namespace PortShare.Planning;

/// <summary>
/// A spec's host, read and written by hand: a fleet's spec lists 10,000 of them, and the generated serializer's
/// per-object bookkeeping (required members, nullability, unknown members) made reading the spec a fifth of
/// <c>plan new</c>. The contract is the generated one's (schemas/plan-spec.schema.json): snake_case, unknown members
/// and missing required ones rejected with the serializer's own messages, nulls omitted when written.
/// </summary>
public sealed class SpecHostJsonConverter : JsonConverter<SpecHost>
{
    public override SpecHost Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw new JsonException("the value is not of the expected kind (an object)");
        }

        string? name = null;
        var weight = 1;
        IReadOnlyList<string>? nextHops = null;
        int? sliceSize = null;
        IReadOnlyList<string>? egress = null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("name"u8))
            {
                reader.Read();
                name = reader.TokenType switch
                {
                    JsonTokenType.String => reader.GetString(),
                    JsonTokenType.Null => throw new JsonException("'name': a required value is null"),
                    _ => throw new JsonException("'name': the value is not a string"),
                };
            }
            else if (reader.ValueTextEquals("weight"u8))
            {
                reader.Read();
                weight = Int32(ref reader, "weight");
            }
            else if (reader.ValueTextEquals("next_hops"u8))
            {
                reader.Read();
                nextHops = reader.TokenType == JsonTokenType.Null
                    ? throw new JsonException("'next_hops': a required value is null")
                    : Strings(ref reader, "next_hops");
            }
            else if (reader.ValueTextEquals("slice_size"u8))
            {
                reader.Read();
                sliceSize = reader.TokenType == JsonTokenType.Null ? null : Int32(ref reader, "slice_size");
            }
            else if (reader.ValueTextEquals("egress"u8))
            {
                reader.Read();
                egress = reader.TokenType == JsonTokenType.Null ? null : Strings(ref reader, "egress");
            }
            else
            {
                throw new JsonException($"The JSON property '{reader.GetString()}' could not be mapped to any .NET member of 'SpecHost'.");
            }
        }

        if (name is null || nextHops is null)
        {
            var missing = string.Join(", ", new[] { name is null ? "'name'" : null, nextHops is null ? "'next_hops'" : null }.OfType<string>());
            throw new JsonException($"JSON deserialization for type 'PortShare.Planning.SpecHost' was missing required properties including: {missing}.");
        }

        return new SpecHost { Name = name, Weight = weight, NextHops = nextHops, SliceSize = sliceSize, Egress = egress };
    }

    public override void Write(Utf8JsonWriter writer, SpecHost value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(value);
        writer.WriteStartObject();
        writer.WriteString("name"u8, value.Name);
        writer.WriteNumber("weight"u8, value.Weight);
        WriteStrings(writer, "next_hops"u8, value.NextHops);
        if (value.SliceSize is { } size)
        {
            writer.WriteNumber("slice_size"u8, size);
        }

        if (value.Egress is { } egress)
        {
            WriteStrings(writer, "egress"u8, egress);
        }

        writer.WriteEndObject();
    }

    // Errors name the member: the serializer's path stops at the host ($.hosts[3]).
    private static int Int32(ref Utf8JsonReader reader, string member) =>
        reader.TokenType == JsonTokenType.Number && reader.TryGetInt32(out var value)
            ? value
            : throw new JsonException($"'{member}': the value is not a whole number");

    private static string[] Strings(ref Utf8JsonReader reader, string member)
    {
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            throw new JsonException($"'{member}': the value is not a list");
        }

        var list = new List<string>(2);
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            list.Add(reader.TokenType switch
            {
                JsonTokenType.String => reader.GetString()!,
                JsonTokenType.Null => null!,
                _ => throw new JsonException($"'{member}': the value is not a list of strings"),
            });
        }

        return [.. list];
    }

    private static void WriteStrings(Utf8JsonWriter writer, ReadOnlySpan<byte> name, IReadOnlyList<string> values)
    {
        writer.WriteStartArray(name);
        foreach (var v in values)
        {
            writer.WriteStringValue(v);
        }

        writer.WriteEndArray();
    }
}
