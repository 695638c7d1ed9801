using System.CommandLine;
using PortShare.Routing;

namespace PortShare.Cli.Commands;

/// <summary>Options the router, host and lab commands share.</summary>
internal static class RoutingOptions
{
    public static Option<RouterBackend> Backend() => new("--backend")
    {
        Description = "netdev (default: a netdev ingress table forwarding each reply straight to its host, flat cost with any number of hosts and slices, atomic, steers ICMP errors), nftables (a port map to a mark and one fwmark rule and table per host: cost grows with the host count; supports --reassemble) or iprule (iproute2 only, one rule per slice: for small plans; ICMP errors such as fragmentation-needed are not steered, so path-MTU discovery through the router breaks).",
        DefaultValueFactory = _ => RouterBackend.Netdev,
        CustomParser = r => r.Tokens.Count == 1 && ParseBackend(r.Tokens[0].Value) is { } b
            ? b
            : Fail(r, $"--backend must be 'netdev', 'nftables' or 'iprule', not '{string.Join(' ', r.Tokens.Select(t => t.Value))}'."),
    };

    public static Option<string?> Netns() => new("--netns")
    {
        Description = "Act inside this network namespace (as made by 'ip netns add') instead of the current one.",
        Validators =
        {
            r =>
            {
                if (r.GetValueOrDefault<string?>() is { } v && !NetTools.IsValidNetnsName(v))
                {
                    r.AddError($"--netns '{v}' is not a valid namespace name.");
                }
            },
        },
    };

    public static Option<bool> DryRun() => new("--dry-run") { Description = "Print the commands instead of running them." };

    public static void RequireRoot()
    {
        if (!Environment.IsPrivilegedProcess)
        {
            throw new PortShareException("This command changes routing, addresses or namespaces and needs root (run it with sudo).");
        }
    }

    private static RouterBackend? ParseBackend(string text) => text.ToUpperInvariant() switch
    {
        "NFTABLES" or "NFT" => RouterBackend.Nftables,
        "IPRULE" or "IP-RULE" or "IP" => RouterBackend.IpRule,
        "NETDEV" => RouterBackend.Netdev,
        _ => null,
    };

    private static RouterBackend Fail(System.CommandLine.Parsing.ArgumentResult r, string message)
    {
        r.AddError(message);
        return default;
    }
}
