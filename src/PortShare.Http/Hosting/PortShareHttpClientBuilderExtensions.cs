using System.Net.Http;
using Microsoft.Extensions.Http;
using Microsoft.Extensions.Options;
using PortShare;
using PortShare.Http;
using PortShare.Http.Hosting;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Makes clients from <c>IHttpClientFactory</c> open every connection from the host's port slice.</summary>
public static class PortShareHttpClientBuilderExtensions
{
    /// <summary>
    /// Makes this client's primary handler a <see cref="SocketsHttpHandler"/> whose connections all come from the
    /// host's port slice, configured by <see cref="PortShareOptions"/> from the configuration section <c>PortShare</c>
    /// (e.g. <c>"PortShare": { "Slice": "40000-40511" }</c>) and validated when the host starts. Inside
    /// <c>services.ConfigureHttpClientDefaults(b =&gt; b.UsePortSlice())</c> it applies to every client.
    /// A request that finds no free port fails with an <see cref="HttpRequestException"/> whose inner exception is a
    /// <see cref="SliceExhaustedException"/>.
    /// </summary>
    /// <param name="builder">The client builder.</param>
    /// <param name="configure">Optional settings for this client, applied after the configuration section (they win).</param>
    /// <returns><paramref name="builder"/>, for chaining.</returns>
    public static IHttpClientBuilder UsePortSlice(this IHttpClientBuilder builder, Action<PortShareOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);

        // Options are named after the client, so clients may use different slices or egress addresses; the defaults
        // builder (no name) configures the default options.
        var name = builder.Name ?? Options.Options.DefaultName;
        PortShareServiceCollectionExtensions.AddPortShareOptions(builder.Services, name, configure);
        return builder.UseSocketsHttpHandler((handler, services) =>
            handler.UsePortSlice(services.GetRequiredService<PortShareConnectors>().Get(name)));
    }
}
