using System.Buffers;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace PortShare.Planning;

/// <summary>
/// The plan file: reads versions 1 to 3, writes version 2 (3 when it records moves). Hand-written over <see cref="Utf8JsonReader"/> because a
/// fleet's plan holds 160,000 slices and the generated serializer spent most of a command's time building and
/// discarding per-slice objects. Version 2 (schemas/plan.schema.json):
/// <code>
/// { "version": 2, "generation": 1, "min_slice_size": 2, "alignment": 2,
///   "hosts": { "web-1": { "next_hops": ["198.51.100.2", "2001:db8:100::2"] } },
///   "egress": [ { "address": "192.0.2.1", "usable_range": "32768-60999", "reserved": [], "spare": [],
///                 "slices": { "web-1": "32768-39999,40100-40191" } } ] }
/// </code>
/// Version 1 listed every slice as <c>{ "host", "next_hop", "ranges": [] }</c>. Version 3 is version 2 with the moves
/// still recorded (an egress IP's optional <c>"moves"</c>, see <see cref="PortMove"/>):
/// <code>
///   "moves": [ { "ports": "40000-40127", "from": "h1", "from_next_hop": "198.51.100.2", "to": "h3",
///                "moved_at": "2026-11-25T12:00:30Z", "quarantine_seconds": 60 } ]
/// </code>
/// A plan without moves is written as version 2, so a release before quarantines reads it. Unknown members are rejected
/// and every error names where it is; addresses are parsed here, once (a bad address is a read error, not a validation
/// issue).
/// </summary>
public sealed class PlanJsonConverter : JsonConverter<Plan>
{
    private readonly string? _only;
    private readonly byte[]? _onlyUtf8;

    // Reading a stamped plan whose slices objects were cut out (PlanJson.DeserializeStamped): the file's bytes and,
    // in order, where each egress IP's slice lines are in them.
    private readonly byte[]? _file;
    private readonly IReadOnlyList<Range>? _blocks;
    private int _nextBlock;

    public PlanJsonConverter()
    {
    }

    /// <summary>A reader that keeps only <paramref name="host"/>'s slices (and next hops), skipping the rest unparsed:
    /// what a host needs of a fleet's plan (<see cref="PlanFile.LoadForHost"/>).</summary>
    internal PlanJsonConverter(string host)
    {
        _only = host;
        _onlyUtf8 = Encoding.UTF8.GetBytes(host);
    }

    /// <summary>A reader of a document whose slices objects are empty, each filled from its block of slice lines in
    /// <paramref name="file"/> (one <c>"host": "LO-HI"</c> a line, as PortShare writes them).</summary>
    internal PlanJsonConverter(byte[] file, IReadOnlyList<Range> blocks)
    {
        _file = file;
        _blocks = blocks;
    }

    public override Plan Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        Expect(ref reader, JsonTokenType.StartObject, "the plan");
        int? version = null, minSliceSize = null, alignment = null;
        long? generation = null;
        MapShape? map = null;
        Dictionary<string, HostHops>? hosts = null;
        List<EgressDraft>? egress = null;
        while (NextMember(ref reader, "the plan") is { } name)
        {
            switch (name)
            {
                case "version": version = ReadInt32(ref reader, "version"); break;
                case "generation": generation = ReadInt64(ref reader, "generation"); break;
                case "min_slice_size": minSliceSize = ReadInt32(ref reader, "min_slice_size"); break;
                case "alignment": alignment = ReadInt32(ref reader, "alignment"); break;
                case "map": map = reader.TokenType == JsonTokenType.Null ? null : JsonSerializer.Deserialize(ref reader, PlanningJsonContext.Default.MapShape); break;
                case "hosts": hosts = ReadHosts(ref reader); break;
                case "egress": egress = ReadEgressList(ref reader, hosts); break;
                case "validated": ReadString(ref reader, "validated"); break; // checked on the file's bytes (PlanFile)
                default: throw Unknown(name, "$");
            }
        }

        var v = version ?? throw Missing("version", "$");
        if (v is < Plan.OldestReadableVersion or > Plan.CurrentVersion)
        {
            throw new JsonException(string.Create(CultureInfo.InvariantCulture, $"unsupported version {v} (this portshare reads versions {Plan.OldestReadableVersion} to {Plan.CurrentVersion})"));
        }

        if (v < 3 && egress?.FirstOrDefault(e => e.Moves.Count > 0) is { } withMoves)
        {
            throw new JsonException($"{withMoves.Where}: \"moves\" is a version 3 member; a version {v} plan records no moves (write \"version\": 3)");
        }

        if ((v == 1) != (hosts is null))
        {
            throw new JsonException(v == 1 ? "\"hosts\" is a version 2 member; a version 1 plan gives each slice its \"next_hop\"" : $"the \"hosts\" member is missing: a version {v} plan lists each host's next hops there");
        }

        var list = egress ?? throw Missing("egress", "$");
        if (_blocks is not null && _nextBlock != _blocks.Count)
        {
            throw new JsonException("slice lines outside the egress IPs' slices objects");
        }

        var plans = new EgressPlan[list.Count];
        if (_blocks is not null)
        {
            // Each egress IP's slice lines, side by side, straight into its slices (about a slice a line of 20 to 40 bytes).
            long bytes = 0;
            foreach (var block in _blocks)
            {
                bytes += block.GetOffsetAndLength(_file!.Length).Length;
            }

            Fanout.Runs(list.Count, bytes / 24, (from, to) =>
            {
                HostHops[] order = [];
                for (var i = from; i < to; i++)
                {
                    var draft = list[i];
                    plans[i] = draft.Block < 0 ? draft.Build(hosts) : draft.Build(ReadSliceLines(_file.AsSpan()[_blocks[draft.Block]], draft, hosts!, ref order));
                }
            });
        }
        else
        {
            for (var i = 0; i < list.Count; i++)
            {
                plans[i] = list[i].Build(hosts);
            }
        }

        return new Plan
        {
            Version = v,
            Generation = generation ?? throw Missing("generation", "$"),
            MinSliceSize = minSliceSize ?? throw Missing("min_slice_size", "$"),
            Alignment = alignment ?? throw Missing("alignment", "$"),
            Map = map,
            Egress = plans,
        };
    }

    public override void Write(Utf8JsonWriter writer, Plan value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(value);
        writer.WriteStartObject();
        writer.WriteNumber("version", value.HasMoves ? Plan.CurrentVersion : Plan.VersionWithoutMoves);
        writer.WriteNumber("generation", value.Generation);
        writer.WriteNumber("min_slice_size", value.MinSliceSize);
        writer.WriteNumber("alignment", value.Alignment);
        if (value.Map is { } map)
        {
            writer.WritePropertyName("map");
            JsonSerializer.Serialize(writer, map, PlanningJsonContext.Default.MapShape);
        }

        // Each host once, in order of first appearance, one line each: its next hops, one per address family. Hosts by id
        // (HostIds): an egress IP's slices mostly list the hosts of the one before in the same order, so a fleet's 160,000
        // slices are matched to their hosts by comparing names with that guess, hashing only where it fails.
        var ids = new HostIds(value.Egress.Count > 0 ? value.Egress[0].Slices.Count : 0);
        var hops = new List<List<IPAddress>>();
        var sliceIds = new int[value.Egress.Count][];
        int[]? guess = null;
        for (var i = 0; i < sliceIds.Length; i++)
        {
            var slices = ListSpan.Of(value.Egress[i].Slices);
            var of = guess = sliceIds[i] = ids.Of(value.Egress[i].Slices, guess, add: true);
            for (var k = 0; k < of.Length; k++)
            {
                var id = of[k];
                while (hops.Count <= id)
                {
                    hops.Add([]);
                }

                // The hosts' slices usually share one parsed address: compared by reference first.
                var list = hops[id];
                var hop = slices[k].NextHop;
                var known = false;
                foreach (var h in list)
                {
                    known |= ReferenceEquals(h, hop) || h.Equals(hop);
                }

                if (!known)
                {
                    list.Add(hop);
                }
            }
        }

        // Formatted straight to UTF-8 like the slices (AppendSlicesObject): one line a host.
        var raw = new ArrayBufferWriter<byte>(256 + (ids.Count * 48));
        if (ids.Count == 0)
        {
            Append(raw, "{}"u8);
        }
        else
        {
            Append(raw, "{\n"u8);
            Span<byte> address = stackalloc byte[64];
            for (var i = 0; i < ids.Count; i++)
            {
                Append(raw, "    "u8);
                AppendQuoted(raw, ids[i]);
                Append(raw, ": {\"next_hops\": ["u8);
                var first = true;
                foreach (var hop in hops[i])
                {
                    Append(raw, first ? "\""u8 : ", \""u8);
                    Append(raw, address[..FormatAddress(hop, address)]);
                    Append(raw, "\""u8);
                    first = false;
                }

                Append(raw, i < ids.Count - 1 ? "]},\n"u8 : "]}\n"u8);
            }

            Append(raw, "  }"u8);
        }

        writer.WritePropertyName("hosts");
        writer.WriteRawValue(raw.WrittenSpan, skipInputValidation: true);

        // Each egress IP's slices object, formatted side by side (Fanout), each run of egress IPs into one buffer sized for
        // it (about 40 bytes a slice line), with its own table of encoded names by host id.
        var slicesObjects = new ReadOnlyMemory<byte>[value.Egress.Count];
        Fanout.Runs(slicesObjects.Length, Fanout.SliceCount(value.Egress), (from, to) =>
        {
            long size = 64;
            for (var i = from; i < to; i++)
            {
                size += 16 + (value.Egress[i].Slices.Count * 40L);
            }

            var names = new byte[]?[ids.Count];
            var output = new ArrayBufferWriter<byte>((int)Math.Min(size, Array.MaxLength));
            for (var i = from; i < to; i++)
            {
                // A slice taken before the buffer grows stays valid: it keeps the array it was written in.
                var start = output.WrittenCount;
                AppendSlicesObject(value.Egress[i].Slices, sliceIds[i], names, output);
                slicesObjects[i] = output.WrittenMemory[start..];
            }
        });

        var line = new StringBuilder();
        writer.WriteStartArray("egress");
        Span<byte> buffer = stackalloc byte[64];
        for (var i = 0; i < value.Egress.Count; i++)
        {
            var e = value.Egress[i];
            writer.WriteStartObject();
            writer.WriteString("address", AddressText.Format(e.Address));
            writer.WritePropertyName("usable_range");
            WriteRanges(writer, [e.UsableRange], buffer);
            WriteRangeArray(writer, "reserved", e.Reserved, buffer);
            WriteRangeArray(writer, "spare", e.Spare, buffer);
            writer.WritePropertyName("slices");
            writer.WriteRawValue(slicesObjects[i].Span, skipInputValidation: true);
            if (e.Moves.Count > 0)
            {
                // One line a move, like the hosts: a compact re-plan of a fleet records a move for every slice.
                writer.WriteStartArray("moves");
                foreach (var m in e.Moves)
                {
                    // A raw array element gets no line break from the writer: it starts with its own (the file's indent).
                    line.Clear().Append("\n        {\"ports\": \"").AppendJoin(',', m.Ports).Append("\", \"from\": ").Append(Quote(m.From))
                        .Append(", \"from_next_hop\": \"").Append(m.FromNextHop).Append('"');
                    if (m.To is not null)
                    {
                        line.Append(", \"to\": ").Append(Quote(m.To));
                    }

                    line.Append(", \"moved_at\": \"").Append(m.MovedAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", CultureInfo.InvariantCulture))
                        .Append("\", \"quarantine_seconds\": ").Append(m.QuarantineSeconds.ToString(CultureInfo.InvariantCulture)).Append('}');
                    writer.WriteRawValue(line.ToString(), skipInputValidation: true);
                }

                writer.WriteEndArray();
            }

            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        writer.WriteEndObject();
    }

    /// <summary>
    /// An egress IP's "slices" object as the indented writer lays it out — one <c>"host": "LO-HI"</c> member a line,
    /// the layout <see cref="PlanJson.OnlySlicesOf"/> relies on — formatted straight to UTF-8: 160,000 members through the
    /// writer's property and string calls cost a fleet's <c>plan new</c> most of its writing time. Each host's name is
    /// encoded (and escaped) once for every egress IP.
    /// </summary>
    private static void AppendSlicesObject(IReadOnlyList<HostSlice> list, int[] ids, byte[]?[] names, ArrayBufferWriter<byte> output)
    {
        var slices = ListSpan.Of(list);
        if (slices.Length == 0)
        {
            Append(output, "{}"u8);
            return;
        }

        Append(output, "{\n"u8);
        for (var i = 0; i < slices.Length; i++)
        {
            var s = slices[i];
            var name = names[ids[i]] ??= Encoding.UTF8.GetBytes("        " + Quote(s.Host) + ": \"");

            var ranges = ListSpan.Of(s.Ranges);
            var span = output.GetSpan(name.Length + (ranges.Length * 12) + 3);
            name.CopyTo(span);
            var n = name.Length + FormatRanges(ranges, span[name.Length..]);

            span[n++] = (byte)'"';
            if (i < slices.Length - 1)
            {
                span[n++] = (byte)',';
            }

            span[n++] = (byte)'\n';
            output.Advance(n);
        }

        Append(output, "      }"u8);
    }

    /// <summary>A host name as a JSON string; a valid one (ASCII letters, digits, '.', '_', '-': nothing to escape) copied
    /// as it is.</summary>
    private static void AppendQuoted(ArrayBufferWriter<byte> to, string name)
    {
        if (!PlanValidator.IsValidHostName(name))
        {
            Append(to, Encoding.UTF8.GetBytes(Quote(name)));
            return;
        }

        var span = to.GetSpan(name.Length + 2);
        span[0] = (byte)'"';
        for (var i = 0; i < name.Length; i++)
        {
            span[i + 1] = (byte)name[i];
        }

        span[name.Length + 1] = (byte)'"';
        to.Advance(name.Length + 2);
    }

    /// <summary>An address as UTF-8 into <paramref name="text"/> (64 bytes); the length. IPv4 by hand: the runtime's
    /// formatter is compiled at first use in every process, for 10,000 next hops.</summary>
    private static int FormatAddress(IPAddress address, Span<byte> text)
    {
        Span<byte> bytes = stackalloc byte[4];
        if (address.AddressFamily != AddressFamily.InterNetwork || !address.TryWriteBytes(bytes, out _))
        {
            address.TryFormat(text, out var written);
            return written;
        }

        var n = 0;
        for (var i = 0; i < 4; i++)
        {
            if (i > 0)
            {
                text[n++] = (byte)'.';
            }

            var b = bytes[i];
            if (b >= 100)
            {
                text[n++] = (byte)('0' + (b / 100));
            }

            if (b >= 10)
            {
                text[n++] = (byte)('0' + (b / 10 % 10));
            }

            text[n++] = (byte)('0' + (b % 10));
        }

        return n;
    }

    private static void Append(ArrayBufferWriter<byte> to, ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(to.GetSpan(bytes.Length));
        to.Advance(bytes.Length);
    }

    /// <summary>A string as a JSON literal, quotes and escapes included (host names are plain in a valid plan).</summary>
    private static string Quote(string value) => "\"" + JsonEncodedText.Encode(value).ToString() + "\"";

    /// <summary>Ranges as one string, <c>LO-HI[,LO-HI…]</c> (a single port as <c>P</c>), formatted straight to UTF-8.</summary>
    private static void WriteRanges(Utf8JsonWriter writer, IReadOnlyList<PortRange> ranges, Span<byte> buffer)
    {
        var text = ranges.Count * 12 <= buffer.Length ? buffer : new byte[ranges.Count * 12];
        var n = FormatRanges(ListSpan.Of(ranges), text);
        writer.WriteStringValue(text[..n]);
    }

    /// <summary><c>LO-HI[,LO-HI…]</c> (a single port as <c>P</c>) into <paramref name="text"/> (12 bytes a range); the length.</summary>
    private static int FormatRanges(ReadOnlySpan<PortRange> ranges, Span<byte> text)
    {
        var n = 0;
        for (var i = 0; i < ranges.Length; i++)
        {
            if (i > 0)
            {
                text[n++] = (byte)',';
            }

            var r = ranges[i];
            r.Low.TryFormat(text[n..], out var written, default, CultureInfo.InvariantCulture);
            n += written;
            if (r.High != r.Low)
            {
                text[n++] = (byte)'-';
                r.High.TryFormat(text[n..], out written, default, CultureInfo.InvariantCulture);
                n += written;
            }
        }

        return n;
    }

    private static void WriteRangeArray(Utf8JsonWriter writer, string name, IReadOnlyList<PortRange> ranges, Span<byte> buffer)
    {
        writer.WriteStartArray(name);
        foreach (var r in ranges)
        {
            WriteRanges(writer, [r], buffer);
        }

        writer.WriteEndArray();
    }

    private Dictionary<string, HostHops> ReadHosts(ref Utf8JsonReader reader)
    {
        // Once per host (10,000 in a fleet's plan): where a host is, and its member names, become strings only for a message.
        Expect(ref reader, JsonTokenType.StartObject, "\"hosts\"");
        var hosts = new Dictionary<string, HostHops>(StringComparer.Ordinal);
        while (NextMember(ref reader, "\"hosts\"", _onlyUtf8) is { } host)
        {
            if (hosts.ContainsKey(host))
            {
                throw new JsonException($"hosts.{host}: the host is listed twice; list each host once");
            }

            Expect(ref reader, JsonTokenType.StartObject, new Where("hosts.", host, string.Empty));
            IPAddress? v4 = null, v6 = null;
            var seen = false;
            while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
            {
                if (reader.TokenType != JsonTokenType.PropertyName || !reader.ValueTextEquals("next_hops"u8))
                {
                    throw reader.TokenType == JsonTokenType.PropertyName
                        ? Unknown(reader.GetString()!, $"hosts.{host}")
                        : new JsonException($"hosts.{host}: expected a member name, found {Describe(reader.TokenType)}");
                }

                seen = true;
                reader.Read();
                var at = new Where("hosts.", host, ".next_hops");
                Expect(ref reader, JsonTokenType.StartArray, at);
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    var hop = ReadAddress(ref reader, at);
                    ref var slot = ref hop.AddressFamily == AddressFamily.InterNetworkV6 ? ref v6 : ref v4;
                    if (slot is not null && !slot.Equals(hop))
                    {
                        throw new JsonException($"hosts.{host}: next hops {slot} and {hop} are both {PlanValidator.Family(hop)}; give each host one next hop per address family");
                    }

                    slot = hop;
                }
            }

            if (!seen)
            {
                throw Missing("next_hops", $"hosts.{host}");
            }

            hosts.Add(host, new HostHops(host, v4, v6));
        }

        return hosts;
    }

    private List<EgressDraft> ReadEgressList(ref Utf8JsonReader reader, Dictionary<string, HostHops>? hosts)
    {
        Expect(ref reader, JsonTokenType.StartArray, "\"egress\"");
        var list = new List<EgressDraft>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            list.Add(ReadEgress(ref reader, hosts, list.Count));
        }

        return list;
    }

    private EgressDraft ReadEgress(ref Utf8JsonReader reader, Dictionary<string, HostHops>? hosts, int index)
    {
        var where = string.Create(CultureInfo.InvariantCulture, $"egress[{index}]");
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw new JsonException($"{where}: expected an object, found {Describe(reader.TokenType)}");
        }

        var draft = new EgressDraft();
        while (NextMember(ref reader, where) is { } name)
        {
            switch (name)
            {
                case "address": draft.Address = ReadAddress(ref reader, $"{where}.address"); break;
                case "usable_range": draft.Usable = ReadRangeString(ref reader, new Where(where, ".usable_range", string.Empty), single: true)[0]; break;
                case "reserved": draft.Reserved = ReadRangeArray(ref reader, $"{where}.reserved"); break;
                case "spare": draft.Spare = ReadRangeArray(ref reader, $"{where}.spare"); break;
                case "slices":
                    draft.Where = where;
                    if (reader.TokenType == JsonTokenType.StartObject)
                    {
                        ReadSlicesV2(ref reader, draft, hosts);
                    }
                    else
                    {
                        ReadSlicesV1(ref reader, draft);
                    }

                    break;
                case "moves": draft.Moves = ReadMoves(ref reader, $"{where}.moves"); break;
                default: throw Unknown(name, where);
            }
        }

        draft.Where = where;
        return draft;
    }

    private List<PortMove> ReadMoves(ref Utf8JsonReader reader, string where)
    {
        Expect(ref reader, JsonTokenType.StartArray, where);
        var moves = new List<PortMove>();
        var index = 0;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            var at = string.Create(CultureInfo.InvariantCulture, $"{where}[{index++}]");
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                throw new JsonException($"{at}: expected an object, found {Describe(reader.TokenType)}");
            }

            PortRange[]? ports = null;
            string? from = null, to = null;
            IPAddress? hop = null;
            DateTimeOffset? movedAt = null;
            int? seconds = null;
            while (NextMember(ref reader, at) is { } name)
            {
                switch (name)
                {
                    case "ports": ports = ReadRangeString(ref reader, new Where(at, ".ports", string.Empty), single: false); break;
                    case "from": from = ReadString(ref reader, $"{at}.from"); break;
                    case "from_next_hop": hop = ReadAddress(ref reader, $"{at}.from_next_hop"); break;
                    case "to": to = reader.TokenType == JsonTokenType.Null ? null : ReadString(ref reader, $"{at}.to"); break;
                    case "moved_at": movedAt = ReadTime(ref reader, $"{at}.moved_at"); break;
                    case "quarantine_seconds": seconds = ReadInt32(ref reader, $"{at}.quarantine_seconds"); break;
                    default: throw Unknown(name, at);
                }
            }

            var move = new PortMove
            {
                Ports = ports ?? throw Missing("ports", at),
                From = from ?? throw Missing("from", at),
                FromNextHop = hop ?? throw Missing("from_next_hop", at),
                To = to,
                MovedAt = movedAt ?? throw Missing("moved_at", at),
                QuarantineSeconds = seconds ?? throw Missing("quarantine_seconds", at),
            };

            // A host reading its own part of a fleet's plan needs only the moves to and from it.
            if (_only is null || move.From == _only || move.To == _only)
            {
                moves.Add(move);
            }
        }

        return moves;
    }

    private static DateTimeOffset ReadTime(ref Utf8JsonReader reader, string where) =>
        reader.TokenType == JsonTokenType.String && reader.TryGetDateTimeOffset(out var time)
            ? time.ToUniversalTime()
            : throw new JsonException($"{where}: expected a UTC time in ISO 8601 like \"2026-11-25T12:00:30Z\", found {(reader.TokenType == JsonTokenType.String ? $"'{reader.GetString()}'" : Describe(reader.TokenType))}");

    private void ReadSlicesV2(ref Utf8JsonReader reader, EgressDraft draft, Dictionary<string, HostHops>? hosts)
    {
        if (_blocks is not null)
        {
            if (hosts is null)
            {
                throw new JsonException($"{draft.Where}.slices: slice lines before \"hosts\"");
            }

            if (draft.Block >= 0 || draft.Slices is not null)
            {
                throw new JsonException($"{draft.Where}: two slices objects");
            }

            // "{}" has no slices; a slices object whose lines were cut out is "{\n      }" and has the next block of lines,
            // read once the whole document is (Read): the egress IP's address gives its slices' next hops.
            var open = reader.TokenStartIndex;
            reader.Read();
            var empty = reader.TokenStartIndex == open + 1;
            if (reader.TokenType != JsonTokenType.EndObject || (!empty && _nextBlock >= _blocks.Count))
            {
                throw new JsonException($"{draft.Where}.slices: not laid out as PortShare writes a plan");
            }

            draft.Block = empty ? -1 : _nextBlock++;
            draft.Slices = empty ? [] : null;
            return;
        }

        // Host names repeat on every egress IP: look the name up in the hosts table without allocating, and share its string.
        var lookup = hosts?.GetAlternateLookup<ReadOnlySpan<char>>();
        Span<char> chars = stackalloc char[128];
        var slices = new List<SliceDraft>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            if (_onlyUtf8 is not null && !reader.ValueTextEquals(_onlyUtf8))
            {
                reader.Read();
                reader.Skip();
                continue;
            }

            HostHops? known = null;
            string host;
            if (lookup is { } l && !reader.ValueIsEscaped && reader.ValueSpan.Length <= chars.Length &&
                Encoding.UTF8.TryGetChars(reader.ValueSpan, chars, out var n) && l.TryGetValue(chars[..n], out var found))
            {
                known = found;
                host = found.Name;
            }
            else
            {
                host = reader.GetString()!;
            }

            reader.Read();
            var ranges = ReadRangeString(ref reader, new Where(draft.Where, ".slices.", host), single: false);
            slices.Add(new SliceDraft(host, known, null, ranges));
        }

        draft.Slices = slices;
    }

    /// <summary>Slice lines as PortShare writes them, <c>        "host": "LO-HI[,LO-HI…]",</c>, parsed without a JSON
    /// tokenizer into the egress IP's slices; anything else (an escaped name, a host not in "hosts" or without a next hop
    /// of the egress IP's family) is a <see cref="JsonException"/> and the caller reads the file the usual way.</summary>
    /// <remarks>An egress IP's lines mostly list the hosts of the one before in the same order (<paramref name="order"/>,
    /// this block's hosts on return): a line naming the host the one before had there is not decoded or looked up.</remarks>
    private static HostSlice[] ReadSliceLines(ReadOnlySpan<byte> block, EgressDraft draft, Dictionary<string, HostHops> hosts, ref HostHops[] order)
    {
        ReadOnlySpan<byte> indent = "        \""u8;
        ReadOnlySpan<byte> separator = "\": \""u8;
        var family = (draft.Address ?? throw Missing("address", draft.Where)).AddressFamily;
        var lookup = hosts.GetAlternateLookup<ReadOnlySpan<char>>();
        Span<char> chars = stackalloc char[128];
        var slices = new HostSlice[block.Count((byte)'\n') + 1];
        var mine = new HostHops[slices.Length];
        var count = 0;
        foreach (var range in block.Split((byte)'\n'))
        {
            var line = block[range];
            line = line.EndsWith((byte)',') ? line[..^1] : line;
            var cut = line.IndexOf(separator);
            if (!line.StartsWith(indent) || cut < 0 || line[^1] != (byte)'"')
            {
                throw new JsonException($"{draft.Where}.slices: not laid out as PortShare writes a plan");
            }

            var name = line[indent.Length..cut];
            HostHops? known = count < order.Length && name.SequenceEqual(order[count].Utf8) ? order[count] : null;
            if ((known is null && (name.Length > chars.Length || name.Contains((byte)'\\') || !Encoding.UTF8.TryGetChars(name, chars, out var n) ||
                !lookup.TryGetValue(chars[..n], out known))) || known!.For(family) is not { } hop)
            {
                throw new JsonException($"{draft.Where}.slices: a host name that is escaped, not in \"hosts\" or without a next hop of the family");
            }

            mine[count] = known;

            var text = line[(cut + separator.Length)..^1];
            var ranges = new PortRange[text.Count((byte)',') + 1];
            var k = 0;
            foreach (var part in text.Split((byte)','))
            {
                ranges[k++] = ParseRange(text[part], new Where(draft.Where, ".slices.", known.Name));
            }

            slices[count++] = new HostSlice { Host = known.Name, NextHop = hop, Ranges = ranges };
        }

        order = mine;
        return count == slices.Length ? slices : throw new JsonException($"{draft.Where}.slices: not laid out as PortShare writes a plan");
    }

    private void ReadSlicesV1(ref Utf8JsonReader reader, EgressDraft draft)
    {
        Expect(ref reader, JsonTokenType.StartArray, $"{draft.Where}.slices");
        var slices = new List<SliceDraft>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            var where = string.Create(CultureInfo.InvariantCulture, $"{draft.Where}.slices[{slices.Count}]");
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                throw new JsonException($"{where}: expected an object, found {Describe(reader.TokenType)}");
            }

            string? host = null;
            IPAddress? hop = null;
            PortRange[]? ranges = null;
            while (NextMember(ref reader, where) is { } name)
            {
                switch (name)
                {
                    case "host": host = ReadString(ref reader, $"{where}.host"); break;
                    case "next_hop": hop = ReadAddress(ref reader, $"{where}.next_hop"); break;
                    case "ranges": ranges = ReadRangeArray(ref reader, $"{where}.ranges"); break;
                    default: throw Unknown(name, where);
                }
            }

            var slice = new SliceDraft(host ?? throw Missing("host", where), null, hop ?? throw Missing("next_hop", where), ranges ?? throw Missing("ranges", where));
            if (_only is null || slice.Host == _only)
            {
                slices.Add(slice);
            }
        }

        draft.Slices = slices;
    }

    private static PortRange[] ReadRangeArray(ref Utf8JsonReader reader, string where)
    {
        Expect(ref reader, JsonTokenType.StartArray, where);
        var at = new Where(where, string.Empty, string.Empty);
        var list = new List<PortRange>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            list.AddRange(ReadRangeString(ref reader, at, single: true));
        }

        return [.. list];
    }

    /// <summary>A string of comma-separated ranges; digits are parsed from the UTF-8 bytes, anything unusual is handed
    /// to <see cref="PortRange.TryParse"/> for its message.</summary>
    private static PortRange[] ReadRangeString(ref Utf8JsonReader reader, Where where, bool single)
    {
        if (reader.TokenType != JsonTokenType.String)
        {
            throw new JsonException($"{where}: expected a port range string like \"40000-40511\", found {Describe(reader.TokenType)}");
        }

        var span = reader.ValueIsEscaped ? Encoding.UTF8.GetBytes(reader.GetString()!) : reader.ValueSpan;
        var count = 1;
        foreach (var b in span)
        {
            count += b == (byte)',' ? 1 : 0;
        }

        if (single && count > 1)
        {
            throw new JsonException($"{where}: '{reader.GetString()}' is several ranges; give one range per string here");
        }

        var result = new PortRange[count];
        var k = 0;
        foreach (var part in span.Split((byte)','))
        {
            result[k++] = ParseRange(span[part], where);
        }

        return result;
    }

    private static PortRange ParseRange(ReadOnlySpan<byte> text, Where where)
    {
        var dash = text.IndexOf((byte)'-');
        if (TryDigits(dash < 0 ? text : text[..dash], out var lo) && TryDigits(dash < 0 ? text : text[(dash + 1)..], out var hi) && lo <= hi)
        {
            return new PortRange((ushort)lo, (ushort)hi);
        }

        var s = Encoding.UTF8.GetString(text);
        return PortRange.TryParse(s, out var range, out var error)
            ? range
            : throw new JsonException($"{where}: {error.TrimEnd('.')}");
    }

    private static bool TryDigits(ReadOnlySpan<byte> text, out int value)
    {
        value = 0;
        if (text.IsEmpty || text.Length > 5)
        {
            return false;
        }

        foreach (var b in text)
        {
            if (b is < (byte)'0' or > (byte)'9')
            {
                return false;
            }

            value = (value * 10) + (b - '0');
        }

        return value is >= 1 and <= 65535;
    }

    private static IPAddress ReadAddress(ref Utf8JsonReader reader, string where) => ReadAddress(ref reader, new Where(where, string.Empty, string.Empty));

    private static IPAddress ReadAddress(ref Utf8JsonReader reader, Where where)
    {
        if (reader.TokenType == JsonTokenType.String && IPAddressJsonConverter.TryParse(ref reader, out var address))
        {
            return address;
        }

        var text = reader.TokenType == JsonTokenType.String ? $"'{reader.GetString()}'" : Describe(reader.TokenType);
        throw new JsonException($"{where}: {text} is not a valid IPv4 or IPv6 address");
    }

    private static string ReadString(ref Utf8JsonReader reader, string where) =>
        reader.TokenType == JsonTokenType.String ? reader.GetString()! : throw new JsonException($"{where}: expected a string, found {Describe(reader.TokenType)}");

    private static int ReadInt32(ref Utf8JsonReader reader, string where) =>
        reader.TokenType == JsonTokenType.Number && reader.TryGetInt32(out var v) ? v : throw new JsonException($"{where}: expected a whole number, found {Describe(reader.TokenType)}");

    private static long ReadInt64(ref Utf8JsonReader reader, string where) =>
        reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var v) ? v : throw new JsonException($"{where}: expected a whole number, found {Describe(reader.TokenType)}");

    private static void Expect(ref Utf8JsonReader reader, JsonTokenType type, string where) => Expect(ref reader, type, new Where(where, string.Empty, string.Empty));

    private static void Expect(ref Utf8JsonReader reader, JsonTokenType type, Where where)
    {
        if (reader.TokenType != type)
        {
            throw new JsonException($"{where}: expected {Describe(type)}, found {Describe(reader.TokenType)}");
        }
    }

    /// <summary>Moves to the next member of the current object and onto its value; null at the object's end. With
    /// <paramref name="only"/>, members of other names are skipped unread.</summary>
    private static string? NextMember(ref Utf8JsonReader reader, string where, byte[]? only = null)
    {
        while (true)
        {
            reader.Read();
            if (reader.TokenType == JsonTokenType.EndObject)
            {
                return null;
            }

            if (reader.TokenType != JsonTokenType.PropertyName)
            {
                throw new JsonException($"{where}: expected a member name, found {Describe(reader.TokenType)}");
            }

            if (only is not null && !reader.ValueTextEquals(only))
            {
                reader.Read();
                reader.Skip();
                continue;
            }

            var name = reader.GetString()!;
            reader.Read();
            return name;
        }
    }

    private static JsonException Unknown(string name, string where) =>
        new($"{where}: unknown member '{name}' (a plan file holds only the members of schemas/plan.schema.json)");

    private static JsonException Missing(string name, string where) => new($"{where}: the required member '{name}' is missing");

    private static string Describe(JsonTokenType type) => type switch
    {
        JsonTokenType.StartObject => "an object",
        JsonTokenType.StartArray => "an array",
        JsonTokenType.String => "a string",
        JsonTokenType.Number => "a number",
        JsonTokenType.True or JsonTokenType.False => "true/false",
        JsonTokenType.Null => "null",
        _ => type.ToString().ToLowerInvariant(),
    };

    /// <summary>Where a value is, for an error message; joined only when one is thrown (a plan has 160,000 slices).</summary>
    private readonly record struct Where(string Prefix, string Middle, string Name)
    {
        public override string ToString() => Prefix + Middle + Name;
    }

    private sealed record HostHops(string Name, IPAddress? V4, IPAddress? V6)
    {
        /// <summary>The name as UTF-8, as a plain name stands in a slice line.</summary>
        public byte[] Utf8 { get; } = Encoding.UTF8.GetBytes(Name);

        public IPAddress? For(AddressFamily family) => family == AddressFamily.InterNetworkV6 ? V6 : V4;
    }

    private readonly record struct SliceDraft(string Host, HostHops? Known, IPAddress? NextHop, PortRange[] Ranges);

    private sealed class EgressDraft
    {
        public IPAddress? Address { get; set; }

        public PortRange? Usable { get; set; }

        public PortRange[] Reserved { get; set; } = [];

        public PortRange[] Spare { get; set; } = [];

        public List<SliceDraft>? Slices { get; set; }

        public List<PortMove> Moves { get; set; } = [];

        public string Where { get; set; } = "egress";

        /// <summary>Reading a stamped plan's slice lines: which block of them is this egress IP's.</summary>
        public int Block { get; set; } = -1;

        public EgressPlan Build(Dictionary<string, HostHops>? hosts)
        {
            var address = Address ?? throw Missing("address", Where);
            var family = address.AddressFamily;
            var drafts = Slices ?? throw Missing("slices", Where);
            var slices = new HostSlice[drafts.Count];
            for (var i = 0; i < drafts.Count; i++)
            {
                var d = drafts[i];
                var hop = d.NextHop ?? NextHopOf(d, hosts!, family, address);
                slices[i] = new HostSlice { Host = d.Host, NextHop = hop, Ranges = d.Ranges };
            }

            return Build(slices);
        }

        public EgressPlan Build(HostSlice[] slices)
        {
            return new EgressPlan
            {
                Address = Address ?? throw Missing("address", Where),
                UsableRange = Usable ?? throw Missing("usable_range", Where),
                Reserved = Reserved,
                Spare = Spare,
                Slices = slices,
                Moves = Moves,
            };
        }

        private IPAddress NextHopOf(SliceDraft d, Dictionary<string, HostHops> hosts, AddressFamily family, IPAddress address)
        {
            var known = d.Known ?? hosts.GetValueOrDefault(d.Host) ??
                throw new JsonException($"{Where}.slices.{d.Host}: host '{d.Host}' is not listed in \"hosts\"; add it with its next hops");
            return known.For(family) ??
                throw new JsonException($"{Where}.slices.{d.Host}: host '{d.Host}' has no {PlanValidator.Family(address)} next hop in \"hosts\", but egress {address} is {PlanValidator.Family(address)}");
        }
    }
}
