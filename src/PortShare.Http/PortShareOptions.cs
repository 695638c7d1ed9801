using PortShare.Connect;

namespace PortShare.Http;

/// <summary>
/// Where a host's outgoing HTTP connections come from: its port slice (given directly, or read from the host state
/// file that <c>portshare host apply</c> writes), the egress address to bind to, and the connect strategy.
/// Bound from the configuration section <see cref="SectionName"/>, e.g.
/// <c>"PortShare": { "Slice": "40000-40511" }</c>, and validated when the host starts.
/// </summary>
public sealed class PortShareOptions
{
    /// <summary>The configuration section the options are bound from: <c>PortShare</c>.</summary>
    public const string SectionName = "PortShare";

    /// <summary>
    /// The slice as <c>LO-HI</c> (e.g. <c>40000-40511</c>), or several ranges separated by commas
    /// (<c>40000-40099,40200-40511</c>). Set this or <see cref="StateFile"/>, not both; with neither, the slice comes from
    /// this host's host file (<c>PORTSHARE_HOST_FILE</c>, else <c>/etc/portshare/host.json</c>).
    /// </summary>
    public string? Slice { get; set; }

    /// <summary>
    /// Path of the host file (written by <c>portshare host apply</c>, read by <see cref="HostSliceFile"/>) to take the
    /// slice and egress address from; connections follow the file when it is rewritten. Set this or <see cref="Slice"/>, not both.
    /// </summary>
    public string? StateFile { get; set; }

    /// <summary>
    /// The egress (shared) address to bind sockets to, e.g. <c>192.0.2.1</c>; it must be assigned to an interface of
    /// this network namespace. Null or empty: the state file's egress address when the slice comes from
    /// <see cref="StateFile"/>, otherwise none (the routing table chooses the source address, and only destinations
    /// of any family are reachable). With an address, only destinations of its family are tried.
    /// </summary>
    public string? EgressAddress { get; set; }

    /// <summary>How sockets are kept in the slice; <see cref="ConnectStrategy.Auto"/> (the default) picks the kernel path where it exists.</summary>
    public ConnectStrategy Strategy { get; set; } = ConnectStrategy.Auto;

    /// <summary>Values the configuration binder could not convert; reported by validation with the other problems.</summary>
    internal List<string> BindErrors { get; } = [];
}
