using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Serialization;
using PortShare.Diagnostics;
using PortShare.Planning;

namespace PortShare.Cli.Commands;

/// <summary>
/// <c>portshare ping [--egress IP] DEST</c>: ICMP echo from the shared egress address with an echo id inside this host's
/// slice, so the router steers each reply back here (a plain <c>ping -I SHARED_IP</c> gets a random id no slice owns).
/// </summary>
internal static class PingCommand
{
    private static readonly Argument<string> s_destination = new("DEST") { Description = "The address (or name) to ping." };
    private static readonly Option<IPAddress?> s_egress = new("--egress")
    {
        Description = "The shared egress address to ping from (default: this host's slice of the destination's address family).",
        HelpName = "IP",
        CustomParser = CliParsers.Address,
    };

    private static readonly Option<PortSlice[]> s_slice = new("--slice")
    {
        Description = "Take the echo id from this slice LO-HI[,LO-HI…] (needs --egress) instead of the host file.",
        HelpName = "LO-HI[,LO-HI…]",
        CustomParser = CliParsers.Slices,
    };

    private static readonly Option<string?> s_plan = new("--plan") { Description = "Take the slice from this plan (with --host)." };
    private static readonly Option<string?> s_host = new("--host") { Description = "The host whose slice to use (with --plan)." };
    private static readonly Option<int> s_count = new("--count", "-c") { Description = "Echo requests to send.", DefaultValueFactory = _ => 4 };
    private static readonly Option<double> s_interval = new("--interval", "-i") { Description = "Seconds between requests.", DefaultValueFactory = _ => 1.0 };
    private static readonly Option<double> s_timeout = new("--timeout", "-W") { Description = "Seconds to wait for each reply.", DefaultValueFactory = _ => 2.0 };
    private static readonly Option<bool> s_json = CliOptions.Json();

    static PingCommand()
    {
        s_count.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() is < 1 or > 100_000)
            {
                r.AddError("--count must be between 1 and 100000.");
            }
        });
        s_interval.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<double>() is < 0.01 or > 3600 or double.NaN)
            {
                r.AddError("--interval must be between 0.01 and 3600 seconds.");
            }
        });
        s_timeout.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<double>() is < 0.01 or > 3600 or double.NaN)
            {
                r.AddError("--timeout must be between 0.01 and 3600 seconds.");
            }
        });
    }

    public static Command Create(CliConsole console)
    {
        var command = new Command("ping", "ICMP echo from the shared egress address with an echo id inside this host's slice, so the reply comes back to this host; RTT per reply and a summary.")
        {
            s_destination, s_egress, s_slice, s_plan, s_host, s_count, s_interval, s_timeout, s_json,
        };
        command.SetAction((p, ct) => CommandRunner.RunAsync(console, () => RunAsync(console, p, ct)));
        return command;
    }

    private static async Task<int> RunAsync(CliConsole console, ParseResult p, CancellationToken ct)
    {
        var destination = await ResolveAsync(p.GetRequiredValue(s_destination), ct).ConfigureAwait(false);
        var (egress, ranges, from) = Slice(p, destination.AddressFamily, console.Now);
        var count = p.GetValue(s_count);
        var interval = TimeSpan.FromSeconds(p.GetValue(s_interval));
        var timeout = TimeSpan.FromSeconds(p.GetValue(s_timeout));
        var json = p.GetValue(s_json);

        using var pinger = new SlicePinger(ranges, egress);
        if (!json)
        {
            console.RawOut.WriteLine($"PING {destination} from {egress} echo id {pinger.Id} ({from}, slice {HostSlicesText(ranges)}): {SlicePinger.PayloadSize} data bytes");
        }

        var replies = new List<PingReply>();
        for (var seq = 1; seq <= count; seq++)
        {
            var started = Stopwatch.GetTimestamp();
            PingReply? reply;
            var reported = false;
            try
            {
                reply = await pinger.PingAsync(destination, (ushort)seq, timeout, ct).ConfigureAwait(false);
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.HostUnreachable or SocketError.NetworkUnreachable or SocketError.ConnectionRefused)
            {
                // An ICMP error for an earlier request surfaces on the socket; like ping(8), report it and go on.
                reply = null;
                reported = true;
                if (!json)
                {
                    console.RawOut.WriteLine($"icmp_seq={seq}: {ex.Message}");
                }
            }

            if (reply is not null)
            {
                replies.Add(reply);
                if (!json)
                {
                    console.RawOut.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{reply.Bytes} bytes from {reply.From}: icmp_seq={reply.Sequence} id={pinger.Id} time={reply.RoundTrip.TotalMilliseconds:0.000} ms"));
                }
            }
            else if (!json && !reported)
            {
                console.RawOut.WriteLine(string.Create(CultureInfo.InvariantCulture, $"no reply for icmp_seq={seq} within {timeout.TotalSeconds:0.###} s"));
            }

            var wait = interval - Stopwatch.GetElapsedTime(started);
            if (seq < count && wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, ct).ConfigureAwait(false);
            }
        }

        var summary = PingSummary.From(destination, egress, pinger.Id, count, replies);
        if (json)
        {
            console.RawOut.WriteLine(JsonSerializer.Serialize(summary, PingJsonContext.Default.PingSummary));
        }
        else
        {
            console.RawOut.WriteLine($"--- {destination} ping statistics ---");
            console.RawOut.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{count} packets transmitted, {replies.Count} received, {summary.LossPercent:0.#}% packet loss"));
            if (replies.Count > 0)
            {
                console.RawOut.WriteLine(string.Create(CultureInfo.InvariantCulture, $"rtt min/avg/max/mdev = {summary.RttMinMs:0.000}/{summary.RttAvgMs:0.000}/{summary.RttMaxMs:0.000}/{summary.RttMdevMs:0.000} ms"));
            }
        }

        // As ping(8): success when at least one reply came back.
        return replies.Count > 0 ? ExitCodes.Success : ExitCodes.Failure;
    }

    private static string HostSlicesText(IReadOnlyList<PortRange> ranges) => string.Join(", ", ranges);

    private static async Task<IPAddress> ResolveAsync(string text, CancellationToken ct)
    {
        if (IPAddress.TryParse(text, out var address))
        {
            return address;
        }

        try
        {
            var all = await Dns.GetHostAddressesAsync(text, ct).ConfigureAwait(false);
            return all.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork) ?? all.FirstOrDefault()
                ?? throw new UsageException($"DEST '{text}' resolves to no address.");
        }
        catch (SocketException ex)
        {
            throw new UsageException($"DEST '{text}' is not an IP address and does not resolve: {ex.Message}");
        }
    }

    /// <summary>The egress address and every range of this host's slice on it, for the destination's family.</summary>
    private static (IPAddress Egress, IReadOnlyList<PortRange> Ranges, string From) Slice(ParseResult p, AddressFamily family, DateTimeOffset now)
    {
        var egress = p.GetValue(s_egress);
        var slices = p.GetValue(s_slice) ?? [];
        var plan = p.GetValue(s_plan);
        var host = p.GetValue(s_host);
        if (egress is not null && egress.AddressFamily != family)
        {
            throw new UsageException($"--egress {egress} and DEST are of different address families.");
        }

        if (slices.Length > 0)
        {
            if (plan is not null || host is not null)
            {
                throw new UsageException("Give either --slice or --plan with --host, not both.");
            }

            return (egress ?? throw new UsageException("--slice needs --egress IP (the shared address to ping from)."), [.. slices.SelectMany(x => x.Ranges)], "--slice");
        }

        Doctor.HostSlices mine;
        string from;
        if (plan is not null || host is not null)
        {
            if (plan is null || host is null)
            {
                throw new UsageException("--plan and --host go together: --plan PLAN.json --host NAME.");
            }

            mine = Doctor.HostSlices.From(PlanFile.Load(plan), host, now);
            from = $"plan {plan}, host {host}";
        }
        else
        {
            var file = HostSliceFile.Load();
            mine = Doctor.HostSlices.From(file);
            from = $"host {file.Host}";
        }

        var candidates = mine.Ranges.Where(kv => egress is null ? kv.Key.AddressFamily == family : kv.Key.Equals(egress)).ToList();
        return candidates switch
        {
            [var one] => (one.Key, one.Value, from),
            [] => throw new PortShareException(egress is null
                ? $"Host {mine.Host} ({from}) owns no slice on an {(family == AddressFamily.InterNetworkV6 ? "IPv6" : "IPv4")} egress address, so nothing routes a reply back to it."
                : $"Host {mine.Host} ({from}) owns no slice on {egress}."),
            _ => throw new UsageException($"Host {mine.Host} owns slices on {string.Join(", ", candidates.Select(c => c.Key))}: choose one with --egress."),
        };
    }
}

/// <summary>One reply in <c>ping --json</c>.</summary>
internal sealed record PingReplyJson(
    [property: JsonPropertyName("seq")] int Sequence,
    [property: JsonPropertyName("from")] string From,
    [property: JsonPropertyName("rtt_ms")] double RttMs);

/// <summary><c>portshare ping --json</c>.</summary>
internal sealed record PingSummary(
    [property: JsonPropertyName("destination")] string Destination,
    [property: JsonPropertyName("egress")] string Egress,
    [property: JsonPropertyName("echo_id")] int EchoId,
    [property: JsonPropertyName("transmitted")] int Transmitted,
    [property: JsonPropertyName("received")] int Received,
    [property: JsonPropertyName("loss_percent")] double LossPercent,
    [property: JsonPropertyName("rtt_min_ms")] double? RttMinMs,
    [property: JsonPropertyName("rtt_avg_ms")] double? RttAvgMs,
    [property: JsonPropertyName("rtt_max_ms")] double? RttMaxMs,
    [property: JsonPropertyName("rtt_mdev_ms")] double? RttMdevMs,
    [property: JsonPropertyName("replies")] IReadOnlyList<PingReplyJson> Replies)
{
    public static PingSummary From(IPAddress destination, IPAddress egress, ushort id, int transmitted, IReadOnlyList<PingReply> replies)
    {
        var ms = replies.Select(r => r.RoundTrip.TotalMilliseconds).ToList();
        double? avg = ms.Count == 0 ? null : ms.Average();
        // mdev as ping(8) computes it: sqrt(mean of squares - square of mean).
        double? mdev = avg is { } a ? Math.Sqrt(Math.Max(0, ms.Select(x => x * x).Average() - (a * a))) : null;
        return new PingSummary(
            destination.ToString(),
            egress.ToString(),
            id,
            transmitted,
            replies.Count,
            transmitted == 0 ? 0 : 100.0 * (transmitted - replies.Count) / transmitted,
            ms.Count == 0 ? null : ms.Min(),
            avg,
            ms.Count == 0 ? null : ms.Max(),
            mdev,
            replies.Select(r => new PingReplyJson(r.Sequence, r.From.ToString(), r.RoundTrip.TotalMilliseconds)).ToList());
    }
}

[JsonSourceGenerationOptions(WriteIndented = false)]
[JsonSerializable(typeof(PingSummary))]
internal sealed partial class PingJsonContext : JsonSerializerContext;
