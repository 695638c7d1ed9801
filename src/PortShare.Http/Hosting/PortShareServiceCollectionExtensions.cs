using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using PortShare;
using PortShare.Connect;
using PortShare.Http;
using PortShare.Http.Hosting;

// In the DI namespace, as Microsoft.Extensions.* extensions are, so the setup needs no extra using.
namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers PortShare for HttpClient and dependency injection.</summary>
public static class PortShareServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="PortShareOptions"/> bound from the configuration section <c>PortShare</c> (when an
    /// <see cref="IConfiguration"/> is registered, as in every .NET host), validated when the host starts, and a
    /// singleton <see cref="SliceConnector"/> for the configured slice (for non-HTTP TCP connections). Calling it again
    /// adds only <paramref name="configure"/>.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Optional settings applied after the configuration section (they win).</param>
    /// <returns>The options builder, for more <c>Configure</c> or <c>Validate</c> calls.</returns>
    public static OptionsBuilder<PortShareOptions> AddPortShare(this IServiceCollection services, Action<PortShareOptions>? configure = null) =>
        AddPortShareOptions(services, Options.Options.DefaultName, configure);

    internal static OptionsBuilder<PortShareOptions> AddPortShareOptions(IServiceCollection services, string name, Action<PortShareOptions>? configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        var builder = services.AddOptions<PortShareOptions>(name);
        if (!services.Any(d => d.ServiceType == typeof(PortShareRegistration) && d.ImplementationInstance is PortShareRegistration r && r.Name == name))
        {
            services.AddSingleton(new PortShareRegistration(name));
            builder.Configure<IServiceProvider>(static (options, sp) =>
            {
                if (sp.GetService(typeof(IConfiguration)) is IConfiguration configuration)
                {
                    try
                    {
                        configuration.GetSection(PortShareOptions.SectionName).Bind(options);
                    }
                    catch (InvalidOperationException ex)
                    {
                        // E.g. "Strategy": "sideways": report it at start-up with the other problems, not as a bare binder error.
                        options.BindErrors.Add(ex.Message);
                    }
                }
            });
            builder.ValidateOnStart();
            services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<PortShareOptions>, PortShareOptionsValidator>());
            services.TryAddSingleton<PortShareConnectors>();
            if (name == Options.Options.DefaultName)
            {
                services.TryAddSingleton(static sp => sp.GetRequiredService<PortShareConnectors>().Get(Options.Options.DefaultName).Connector);
            }
        }

        if (configure is not null)
        {
            builder.Configure(configure);
        }

        return builder;
    }
}
