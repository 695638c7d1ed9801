using System.Net;
using System.Net.NetworkInformation;
using PortShare.Connect;

namespace PortShare.Http.Hosting;

/// <summary><see cref="PortShareOptions"/> resolved to values: the slice, the egress address and the strategy.</summary>
internal sealed record PortShareSettings(PortRange Slice, IPAddress? Egress, ConnectStrategy Strategy)
{
    /// <summary>
    /// Resolves <paramref name="options"/>, collecting every problem (each naming the setting, its value and a fix) into
    /// <paramref name="errors"/>. With <paramref name="checkHost"/> the result is also checked against this host: the
    /// egress address is assigned here and the slice is usable in this network namespace.
    /// </summary>
    public static PortShareSettings? Resolve(PortShareOptions options, List<string> errors, bool checkHost)
    {
        var hasSlice = !string.IsNullOrWhiteSpace(options.Slice);
        var hasStateFile = !string.IsNullOrWhiteSpace(options.StateFile);
        var before = errors.Count;

        foreach (var bindError in options.BindErrors)
        {
            errors.Add($"{bindError} (PortShare:Strategy takes Auto, Kernel or Fallback; PortShare:Slice, StateFile and EgressAddress are strings.)");
        }

        if (!Enum.IsDefined(options.Strategy))
        {
            errors.Add($"PortShare:Strategy '{options.Strategy}' is not a strategy: use Auto, Kernel or Fallback.");
        }

        IPAddress? egress = null;
        if (!string.IsNullOrWhiteSpace(options.EgressAddress) && !IPAddress.TryParse(options.EgressAddress.Trim(), out egress))
        {
            errors.Add($"PortShare:EgressAddress '{options.EgressAddress}' is not an IP address (e.g. 192.0.2.1 or 2001:db8::1).");
        }

        PortRange slice = default;
        if (hasSlice && hasStateFile)
        {
            errors.Add($"PortShare:Slice '{options.Slice}' and PortShare:StateFile '{options.StateFile}' are both set: set only one.");
        }
        else if (hasSlice)
        {
            if (!PortRange.TryParse(options.Slice, out slice, out var error))
            {
                errors.Add($"PortShare:Slice: {error}");
            }
        }
        else if (hasStateFile)
        {
            if (errors.Count == before)
            {
                try
                {
                    var entry = HostStateFile.Read(options.StateFile!, egress);
                    slice = entry.Slice;
                    egress ??= entry.Egress;
                }
                catch (PortShareException ex)
                {
                    errors.Add($"PortShare:StateFile: {ex.Message}");
                }
            }
        }
        else
        {
            errors.Add("PortShare:Slice is not set: set it to this host's port slice (e.g. \"PortShare\": { \"Slice\": \"40000-40511\" }), or set PortShare:StateFile to the host state file 'portshare host apply' writes.");
        }

        if (errors.Count != before)
        {
            return null;
        }

        var settings = new PortShareSettings(slice, egress, options.Strategy);
        if (checkHost)
        {
            settings.CheckHost(errors);
        }

        return errors.Count == before ? settings : null;
    }

    /// <summary>Creates the connector; it checks the slice against the netns range and the kernel (fail closed).</summary>
    public SliceConnector CreateConnector() => new(Slice, Egress, Strategy);

    private void CheckHost(List<string> errors)
    {
        if (Egress is not null && !IsLocalAddress(Egress))
        {
            errors.Add($"PortShare:EgressAddress {Egress} is not assigned to any interface of this host (network namespace): add it (e.g. 'ip addr add {Egress}/{(Egress.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128)} dev lo') or leave EgressAddress unset.");
            return;
        }

        try
        {
            _ = CreateConnector();
        }
        catch (PortShareException ex)
        {
            errors.Add($"PortShare:Slice {Slice}: {ex.Message}");
        }
    }

    private static bool IsLocalAddress(IPAddress address)
    {
        foreach (var nic in NetworkInterface.GetAllNetworkInterfaces())
        {
            foreach (var unicast in nic.GetIPProperties().UnicastAddresses)
            {
                if (unicast.Address.Equals(address))
                {
                    return true;
                }
            }
        }

        return false;
    }
}
