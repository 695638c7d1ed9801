namespace PortShare.Connect;

/// <summary>How a <see cref="UdpSliceConnector"/> picks source ports.</summary>
public enum UdpPortMode
{
    /// <summary>
    /// One port serves many destinations (Cloudflare's connectx algorithm): a slice of N ports carries N flows per
    /// destination. Every socket that shares ports this way must follow the same protocol.
    /// </summary>
    Shared,

    /// <summary>
    /// One port per flow, chosen by the kernel (<c>IP_LOCAL_PORT_RANGE</c> + connect, or bind to a free port on kernels
    /// without it): a slice of N ports carries at most N flows in total.
    /// </summary>
    Unique,
}
