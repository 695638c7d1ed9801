using PortShare.Connect;

namespace PortShare.IntegrationTests.Infrastructure;

/// <summary>The connect strategies × address families that connector tests run over, and the kernel-path skip.</summary>
internal static class Strategies
{
    public static TheoryData<ConnectStrategy, string> AndFamilies => new()
    {
        { ConnectStrategy.Kernel, "127.0.0.1" },
        { ConnectStrategy.Kernel, "::1" },
        { ConnectStrategy.Fallback, "127.0.0.1" },
        { ConnectStrategy.Fallback, "::1" },
    };

    /// <summary>As root with iproute2 (<see cref="Root.Require"/>), and for the kernel path a kernel with IP_LOCAL_PORT_RANGE.</summary>
    public static void Require(ConnectStrategy strategy)
    {
        Root.Require();
        Assert.SkipWhen(strategy == ConnectStrategy.Kernel && !HostFacts.SupportsLocalPortRange(), $"kernel {HostFacts.KernelRelease()} has no IP_LOCAL_PORT_RANGE (Linux 6.3+).");
    }
}
