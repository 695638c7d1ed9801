namespace PortShare.Fleet;

/// <summary>A fleet operation failed: etcd unreachable, no pool, a conflicting pool, a host name already taken, a bad spec.</summary>
public sealed class FleetException : PortShareException
{
    /// <summary>Creates the exception.</summary>
    public FleetException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public FleetException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception.</summary>
    public FleetException()
    {
    }
}
