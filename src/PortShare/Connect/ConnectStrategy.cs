namespace PortShare.Connect;

/// <summary>How a <see cref="SliceConnector"/> keeps sockets inside the slice.</summary>
public enum ConnectStrategy
{
    /// <summary>The kernel path where the kernel supports it, else the fallback.</summary>
    Auto,

    /// <summary><c>IP_LOCAL_PORT_RANGE</c> (Linux ≥ 6.3): the kernel picks a free port in the slice; an error on older kernels.</summary>
    Kernel,

    /// <summary>User-space bind-before-connect with <c>SO_REUSEADDR</c>, retrying busy ports (any kernel).</summary>
    Fallback,
}
