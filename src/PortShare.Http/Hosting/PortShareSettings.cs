using System.Net;
using System.Net.NetworkInformation;
using PortShare.Connect;

namespace PortShare.Http.Hosting;

/// <summary>
/// <see cref="PortShareOptions"/> resolved to values: the slice (given, or from the host file at <see cref="HostFile"/>),
/// the egress address and the strategy.
/// </summary>
internal sealed record PortShareSettings(PortSlice Slice, string? HostFile, IPAddress? Egress, ConnectStrategy Strategy)
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

        egress = egress is { IsIPv4MappedToIPv6: true } ? egress.MapToIPv4() : egress;
        PortSlice? slice = null;
        string? hostFile = null;
        if (hasSlice && hasStateFile)
        {
            errors.Add($"PortShare:Slice '{options.Slice}' and PortShare:StateFile '{options.StateFile}' are both set: set only one.");
        }
        else if (hasSlice)
        {
            if (!PortSlice.TryParse(options.Slice, out slice, out var error))
            {
                errors.Add($"PortShare:Slice: {error}");
            }
        }
        else if (errors.Count == before)
        {
            // The one rule for where the host file is: PortShare:StateFile, else PORTSHARE_HOST_FILE, else the default path.
            hostFile = HostSliceFile.ResolvePath(hasStateFile ? options.StateFile : null);
            try
            {
                var mine = HostSliceFile.Load(hostFile).For(egress);
                slice = mine.Ports;
                egress = mine.Egress;
            }
            catch (PortShareException ex)
            {
                errors.Add(hasStateFile
                    ? $"PortShare:StateFile: {ex.Message}"
                    : $"PortShare:Slice is not set, so the slice comes from this host's host file, which cannot be used: {ex.Message} Or set PortShare:Slice (e.g. \"PortShare\": {{ \"Slice\": \"40000-40511\" }}).");
            }
        }

        if (errors.Count != before || slice is null)
        {
            return null;
        }

        var settings = new PortShareSettings(slice, hostFile, egress, options.Strategy);
        if (checkHost)
        {
            settings.CheckHost(errors);
        }

        return errors.Count == before ? settings : null;
    }

    /// <summary>
    /// Creates the connector source: a fixed connector for a given slice, or one that follows the host file. Either
    /// checks the slice against the netns range and the kernel (fail closed).
    /// </summary>
    public Func<SliceConnector> CreateConnector()
    {
        if (HostFile is null)
        {
            var fixedConnector = new SliceConnector(Slice, Egress, Strategy);
            return () => fixedConnector;
        }

        var following = new HostSliceConnector(Egress, Strategy, HostFile);
        return () => following.Current;
    }

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
            errors.Add(HostFile is null ? $"PortShare:Slice {Slice}: {ex.Message}" : $"The host file {HostFile}: {ex.Message}");
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
