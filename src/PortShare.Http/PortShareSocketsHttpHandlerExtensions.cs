using System.Net;
using System.Net.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PortShare.Connect;

namespace PortShare.Http;

/// <summary>Makes a <see cref="SocketsHttpHandler"/> open every connection from a port slice.</summary>
public static class PortShareSocketsHttpHandlerExtensions
{
    /// <summary>
    /// Sets <paramref name="handler"/>'s <see cref="SocketsHttpHandler.ConnectCallback"/> so that every connection comes
    /// from a local port in <paramref name="slice"/>. Host names are resolved and their addresses tried in order;
    /// <see cref="SocketsHttpHandler.ConnectTimeout"/> and request cancellation are honoured. When no port is free the
    /// request fails with an <see cref="HttpRequestException"/> whose inner exception is a <see cref="SliceExhaustedException"/>.
    /// </summary>
    /// <param name="handler">The handler to configure; its <see cref="SocketsHttpHandler.ConnectCallback"/> must be unset (or PortShare's).</param>
    /// <param name="slice">The host's port slice (one range or several, all used); it must lie inside the network namespace's <c>ip_local_port_range</c>.</param>
    /// <param name="egressAddress">The address to bind to (the shared egress IP), or null to let routing choose.</param>
    /// <param name="strategy">The connect strategy; <see cref="ConnectStrategy.Auto"/> uses the kernel path where available.</param>
    /// <param name="logger">Where to log; null for none.</param>
    /// <returns><paramref name="handler"/>, for chaining.</returns>
    /// <exception cref="SliceMisconfiguredException">The slice is not usable in this network namespace.</exception>
    /// <exception cref="KernelPathUnsupportedException"><see cref="ConnectStrategy.Kernel"/> was asked for on a kernel without it.</exception>
    /// <exception cref="InvalidOperationException">The handler already has a ConnectCallback other than PortShare's.</exception>
    public static SocketsHttpHandler UsePortSlice(
        this SocketsHttpHandler handler,
        PortSlice slice,
        IPAddress? egressAddress = null,
        ConnectStrategy strategy = ConnectStrategy.Auto,
        ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(handler);
        return handler.UsePortSlice(new SliceConnector(slice, egressAddress, strategy), logger);
    }

    /// <summary>
    /// Sets <paramref name="handler"/>'s <see cref="SocketsHttpHandler.ConnectCallback"/> to connect through
    /// <paramref name="connector"/>. Share one connector between all handlers of a slice (it remembers busy ports).
    /// </summary>
    /// <param name="handler">The handler to configure; its <see cref="SocketsHttpHandler.ConnectCallback"/> must be unset (or PortShare's).</param>
    /// <param name="connector">The connector for the host's slice.</param>
    /// <param name="logger">Where to log; null for none.</param>
    /// <returns><paramref name="handler"/>, for chaining.</returns>
    /// <exception cref="InvalidOperationException">The handler already has a ConnectCallback other than PortShare's.</exception>
    public static SocketsHttpHandler UsePortSlice(this SocketsHttpHandler handler, SliceConnector connector, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(handler);
        ArgumentNullException.ThrowIfNull(connector);
        return handler.UsePortSlice(new SliceConnectCallback(connector, logger ?? NullLogger.Instance));
    }

    /// <summary>
    /// Sets <paramref name="handler"/>'s <see cref="SocketsHttpHandler.ConnectCallback"/> to connect from this host's
    /// slice as its host file says, following the file when <c>portshare host apply</c> or the fleet agent rewrites it.
    /// </summary>
    /// <param name="handler">The handler to configure; its <see cref="SocketsHttpHandler.ConnectCallback"/> must be unset (or PortShare's).</param>
    /// <param name="connector">The host-file connector (<c>new HostSliceConnector()</c>).</param>
    /// <param name="logger">Where to log; null for none.</param>
    /// <returns><paramref name="handler"/>, for chaining.</returns>
    public static SocketsHttpHandler UsePortSlice(this SocketsHttpHandler handler, HostSliceConnector connector, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(handler);
        ArgumentNullException.ThrowIfNull(connector);
        return handler.UsePortSlice(new SliceConnectCallback(() => connector.Current, logger ?? NullLogger.Instance));
    }

    internal static SocketsHttpHandler UsePortSlice(this SocketsHttpHandler handler, SliceConnectCallback callback)
    {
        // Replacing PortShare's own callback is fine: a client may refine what ConfigureHttpClientDefaults set.
        if (handler.ConnectCallback is { Target: not SliceConnectCallback })
        {
            throw new InvalidOperationException("This SocketsHttpHandler already has a ConnectCallback; PortShare would replace it. Configure one or the other.");
        }

        handler.ConnectCallback = callback.ConnectAsync;
        return handler;
    }
}
