using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace PortShare.Planning;

/// <summary>Reads and writes specs, plans and history as JSON through <see cref="PlanningJsonContext"/>.</summary>
public static class PlanJson
{
    public static string Serialize(Plan plan) => Write(plan, PlanningJsonContext.Default.Plan);

    public static string Serialize(PlanSpec spec) => Write(spec, PlanningJsonContext.Default.PlanSpec);

    public static string Serialize(PlanHistory history) => Write(history, PlanningJsonContext.Default.PlanHistory);

    /// <summary>Parses a plan; <paramref name="source"/> names the input in error messages. Does not validate.</summary>
    public static Plan DeserializePlan(string json, string source = "plan") =>
        Read(json, source, Plan.CurrentVersion, PlanningJsonContext.Default.Plan);

    /// <summary>Parses a spec; <paramref name="source"/> names the input in error messages. Does not validate.</summary>
    public static PlanSpec DeserializeSpec(string json, string source = "spec") =>
        Read(json, source, PlanSpec.CurrentVersion, PlanningJsonContext.Default.PlanSpec);

    public static PlanHistory DeserializeHistory(string json, string source = "history") =>
        Read(json, source, PlanHistory.CurrentVersion, PlanningJsonContext.Default.PlanHistory);

    private static string Write<T>(T value, JsonTypeInfo<T> type) => JsonSerializer.Serialize(value, type) + "\n";

    private static T Read<T>(string json, string source, int version, JsonTypeInfo<T> type)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(json);
        CheckVersion(json, source, version);
        try
        {
            return JsonSerializer.Deserialize(json, type) ?? throw new PlanFileException(source, "the file holds null, not an object.");
        }
        catch (JsonException ex)
        {
            throw new PlanFileException(source, Describe(ex), ex);
        }
    }

    // Checked before binding, so a newer file says "unsupported version" rather than "unknown field".
    private static void CheckVersion(string json, string source, int version)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json);
        }
        catch (JsonException ex)
        {
            throw new PlanFileException(source, $"not valid JSON: {Describe(ex)}", ex);
        }

        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new PlanFileException(source, $"expected a JSON object, found {doc.RootElement.ValueKind.ToString().ToLowerInvariant()}.");
            }

            if (!doc.RootElement.TryGetProperty("version", out var v))
            {
                throw new PlanFileException(source, $"the \"version\" field is missing (this portshare reads version {version}).");
            }

            if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out var found) || found != version)
            {
                throw new PlanFileException(source, $"unsupported version {v.GetRawText()} (this portshare reads version {version}).");
            }
        }
    }

    private static string Describe(JsonException ex)
    {
        var message = ex.Message;
        var cut = message.IndexOf(" Path: ", StringComparison.Ordinal);
        if (cut >= 0)
        {
            message = message[..cut];
        }

        // STJ names CLR types; people wrote JSON.
        message = message.Replace(" contained in type 'PortShare.Planning.", " of '", StringComparison.Ordinal);
        var where = new StringBuilder();
        if (!string.IsNullOrEmpty(ex.Path))
        {
            where.Append("at ").Append(ex.Path);
        }

        if (ex.LineNumber is { } line)
        {
            where.Append(where.Length > 0 ? ", " : string.Empty).Append("line ").Append(line + 1);
        }

        return where.Length > 0 ? $"{message.TrimEnd('.')} ({where})." : message;
    }
}

/// <summary>A spec, plan or history file cannot be read or is invalid; <see cref="Problems"/> lists every problem.</summary>
public sealed class PlanFileException : PortShareException
{
    public PlanFileException(string source, string problem, Exception? inner = null)
        : base($"{source}: {problem}", inner)
    {
        Origin = source;
        Problems = [problem];
    }

    public PlanFileException(string source, IReadOnlyList<string> problems)
        : base($"{source}: {problems.Count} problem(s): {string.Join(" | ", problems)}")
    {
        Origin = source;
        Problems = problems;
    }

    public PlanFileException(string message)
        : base(message)
    {
        Problems = [message];
    }

    public PlanFileException(string message, Exception innerException)
        : base(message, innerException)
    {
        Problems = [message];
    }

    public PlanFileException()
    {
        Problems = [];
    }

    /// <summary>The file (or other input) the problems are in.</summary>
    public string? Origin { get; }

    public IReadOnlyList<string> Problems { get; }
}

/// <summary>File access for plans and specs: what applications and the CLI call.</summary>
public static class PlanFile
{
    /// <summary>Loads and validates a plan; throws <see cref="PlanFileException"/> listing every error.</summary>
    public static Plan Load(string path)
    {
        var plan = PlanJson.DeserializePlan(ReadText(path), path);
        var errors = PlanValidator.Validate(plan).Where(i => i.Severity == IssueSeverity.Error).Select(i => i.Message).ToList();
        return errors.Count == 0 ? plan : throw new PlanFileException(path, errors);
    }

    /// <summary>Loads a plan without validating it (for <c>plan validate</c>, which reports the issues itself).</summary>
    public static Plan LoadUnvalidated(string path) => PlanJson.DeserializePlan(ReadText(path), path);

    /// <summary>Loads and validates a spec; throws <see cref="PlanFileException"/> listing every error.</summary>
    public static PlanSpec LoadSpec(string path)
    {
        var spec = PlanJson.DeserializeSpec(ReadText(path), path);
        var errors = SpecValidator.Validate(spec);
        return errors.Count == 0 ? spec : throw new PlanFileException(path, errors);
    }

    public static void Save(Plan plan, string path) => WriteText(path, PlanJson.Serialize(plan));

    internal static string ReadText(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new PlanFileException(path, ex is FileNotFoundException or DirectoryNotFoundException ? "no such file." : ex.Message, ex);
        }
    }

    /// <summary>Writes through a temporary file and a rename, so a reader never sees half a plan.</summary>
    internal static void WriteText(string path, string text)
    {
        ArgumentNullException.ThrowIfNull(path);
        var full = Path.GetFullPath(path);
        var temp = Path.Combine(Path.GetDirectoryName(full) ?? ".", $".{Path.GetFileName(full)}.{Environment.ProcessId}.tmp");
        File.WriteAllText(temp, text, new UTF8Encoding(false));
        File.Move(temp, full, overwrite: true);
    }
}
