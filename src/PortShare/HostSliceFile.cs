using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;

namespace PortShare;

/// <summary>One slice this host owns: its ports on one egress address.</summary>
/// <param name="Egress">The shared egress address (assigned to this host's <c>lo</c> by <c>portshare host apply</c>).</param>
/// <param name="Range">The ports of the slice.</param>
public sealed record EgressSlice(IPAddress Egress, PortRange Range);

/// <summary>
/// The host's slices as <c>portshare host apply</c> writes them (default <c>/etc/portshare/host.json</c>, or the path in
/// <c>PORTSHARE_HOST_FILE</c>), so that an application asks for "my slice" without knowing the plan:
/// <c>var s = HostSliceFile.Load().Slices[0]; new SliceConnector(s.Range, s.Egress)</c>.
/// </summary>
/// <param name="Host">The host's name in the plan.</param>
/// <param name="Slices">Its slices.</param>
public sealed record HostSliceFile(string Host, IReadOnlyList<EgressSlice> Slices)
{
    /// <summary>Where the file lives unless <c>PORTSHARE_HOST_FILE</c> says otherwise.</summary>
    public const string DefaultPath = "/etc/portshare/host.json";

    /// <summary>The path in use: <c>PORTSHARE_HOST_FILE</c> or <see cref="DefaultPath"/>.</summary>
    public static string ResolvePath(string? path = null)
    {
        if (path is not null)
        {
            return path;
        }

        var env = Environment.GetEnvironmentVariable("PORTSHARE_HOST_FILE");
        return string.IsNullOrEmpty(env) ? DefaultPath : env;
    }

    /// <summary>The slice of this host for <paramref name="egress"/>, or the first slice when it is null.</summary>
    /// <exception cref="PortShareException">The host has no slice on that address.</exception>
    public EgressSlice For(IPAddress? egress = null) =>
        Slices.FirstOrDefault(s => egress is null || s.Egress.Equals(egress))
        ?? throw new PortShareException(egress is null ? $"Host {Host} owns no slice." : $"Host {Host} owns no slice on egress address {egress}.");

    /// <summary>
    /// A connector for this host's slice on <paramref name="egress"/> (the first slice when null), bound to the egress
    /// address: <c>HostSliceFile.Load().Connector().ConnectAsync(remote)</c>.
    /// </summary>
    public Connect.SliceConnector Connector(IPAddress? egress = null, Connect.ConnectStrategy strategy = Connect.ConnectStrategy.Auto)
    {
        var slice = For(egress);
        return new Connect.SliceConnector(slice.Range, slice.Egress, strategy);
    }

    /// <summary>Reads the host file.</summary>
    /// <exception cref="PortShareException">The file is missing or malformed; the message names it.</exception>
    public static HostSliceFile Load(string? path = null)
    {
        path = ResolvePath(path);
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new PortShareException($"Cannot read the host's slices from {path}: {ex.Message.TrimEnd('.')}. Run 'portshare host apply PLAN.json --host NAME' on this host first.", ex);
        }

        try
        {
            return Parse(text);
        }
        catch (Exception ex) when (ex is JsonException or FormatException or KeyNotFoundException or InvalidOperationException)
        {
            throw new PortShareException($"{path} is not a valid PortShare host file: {ex.Message}", ex);
        }
    }

    /// <summary>Parses the host file's JSON.</summary>
    public static HostSliceFile Parse(string json)
    {
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        var host = root.GetProperty("host").GetString() ?? throw new FormatException("'host' is null.");
        var slices = new List<EgressSlice>();
        foreach (var s in root.GetProperty("slices").EnumerateArray())
        {
            var egress = IPAddress.Parse(s.GetProperty("egress").GetString() ?? string.Empty);
            slices.Add(new EgressSlice(egress, PortRange.Parse(s.GetProperty("range").GetString() ?? string.Empty)));
        }

        return new HostSliceFile(host, slices);
    }

    /// <summary>The file's JSON (with <paramref name="extra"/> string properties, e.g. what to restore on remove).</summary>
    public string ToJson(IReadOnlyDictionary<string, string>? extra = null)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("host", Host);
            w.WriteStartArray("slices");
            foreach (var s in Slices)
            {
                w.WriteStartObject();
                w.WriteString("egress", s.Egress.ToString());
                w.WriteString("range", s.Range.ToString(null, CultureInfo.InvariantCulture));
                w.WriteEndObject();
            }

            w.WriteEndArray();
            foreach (var (k, v) in extra ?? new Dictionary<string, string>())
            {
                w.WriteString(k, v);
            }

            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(ms.ToArray()) + "\n";
    }
}
