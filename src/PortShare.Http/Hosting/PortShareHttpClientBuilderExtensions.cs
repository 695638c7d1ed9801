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
    /// <param name="configure">
    /// Optional settings for this client only, applied after the configuration section (they win). Without them the
    /// client shares the host-wide options (and connector) that <see cref="PortShareServiceCollectionExtensions.AddPortShare"/> registers.
    /// </param>
    /// <returns><paramref name="builder"/>, for chaining.</returns>
    public static IHttpClientBuilder UsePortSlice(this IHttpClientBuilder builder, Action<PortShareOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);

        // Clients without their own settings share the default options, and so one connector (whose memory of busy
        // ports then covers all of them) with AddPortShare and ConfigureHttpClientDefaults; a client with its own
        // settings gets options named after it, so it may use another slice or egress address.
        var name = configure is null ? Options.Options.DefaultName : builder.Name ?? Options.Options.DefaultName;
        PortShareServiceCollectionExtensions.AddPortShareOptions(builder.Services, name, configure);
        return builder.UseSocketsHttpHandler((handler, services) =>
            handler.UsePortSlice(services.GetRequiredService<PortShareConnectors>().Get(name)));
    }
}
