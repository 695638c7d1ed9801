using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Net;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using PortShare.Fleet;

namespace PortShare.Cli.Commands;

/// <summary><c>portshare agent</c>: the fleet agent of one host.</summary>
internal static class AgentCommand
{
    private static readonly Option<string> s_host = new("--host")
    {
        Description = "This host's name in the pool (1-63 letters, digits, '.', '_' or '-'; unique in the pool).",
        Required = true,
        Validators =
        {
            r =>
            {
                if (r.GetValueOrDefault<string>() is { } v && !PortShare.Routing.RouteValidation.IsValidName(v))
                {
                    r.AddError($"--host '{v}' is not a valid host name: use 1-63 letters, digits, '.', '_' or '-'.");
                }
            },
        },
    };
    private static readonly Option<IPAddress[]> s_nextHop = new("--next-hop")
    {
        Description = "The address the router sends this host's replies to (this host's address on the router's link), one per address family it egresses on.",
        Required = true,
        AllowMultipleArgumentsPerToken = true,
        CustomParser = Addresses,
    };

    private static readonly Option<string?> s_state = new("--state") { Description = $"The host file applications follow (default {HostSliceFile.DefaultPath}, or $PORTSHARE_HOST_FILE)." };
    private static readonly Option<string?> s_agentState = new("--agent-state") { Description = "The agent's own state (its leases, resumed after a restart so nothing moves). Default: the host file's path + '.agent'." };
    private static readonly Option<string?> s_netns = RoutingOptions.Netns();
    private static readonly Option<int> s_drainTimeout = Seconds("--drain-timeout", "How long a drain (SIGTERM, or 'fleet drain') waits for live connections before releasing the units anyway.", 60, 0, 3600);
    private static readonly Option<double?> s_margin = new("--margin")
    {
        Description = "Stop new connections this many seconds before the lease could end when etcd stops acknowledging keep-alives (default a quarter of the lease TTL, at least 1).",
        Validators = { r => { if (r.GetValueOrDefault<double?>() is { } m && (m <= 0 || double.IsNaN(m))) { r.AddError($"--margin must be more than 0 seconds, not {m.ToString(CultureInfo.InvariantCulture)}."); } } },
    };

    private static readonly Option<string?> s_metrics = Metrics();
    private static readonly Option<int?> s_minUnits = Units("--min-units", "This host's fewest units per egress address (default: the pool's min_units).");
    private static readonly Option<int?> s_maxUnits = Units("--max-units", "This host's most units per egress address when it grows (default: the pool's max_units).");
    private static readonly Option<int> s_weight = new("--weight")
    {
        Description = "This host's weight when the pool is short: its fair share is the units by its weight over every host's (1-1000, default 1).",
        DefaultValueFactory = _ => 1,
        Validators = { r => { if (r.GetValueOrDefault<int>() is < 1 or > 1000) { r.AddError($"--weight must be 1-1000, not {r.GetValueOrDefault<int>()}."); } } },
    };

    public static Command Create(CliConsole console)
    {
        var etcd = FleetCommand.Etcd();
        var prefix = FleetCommand.Prefix();
        var command = new Command("agent", "Run this host's fleet agent: register in the pool on etcd, claim min_units per egress address (its previous units first), serve them through the host file, keep the lease alive, follow drain orders. SIGTERM drains and releases into quarantine; with etcd lost, new connections stop before the lease can end.")
        {
            etcd, prefix, s_host, s_nextHop, s_state, s_agentState, s_netns, s_drainTimeout, s_margin, s_metrics, s_minUnits, s_maxUnits, s_weight,
        };
        command.SetAction((p, ct) => CommandRunner.RunAsync(console, async () =>
        {
            RoutingOptions.RequireRoot();
            using var host = new HostAgentHost(p.GetValue(s_netns), p.GetValue(s_state));
            using var fleet = new EtcdFleet(p.GetRequiredValue(etcd), p.GetRequiredValue(prefix));
            var options = new AgentOptions
            {
                Host = p.GetRequiredValue(s_host),
                NextHops = p.GetRequiredValue(s_nextHop),
                StatePath = p.GetValue(s_agentState) ?? host.HostFilePath + ".agent",
                DrainTimeout = TimeSpan.FromSeconds(p.GetValue(s_drainTimeout)),
                Margin = p.GetValue(s_margin) is { } m ? TimeSpan.FromSeconds(m) : null,
                MinUnits = p.GetValue(s_minUnits),
                MaxUnits = p.GetValue(s_maxUnits),
                Weight = p.GetValue(s_weight),
            };
            if (options.MinUnits is { } min && options.MaxUnits is { } max && max < min)
            {
                throw new UsageException($"--max-units {max} is less than --min-units {min}.");
            }

            var agent = new FleetAgent(fleet, host, options, Log(console));
            using var metrics = Export(p.GetValue(s_metrics), () => FleetMetrics.ForAgent(agent));
            await agent.RunAsync(ct);
            return ExitCodes.Success;
        }));
        return command;
    }

    /// <summary>
    /// The <c>--metrics</c> option of the agent and the router follower: an <c>http://HOST:PORT/</c> prefix, where HOST is an
    /// IPv4 address or a name the scraper uses in its requests, or <c>+</c> for every IPv4 address of the machine.
    /// </summary>
    public static Option<string?> Metrics() => new("--metrics")
    {
        Description = "Serve metrics in the Prometheus text format at http://HOST:PORT/metrics (OpenTelemetry): give the prefix http://HOST:PORT/, e.g. http://127.0.0.1:9464/, or http://+:9464/ for every IPv4 address (a remote Prometheus). Off by default.",
        HelpName = "http://HOST:PORT/",
        CustomParser = r =>
        {
            var text = r.Tokens.Count == 1 ? r.Tokens[0].Value : string.Empty;
            if (MetricsPrefix(text, out var error) is { } prefix)
            {
                return prefix;
            }

            r.AddError(error);
            return null;
        },
    };

    /// <summary>Checks a <c>--metrics</c> value; returns it with a trailing '/' added, or null and the reason.</summary>
    internal static string? MetricsPrefix(string text, out string error)
    {
        error = string.Empty;
        var wildcard = text.StartsWith("http://+:", StringComparison.Ordinal) || text.StartsWith("http://*:", StringComparison.Ordinal);

        // Uri rejects the wildcard host HttpListener takes: check the rest with a stand-in host.
        var check = wildcard ? "http://wildcard.invalid:" + text["http://+:".Length..] : text;
        if (!Uri.TryCreate(check, UriKind.Absolute, out var uri) || uri.Scheme != "http" || uri.Query.Length > 0 || uri.Fragment.Length > 0)
        {
            error = $"--metrics '{text}' is not an http:// URL prefix such as http://127.0.0.1:9464/ (or http://+:9464/ for every IPv4 address).";
            return null;
        }

        if (uri.HostNameType == UriHostNameType.IPv6)
        {
            error = $"--metrics '{text}': .NET's HttpListener on Linux cannot listen on an IPv6 address; use an IPv4 address, a name, or http://+:{uri.Port}/.";
            return null;
        }

        if (!check.Contains(":" + uri.Port.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal))
        {
            error = $"--metrics '{text}' has no port: write one, e.g. http://{(wildcard ? "+" : uri.Host)}:9464/.";
            return null;
        }

        if (uri.Host == "0.0.0.0")
        {
            error = $"--metrics '{text}': HttpListener cannot listen on 0.0.0.0; use http://+:{uri.Port}/ for every IPv4 address.";
            return null;
        }

        if (uri.AbsolutePath.EndsWith("/metrics", StringComparison.Ordinal) || uri.AbsolutePath.EndsWith("/metrics/", StringComparison.Ordinal))
        {
            error = $"--metrics '{text}': give the prefix without /metrics (it is served under the prefix), e.g. {(wildcard ? "http://+:" + uri.Port.ToString(CultureInfo.InvariantCulture) : uri.GetLeftPart(UriPartial.Authority))}/.";
            return null;
        }

        return text.EndsWith('/') ? text : text + "/";
    }

    /// <summary>Starts the Prometheus endpoint (<paramref name="prefix"/> + <c>metrics/</c>) for the meters <paramref name="meters"/> makes, or nothing without a prefix.</summary>
    public static IDisposable? Export(string? prefix, Func<IDisposable> meters)
    {
        if (prefix is null)
        {
            return null;
        }

        var source = meters();
        MeterProvider provider;
        try
        {
            provider = Sdk.CreateMeterProviderBuilder()
                .AddMeter(FleetMetrics.MeterName)
                .AddPrometheusHttpListener(o =>
                {
                    // The exporter adds http://localhost:9464/metrics/ before this runs: replace it with ours (the exporter
                    // answers the scrape on any path under its prefix, so the prefix is what limits it to /metrics).
                    o.ConfigureHttpListener = (_, listener) =>
                    {
                        listener.Prefixes.Clear();
                        listener.Prefixes.Add(prefix + "metrics/");
                    };
                })
                .Build();
        }
        catch (Exception ex) when (ex is System.Net.HttpListenerException or InvalidOperationException)
        {
            source.Dispose();
            var cause = ex;
            while (cause.InnerException is not null)
            {
                cause = cause.InnerException;
            }

            throw new PortShareException($"--metrics {prefix}: cannot listen there ({cause.Message.TrimEnd('.')}).", ex);
        }

        return new Both(provider, source);
    }

    /// <summary>Log lines on stderr, each with its UTC time (systemd's journal keeps them).</summary>
    public static Action<string> Log(CliConsole console) => line =>
    {
        lock (console.RawError)
        {
            console.RawError.WriteLine($"{DateTime.UtcNow.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture)} {line}");
            console.RawError.Flush();
        }
    };

    private static Option<int?> Units(string name, string description) => new(name)
    {
        Description = description,
        Validators = { r => { if (r.GetValueOrDefault<int?>() is { } v && v is < 1 or > 32768) { r.AddError($"{name} must be 1-32768, not {v}."); } } },
    };

    private static Option<int> Seconds(string name, string description, int value, int min, int max) => new(name)
    {
        Description = $"{description} Seconds, {min}-{max}; default {value}.",
        DefaultValueFactory = _ => value,
        Validators = { r => { if (r.GetValueOrDefault<int>() is var v && (v < min || v > max)) { r.AddError($"{name} must be {min}-{max} seconds, not {v}."); } } },
    };

    private static IPAddress[] Addresses(ArgumentResult result)
    {
        var list = new List<IPAddress>();
        foreach (var t in result.Tokens)
        {
            if (!IPAddress.TryParse(t.Value, out var a))
            {
                result.AddError($"--next-hop '{t.Value}' is not an IPv4 or IPv6 address.");
                return [];
            }

            if (list.Any(x => x.AddressFamily == a.AddressFamily))
            {
                result.AddError($"--next-hop: give one address per family, not two {(a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? "IPv6" : "IPv4")} addresses ({list.First(x => x.AddressFamily == a.AddressFamily)} and {a}).");
                return [];
            }

            list.Add(a);
        }

        return [.. list];
    }

    private sealed class Both(IDisposable first, IDisposable second) : IDisposable
    {
        public void Dispose()
        {
            first.Dispose();
            second.Dispose();
        }
    }
}
