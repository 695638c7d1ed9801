using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using PortShare.Connect;
using PortShare.Http.Diagnostics;

namespace PortShare.Http.Hosting;

/// <summary>
/// One <see cref="SliceConnectCallback"/> (and so one <see cref="SliceConnector"/>) per options name, shared by every
/// handler the HttpClient factory creates for that name: the factory rotates handlers, the slice's state stays.
/// </summary>
internal sealed class PortShareConnectors(IOptionsMonitor<PortShareOptions> options, ILoggerFactory? loggerFactory = null)
{
    private readonly ConcurrentDictionary<string, Lazy<SliceConnectCallback>> _callbacks = new(StringComparer.Ordinal);
    private readonly ILogger _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger(Log.Category);

    public SliceConnectCallback Get(string? name) =>
        _callbacks.GetOrAdd(name ?? Options.DefaultName, n => new Lazy<SliceConnectCallback>(() => Create(n))).Value;

    private SliceConnectCallback Create(string name)
    {
        // Get() runs the validator, so the settings resolve; an OptionsValidationException carries every problem.
        var errors = new List<string>();
        var settings = PortShareSettings.Resolve(options.Get(name), errors, checkHost: false)
            ?? throw new OptionsValidationException(name, typeof(PortShareOptions), errors);
        var connectors = settings.CreateConnector();
        var connector = connectors();
        Log.SliceConfigured(_logger, connector.Slice.ToString(), connector.Slice.Count, connector.LocalAddress?.ToString() ?? "(chosen by routing)", connector.Strategy);
        return new SliceConnectCallback(connectors, _logger);
    }
}

/// <summary>Marks that PortShare options of one name are registered, so registering twice binds and validates once.</summary>
internal sealed record PortShareRegistration(string Name);
