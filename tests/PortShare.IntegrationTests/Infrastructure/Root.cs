namespace PortShare.IntegrationTests.Infrastructure;

/// <summary>Capability checks for tests that need the real kernel as root. Probed lazily, never in a static initializer.</summary>
internal static class Root
{
    public static bool IsRoot => Environment.UserName == "root" || GetEuid() == 0;

    public static bool HasIp => File.Exists("/usr/sbin/ip") || File.Exists("/sbin/ip") || File.Exists("/usr/bin/ip");

    /// <summary>Skips the calling test unless it runs as root with iproute2 (CI runs as root).</summary>
    public static void Require()
    {
        Assert.SkipUnless(IsRoot, "needs root: creates network namespaces and sets per-namespace sysctls (run ./test.sh as root, as CI does)");
        Assert.SkipUnless(HasIp, "needs iproute2's 'ip' (run ./setup.sh as root)");
    }

    private static uint GetEuid()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
            {
                if (line.StartsWith("Uid:", StringComparison.Ordinal))
                {
                    var parts = line.Split('\t', StringSplitOptions.RemoveEmptyEntries);
                    return uint.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture);
                }
            }
        }
        catch (IOException)
        {
        }

        return uint.MaxValue;
    }
}
