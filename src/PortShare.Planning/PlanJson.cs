using System.Buffers;
using System.Globalization;
using System.IO.Hashing;
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

    /// <summary>The plan as UTF-8 JSON (what <see cref="PlanFile.Save"/> writes), without a detour through a string.</summary>
    public static byte[] SerializeToUtf8Bytes(Plan plan) => SerializeToUtf8(plan, stamp: false).ToArray();

    /// <summary>The plan as UTF-8 JSON, with the "validated" digest appended when <paramref name="stamp"/> (a plan that
    /// passed <see cref="PlanValidator"/>): one buffer sized for the plan, the digest written over its closing brace, so a
    /// fleet's 5 MB is not copied about.</summary>
    internal static ReadOnlyMemory<byte> SerializeToUtf8(Plan plan, bool stamp) => SerializeToUtf8(plan, stamp ? s_yes : s_no);

    private static readonly Func<bool> s_yes = () => true;
    private static readonly Func<bool> s_no = () => false;

    /// <summary>As <see cref="SerializeToUtf8(Plan, bool)"/>, asking <paramref name="stamp"/> whether to stamp only once the
    /// body is written: <see cref="PlanFile.Save"/> validates a fleet's plan meanwhile.</summary>
    internal static ReadOnlyMemory<byte> SerializeToUtf8(Plan plan, Func<bool> stamp)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(stamp);
        var slices = 0;
        foreach (var e in plan.Egress)
        {
            slices += e.Slices.Count + e.Moves.Count;
        }

        var buffer = Write(plan, PlanningJsonContext.Default.Plan, (slices * 40) + (64 * 1024));
        if (!stamp())
        {
            return buffer.WrittenMemory;
        }

        // The body is kept where it is; what followed it (the closing brace) is written over with the stamp.
        var written = buffer.WrittenSpan;
        var body = written[..written.LastIndexOf((byte)'}')].TrimEnd("\n "u8).Length;
        var digest = Digest(written[..body]);
        buffer.ResetWrittenCount();
        buffer.Advance(body);
        var tail = buffer.GetSpan(StampStart.Length + DigestLength + StampEnd.Length);
        StampStart.CopyTo(tail);
        Encoding.ASCII.GetBytes(digest, tail[StampStart.Length..]);
        StampEnd.CopyTo(tail[(StampStart.Length + DigestLength)..]);
        buffer.Advance(StampStart.Length + DigestLength + StampEnd.Length);
        return buffer.WrittenMemory;
    }

    /// <summary>Parses a plan; <paramref name="source"/> names the input in error messages. Does not validate.</summary>
    public static Plan DeserializePlan(string json, string source = "plan") => DeserializePlan(Utf8(json), source);

    /// <summary>Parses a plan from UTF-8 bytes (a file as read); reads versions 1 to 3. Does not validate.</summary>
    public static Plan DeserializePlan(ReadOnlySpan<byte> utf8, string source = "plan") =>
        Read(utf8, source, Plan.OldestReadableVersion, Plan.CurrentVersion, PlanningJsonContext.Default.Plan);

    /// <summary>Parses only what <paramref name="host"/> needs of a plan: every egress IP with its rules, and that
    /// host's slices and next hops (the other hosts' are skipped unparsed). Does not validate.</summary>
    internal static Plan DeserializePlanFor(ReadOnlySpan<byte> utf8, string host, string source)
    {
        utf8 = WithoutBom(utf8);
        CheckVersion(utf8, source, Plan.OldestReadableVersion, Plan.CurrentVersion);
        try
        {
            var reader = new Utf8JsonReader(utf8);
            reader.Read();
            return new PlanJsonConverter(host).Read(ref reader, typeof(Plan), PlanningJsonContext.Default.Options);
        }
        catch (JsonException ex)
        {
            throw new PlanFileException(source, Describe(ex), ex);
        }
    }

    // The last member of a plan PortShare wrote after validating it: a digest of everything before it. A reader that
    // finds the digest matching knows the bytes are the validated ones and need not validate again; an edited file
    // (or a newer validator: the salt names its rules) no longer matches and is validated in full. The digest is XXH128:
    // it guards against edits, not against someone who would write a matching digest (who could as well write a valid
    // plan), and reads a fleet's 5 MB in about a millisecond where SHA-256 took ten, on every command reading the plan.
    // A plan stamped "sha256:" by an earlier release is not recognised, so it is validated in full once read.
    private static ReadOnlySpan<byte> StampStart => ",\n  \"validated\": \"xxh128:"u8;

    private const int DigestLength = 32;

    private static ReadOnlySpan<byte> StampEnd => "\"\n}\n"u8;

    /// <summary>
    /// Sets up, on the calling thread, what the first read of a plan or spec sets up once per process: the JSON reader's
    /// tables (its static constructor builds search values and compiles them at run time, some milliseconds), the
    /// serializer context and the encoder. A command that will read a plan calls this on an idle core while it starts, so
    /// its reading does not wait for them; with <paramref name="spec"/>, also the serializer's contract for a spec (made
    /// at its first read: tens of members' metadata, the larger part of reading a spec). Harmless to call at any time,
    /// from any thread.
    /// </summary>
    internal static void WarmUp(bool spec)
    {
        var reader = new Utf8JsonReader("{\"version\": \"1\"}"u8);
        while (reader.Read())
        {
        }

        _ = PlanningJsonContext.Default.Options;
        _ = JsonEncodedText.Encode("portshare");
        if (spec)
        {
            _ = JsonSerializer.Deserialize("{\"version\": 1, \"egress\": [], \"hosts\": []}"u8, PlanningJsonContext.Default.PlanSpec);
        }
    }

    private static ReadOnlySpan<byte> StampSalt => "portshare plan validator 4\n"u8;

    /// <summary>True when the file ends with a "validated" digest that matches its content.</summary>
    internal static bool IsStamped(ReadOnlySpan<byte> utf8)
    {
        var tail = utf8.TrimEnd("\n \r"u8);
        var at = tail.LastIndexOf(StampStart);
        if (at < 0 || tail.Length - at != StampStart.Length + DigestLength + 3 || !tail.EndsWith("\"\n}"u8))
        {
            return false;
        }

        Span<char> hex = stackalloc char[DigestLength];
        Encoding.ASCII.GetChars(tail.Slice(at + StampStart.Length, DigestLength), hex);
        return hex.SequenceEqual(Digest(WithoutBom(tail[..at])));
    }

    private static string Digest(ReadOnlySpan<byte> body)
    {
        var hash = new XxHash128();
        hash.Append(StampSalt);
        hash.Append(body);
        return Convert.ToHexStringLower(hash.GetCurrentHash());
    }

    /// <summary>
    /// Where each egress IP's slice lines are in a stamped plan (bytes PortShare wrote, so laid out as its writer lays
    /// them out: one slice a line in each egress IP's "slices" object), in order; null when the layout is not the
    /// expected one (the caller then reads the whole document).
    /// </summary>
    private static List<Range>? SliceBlocks(ReadOnlySpan<byte> utf8)
    {
        ReadOnlySpan<byte> open = "\n      \"slices\": {\n"u8;
        ReadOnlySpan<byte> close = "\n      }"u8;
        var blocks = new List<Range>();
        var pos = 0;
        while (utf8[pos..].IndexOf(open) is var at and >= 0)
        {
            var start = pos + at + open.Length;
            var length = utf8[start..].IndexOf(close);
            if (length < 0)
            {
                return null;
            }

            blocks.Add(start..(start + length));
            pos = start + length;
        }

        return blocks;
    }

    /// <summary>The document with every slices object's lines cut out but <paramref name="keep"/>'s (each object left as
    /// <c>{\n      }</c> or holding that one line); with <paramref name="keep"/>, the "hosts" object holds only its line
    /// too (10,000 hosts' next hops are most of what is left of a fleet's plan).</summary>
    private static byte[] WithoutSliceLines(ReadOnlySpan<byte> utf8, List<Range> blocks, string? keep)
    {
        var cuts = new List<(Range Block, byte[]? Key)>(blocks.Count + 1);
        if (keep is not null && HostsBlock(utf8) is { } hosts && (blocks.Count == 0 || hosts.End.Value <= blocks[0].Start.Value))
        {
            cuts.Add((hosts, Encoding.UTF8.GetBytes("    \"" + keep + "\": ")));
        }

        var key = keep is null ? null : Encoding.UTF8.GetBytes("        \"" + keep + "\": ");
        foreach (var block in blocks)
        {
            cuts.Add((block, key));
        }

        var output = new List<byte>(4096);
        var pos = 0;
        foreach (var (block, only) in cuts)
        {
            var (start, length) = block.GetOffsetAndLength(utf8.Length);
            output.AddRange(utf8[pos..start]);
            if (only is not null && LineOf(utf8.Slice(start, length), only) is { Length: > 0 } mine)
            {
                output.AddRange(mine.TrimEnd((byte)','));
            }

            pos = start + length;
        }

        output.AddRange(utf8[pos..]);
        return [.. output];

        static ReadOnlySpan<byte> LineOf(ReadOnlySpan<byte> block, byte[] key)
        {
            var at = block.StartsWith(key) ? 0 : block.IndexOf([(byte)'\n', .. key]) is var found and >= 0 ? found + 1 : -1;
            if (at < 0)
            {
                return [];
            }

            var rest = block[at..];
            var end = rest.IndexOf((byte)'\n');
            return end < 0 ? rest : rest[..end];
        }
    }

    // The lines of the "hosts" object as the writer lays them out (one host a line), or null.
    private static Range? HostsBlock(ReadOnlySpan<byte> utf8)
    {
        ReadOnlySpan<byte> open = "\n  \"hosts\": {\n"u8;
        var at = utf8.IndexOf(open);
        if (at < 0)
        {
            return null;
        }

        var start = at + open.Length;
        var length = utf8[start..].IndexOf("\n  }"u8);
        return length < 0 ? null : start..(start + length);
    }

    /// <summary>
    /// For a stamped plan, the same document with every other host's slice line and next hops left out: what reading one host's
    /// slices needs, without tokenising 160,000 others. Null when the layout is not the expected one.
    /// </summary>
    internal static byte[]? OnlySlicesOf(ReadOnlySpan<byte> utf8, string host) =>
        SliceBlocks(utf8) is { } blocks ? WithoutSliceLines(utf8, blocks, host) : null;

    /// <summary>
    /// Parses a stamped plan (see <see cref="IsStamped"/>) with its slice lines read straight from the bytes rather than
    /// through the JSON tokenizer (the rest of the document, a few kilobytes, is read as usual): the same plan as
    /// <see cref="DeserializePlan(ReadOnlySpan{byte}, string)"/>, in a fraction of the time for a fleet's 160,000
    /// slices. Null when the bytes are not laid out as PortShare writes them; the caller then reads them the usual way.
    /// </summary>
    internal static Plan? DeserializeStamped(byte[] utf8, string source)
    {
        var body = WithoutBom(utf8);
        if (body.Length != utf8.Length || SliceBlocks(body) is not { } blocks)
        {
            return null;
        }

        var skeleton = WithoutSliceLines(body, blocks, keep: null);
        CheckVersion(skeleton, source, Plan.OldestReadableVersion, Plan.CurrentVersion);
        try
        {
            var reader = new Utf8JsonReader(skeleton);
            reader.Read();
            return new PlanJsonConverter(utf8, blocks).Read(ref reader, typeof(Plan), PlanningJsonContext.Default.Options);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static ReadOnlySpan<byte> WithoutBom(ReadOnlySpan<byte> utf8) => utf8.StartsWith("\uFEFF"u8) ? utf8[3..] : utf8;

    /// <summary>Parses a spec; <paramref name="source"/> names the input in error messages. Does not validate.</summary>
    public static PlanSpec DeserializeSpec(string json, string source = "spec") => DeserializeSpec(Utf8(json), source);

    public static PlanSpec DeserializeSpec(ReadOnlySpan<byte> utf8, string source = "spec") =>
        Read(utf8, source, PlanSpec.CurrentVersion, PlanSpec.CurrentVersion, PlanningJsonContext.Default.PlanSpec);

    public static PlanHistory DeserializeHistory(string json, string source = "history") => DeserializeHistory(Utf8(json), source);

    public static PlanHistory DeserializeHistory(ReadOnlySpan<byte> utf8, string source = "history") =>
        Read(utf8, source, PlanHistory.OldestReadableVersion, PlanHistory.CurrentVersion, PlanningJsonContext.Default.PlanHistory);

    private static byte[] Utf8(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        return Encoding.UTF8.GetBytes(json);
    }

    private static string Write<T>(T value, JsonTypeInfo<T> type) => Encoding.UTF8.GetString(WriteUtf8(value, type));

    private static byte[] WriteUtf8<T>(T value, JsonTypeInfo<T> type) => Write(value, type, 64 * 1024).WrittenSpan.ToArray();

    private static ArrayBufferWriter<byte> Write<T>(T value, JsonTypeInfo<T> type, int capacity)
    {
        var buffer = new ArrayBufferWriter<byte>(capacity);
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true, Encoder = type.Options.Encoder }))
        {
            JsonSerializer.Serialize(writer, value, type);
        }

        buffer.Write("\n"u8);
        return buffer;
    }

    private static T Read<T>(ReadOnlySpan<byte> utf8, string source, int oldest, int newest, JsonTypeInfo<T> type)
        where T : class
    {
        // A byte-order mark is legal in a file but not in JSON.
        utf8 = WithoutBom(utf8);

        CheckVersion(utf8, source, oldest, newest);
        try
        {
            return JsonSerializer.Deserialize(utf8, type) ?? throw new PlanFileException(source, "the file holds null, not an object.");
        }
        catch (JsonException ex)
        {
            throw new PlanFileException(source, Describe(ex), ex);
        }
    }

    // Checked before binding, so a newer file says "unsupported version" rather than "unknown field". The version is
    // the first member of every file PortShare writes, so this reads a few bytes; elsewhere it skips to it.
    private static void CheckVersion(ReadOnlySpan<byte> utf8, string source, int oldest, int newest)
    {
        // What this portshare reads, for a message (only then formatted: this runs for every file read).
        string Reads() => oldest == newest
            ? string.Create(CultureInfo.InvariantCulture, $"version {newest}")
            : string.Create(CultureInfo.InvariantCulture, $"versions {oldest} to {newest}");

        var reader = new Utf8JsonReader(utf8);
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                var found = reader.TokenType == JsonTokenType.None ? "nothing" : reader.TokenType.ToString().ToLowerInvariant();
                throw new PlanFileException(source, $"expected a JSON object, found {found}.");
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isVersion = reader.ValueTextEquals("version"u8);
                reader.Read();
                if (!isVersion)
                {
                    reader.Skip();
                    continue;
                }

                if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt32(out var v) || v < oldest || v > newest)
                {
                    var raw = Encoding.UTF8.GetString(reader.HasValueSequence ? reader.ValueSequence.ToArray() : reader.ValueSpan);
                    raw = reader.TokenType == JsonTokenType.String ? $"\"{raw}\"" : raw;
                    throw new PlanFileException(source, $"unsupported version {raw} (this portshare reads {Reads()}).");
                }

                return;
            }
        }
        catch (JsonException ex)
        {
            throw new PlanFileException(source, $"not valid JSON: {Describe(ex)}", ex);
        }

        throw new PlanFileException(source, $"the \"version\" field is missing (this portshare reads {Reads()}).");
    }

    private static string Describe(JsonException ex)
    {
        var message = ex.Message;
        var cut = message.IndexOf(" Path: ", StringComparison.Ordinal);
        if (cut >= 0)
        {
            message = message[..cut];
        }

        // STJ names CLR types and nullability annotations; people wrote JSON.
        if (message.Contains("doesn't allow null values", StringComparison.Ordinal))
        {
            message = "a required value is null";
        }

        message = message.Replace(" contained in type 'PortShare.Planning.", " of '", StringComparison.Ordinal);
        if (message.StartsWith("The JSON value could not be converted to ", StringComparison.Ordinal))
        {
            var type = message["The JSON value could not be converted to ".Length..].TrimEnd('.');
            message = "the value is not " + type switch
            {
                _ when type.Contains("IReadOnlyList", StringComparison.Ordinal) || type.Contains("List`1", StringComparison.Ordinal) => "a list",
                _ when type.Contains("Int32", StringComparison.Ordinal) || type.Contains("Int64", StringComparison.Ordinal) => "a whole number",
                _ when type.Contains("Boolean", StringComparison.Ordinal) => "true or false",
                _ when type.Contains("String", StringComparison.Ordinal) => "a string",
                _ when type.Contains("DateTimeOffset", StringComparison.Ordinal) => "a time in ISO 8601",
                _ => "of the expected kind (an object)",
            };
        }
        var where = new StringBuilder();
        if (!string.IsNullOrEmpty(ex.Path) && ex.Path != "$")
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
        : base($"{source}: {problems.Count:N0} problem(s): {Summarize(problems)}")
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
    /// <summary>
    /// Loads a valid plan; throws <see cref="PlanFileException"/> listing every error. A plan is validated once: when
    /// PortShare writes it (<see cref="Save"/> stamps a valid plan with a digest of its bytes), or on load when the file
    /// has no matching digest (hand-edited, or written by another tool).
    /// </summary>
    public static Plan Load(string path)
    {
        var bytes = ReadBytes(path);
        var stamped = PlanJson.IsStamped(bytes);
        return stamped
            ? PlanJson.DeserializeStamped(bytes, path) ?? PlanJson.DeserializePlan(bytes, path)
            : Validated(PlanJson.DeserializePlan(bytes, path), path);
    }

    /// <summary>
    /// What <paramref name="host"/> needs of a plan (a fleet's has 160,000 slices; a host boots with its own): every
    /// egress IP with its rules, and that host's slices only. A plan stamped valid is read without parsing the other
    /// hosts' slices; any other is loaded and validated in full, as by <see cref="Load"/> (so is one without the host, so
    /// that the caller's error can name the hosts there are).
    /// </summary>
    public static Plan LoadForHost(string path, string host)
    {
        ArgumentNullException.ThrowIfNull(host);
        var bytes = ReadBytes(path);
        if (!PlanJson.IsStamped(bytes))
        {
            return Validated(PlanJson.DeserializePlan(bytes, path), path);
        }

        var mine = PlanJson.DeserializePlanFor(PlanJson.OnlySlicesOf(bytes, host) ?? bytes, host, path);
        return mine.Egress.Any(e => e.Slices.Count > 0) ? mine : PlanJson.DeserializeStamped(bytes, path) ?? PlanJson.DeserializePlan(bytes, path);
    }

    private static Plan Validated(Plan plan, string path)
    {
        var errors = PlanValidator.Validate(plan).Where(i => i.Severity == IssueSeverity.Error).Select(i => i.Message).ToList();
        return errors.Count == 0 ? plan : throw new PlanFileException(path, errors);
    }

    /// <summary>Loads a plan without validating it (for <c>plan validate</c>, which reports the issues itself).</summary>
    public static Plan LoadUnvalidated(string path)
    {
        var bytes = ReadBytes(path);
        return (PlanJson.IsStamped(bytes) ? PlanJson.DeserializeStamped(bytes, path) : null) ?? PlanJson.DeserializePlan(bytes, path);
    }

    /// <summary>Loads and validates a spec; throws <see cref="PlanFileException"/> listing every error.</summary>
    public static PlanSpec LoadSpec(string path)
    {
        var spec = PlanJson.DeserializeSpec(ReadBytes(path), path);
        var errors = SpecValidator.Validate(spec);
        return errors.Count == 0 ? spec : throw new PlanFileException(path, errors);
    }

    /// <summary>
    /// Writes the plan (see <see cref="SafeFile"/>: atomic, never over one of <paramref name="inputs"/>); a plan that
    /// passes <see cref="PlanValidator"/> is stamped as validated.
    /// </summary>
    public static void Save(Plan plan, string path, IEnumerable<string>? inputs = null)
    {
        ArgumentNullException.ThrowIfNull(plan);

        // A fleet's plan is validated while it is formatted: each spreads over the cores, and each has stretches on one
        // core (matching names to hosts, the next hops, the hosts object) that the other fills. A small plan is validated
        // here, once formatted. Either way the stamp waits for the verdict.
        var valid = Fanout.Beside(Fanout.SliceCount(plan.Egress), () => IsValid(plan));
        SafeFile.Write(path, PlanJson.SerializeToUtf8(plan, valid), "-o", inputs);
    }

    private static bool IsValid(Plan plan) => PlanValidator.Validate(plan).All(i => i.Severity != IssueSeverity.Error);

    internal static byte[] ReadBytes(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            var why = ex switch
            {
                FileNotFoundException or DirectoryNotFoundException => "no such file.",
                _ when Directory.Exists(path) => "is a directory, not a file.",
                _ => ex.Message,
            };
            throw new PlanFileException(path, why, ex);
        }
    }

    /// <summary>Writes through <see cref="SafeFile"/>: atomically, so a reader never sees half a plan.</summary>
    internal static void WriteText(string path, string text, string what = "the output", IEnumerable<string>? inputs = null) =>
        SafeFile.Write(path, text, what, inputs);
}
