using System.CommandLine;
using PortShare.Routing;

namespace PortShare.Cli.Commands;

/// <summary>Options the router, host and lab commands share.</summary>
internal static class RoutingOptions
{
    public static Option<RouterBackend> Backend() => new("--backend")
    {
        Description = "nftables (default: one port map, flat cost, atomic, steers ICMP errors) or iprule (iproute2 only, one rule per slice: for small plans; ICMP errors such as fragmentation-needed are not steered, so path-MTU discovery through the router breaks).",
        DefaultValueFactory = _ => RouterBackend.Nftables,
        CustomParser = r => r.Tokens.Count == 1 && ParseBackend(r.Tokens[0].Value) is { } b
            ? b
            : Fail(r, $"--backend must be 'nftables' or 'iprule', not '{string.Join(' ', r.Tokens.Select(t => t.Value))}'."),
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
        _ => null,
    };

    private static RouterBackend Fail(System.CommandLine.Parsing.ArgumentResult r, string message)
    {
        r.AddError(message);
        return default;
    }
}
