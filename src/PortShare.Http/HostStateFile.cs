using System.Net;
using System.Text.Json;

namespace PortShare.Http;

/// <summary>
/// Reads the slice a host owns from its state file. The accepted format (property names case-insensitive, unknown
/// properties ignored, so the file may carry more):
/// <code>
/// { "slices": [ { "egress": "192.0.2.1", "ranges": [ "40000-40511" ] } ] }
/// </code>
/// Each entry may give <c>"range": "LO-HI"</c> instead of <c>"ranges"</c>. One entry (of the requested egress
/// address, when one is given) with exactly one range is required: a connector uses one contiguous slice.
/// </summary>
public static class HostStateFile
{
    /// <summary>One slice read from the state file.</summary>
    /// <param name="Slice">The port range.</param>
    /// <param name="Egress">The egress address the slice belongs to, or null when the entry names none.</param>
    public sealed record Entry(PortRange Slice, IPAddress? Egress);

    /// <summary>
    /// Reads <paramref name="path"/> and returns the slice for <paramref name="egress"/> (or the only slice when
    /// <paramref name="egress"/> is null).
    /// </summary>
    /// <exception cref="PortShareException">The file is missing, unreadable, not in the format above, or names no single matching slice; the message says which and why.</exception>
    public static Entry Read(string path, IPAddress? egress = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new PortShareException($"Cannot read the PortShare host state file '{path}': {ex.Message} Run 'portshare host apply' on this host, or set PortShare:Slice instead.", ex);
        }

        return Parse(text, path, egress);
    }

    /// <summary>Parses the text of a state file; <paramref name="source"/> names it in error messages.</summary>
    /// <exception cref="PortShareException">The text is not in the format above or names no single matching slice.</exception>
    public static Entry Parse(string text, string source, IPAddress? egress = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        var entries = new List<Entry>();
        try
        {
            using var doc = JsonDocument.Parse(text, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !TryGet(doc.RootElement, "slices", out var slices) || slices.ValueKind != JsonValueKind.Array)
            {
                throw Bad(source, "it has no \"slices\" array");
            }

            var index = 0;
            foreach (var item in slices.EnumerateArray())
            {
                entries.AddRange(ReadEntry(item, source, index++));
            }
        }
        catch (JsonException ex)
        {
            throw new PortShareException($"The PortShare host state file '{source}' is not valid JSON: {ex.Message}", ex);
        }

        var matching = egress is null ? entries : entries.FindAll(e => e.Egress is not null && e.Egress.Equals(egress));
        return matching.Count switch
        {
            1 => matching[0],
            0 when egress is not null => throw Bad(source, $"it has no slice for egress address {egress} (it has: {Describe(entries)})"),
            0 => throw Bad(source, "it lists no slice"),
            _ when egress is not null => throw Bad(source, $"it has {matching.Count} slices for egress address {egress} ({Describe(matching)}); one contiguous slice is supported"),
            _ => throw Bad(source, $"it has {matching.Count} slices ({Describe(matching)}); set PortShare:EgressAddress to choose one"),
        };
    }

    private static IEnumerable<Entry> ReadEntry(JsonElement item, string source, int index)
    {
        if (item.ValueKind != JsonValueKind.Object)
        {
            throw Bad(source, $"slices[{index}] is not an object");
        }

        IPAddress? address = null;
        if (TryGet(item, "egress", out var egressElement) && egressElement.ValueKind != JsonValueKind.Null)
        {
            if (egressElement.ValueKind != JsonValueKind.String || !IPAddress.TryParse(egressElement.GetString(), out address))
            {
                throw Bad(source, $"slices[{index}].egress '{egressElement}' is not an IP address");
            }
        }

        var ranges = new List<string?>();
        if (TryGet(item, "ranges", out var rangesElement) && rangesElement.ValueKind == JsonValueKind.Array)
        {
            foreach (var r in rangesElement.EnumerateArray())
            {
                ranges.Add(r.ValueKind == JsonValueKind.String ? r.GetString() : r.ToString());
            }
        }
        else if (TryGet(item, "range", out var rangeElement) && rangeElement.ValueKind == JsonValueKind.String)
        {
            ranges.Add(rangeElement.GetString());
        }
        else
        {
            throw Bad(source, $"slices[{index}] has neither a \"ranges\" array nor a \"range\" string");
        }

        foreach (var r in ranges)
        {
            if (!PortRange.TryParse(r, out var range, out var error))
            {
                throw Bad(source, $"slices[{index}]: {error}");
            }

            yield return new Entry(range, address);
        }
    }

    private static bool TryGet(JsonElement obj, string name, out JsonElement value)
    {
        foreach (var p in obj.EnumerateObject())
        {
            if (string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase))
            {
                value = p.Value;
                return true;
            }
        }

        value = default;
        return false;
    }

    private static string Describe(List<Entry> entries) =>
        entries.Count == 0 ? "none" : string.Join(", ", entries.Select(e => e.Egress is null ? e.Slice.ToString() : $"{e.Slice} on {e.Egress}"));

    private static PortShareException Bad(string source, string why) =>
        new($"The PortShare host state file '{source}' cannot be used: {why}. Expected {{\"slices\":[{{\"egress\":\"192.0.2.1\",\"ranges\":[\"40000-40511\"]}}]}}.");
}
