using System.Net;
using System.Net.Sockets;
using FsCheck;
using FsCheck.Fluent;
using PortShare.IntegrationTests.Infrastructure;

namespace PortShare.IntegrationTests.Kernel;

/// <summary>
/// CONFORMANCE.md B: the pure clamp function must agree with the kernel, not with itself. For generated
/// (netns range, socket range) pairs, UDP bind(0) until exhaustion must yield exactly the ports
/// <see cref="PortRange.Effective"/> predicts (UDP autobind has no parity rule, C6).
/// </summary>
[Trait("Category", "RequiresRoot")]
[Collection(ExclusiveCollection.Name)]
public class ClampAgreementTests
{
    [Fact]
    public void Kernel_bind_ports_are_exactly_the_predicted_effective_range()
    {
        Root.Require();
        using var ns = TestNetns.Create();

        // Bounds drawn near the netns range so every case kind appears: inside, partial, outside, unset (0).
        var bound = Gen.OneOf(Gen.Constant(0), Gen.Choose(39_990, 40_090));
        var cases = from netLo in Gen.Choose(40_000, 40_050)
                    from width in Gen.Choose(0, 24)
                    from a in bound
                    from b in bound
                    select (netLo, netHi: netLo + width, lo: a != 0 && b != 0 ? Math.Min(a, b) : a, hi: a != 0 && b != 0 ? Math.Max(a, b) : b);

        Prop.ForAll(Arb.From(cases), c =>
        {
            ns.SetPortRange(c.netLo, c.netHi);
            var predicted = PortRange.Effective(new PortRange((ushort)c.netLo, (ushort)c.netHi), (ushort)c.lo, (ushort)c.hi);
            var observed = BindUntilExhausted(ns, (ushort)c.lo, (ushort)c.hi);
            var expected = Enumerable.Range(predicted.Low, predicted.Count).ToHashSet();
            return observed.SetEquals(expected)
                .Label($"netns {c.netLo}-{c.netHi}, option ({c.lo},{c.hi}): predicted {predicted}, kernel gave [{string.Join(',', observed.Order())}]");
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(60));
    }

    [Fact]
    public void Tcp_bind_zero_stays_in_the_predicted_range_on_both_families()
    {
        Root.Require();
        using var ns = TestNetns.Create(40000, 49999);
        foreach (var (lo, hi) in new[] { (30000, 40003), (49996, 59999), (45000, 0), (12345, 54321) })
        {
            var predicted = PortRange.Effective(new PortRange(40000, 49999), (ushort)lo, (ushort)hi);
            foreach (var family in new[] { AddressFamily.InterNetwork, AddressFamily.InterNetworkV6 })
            {
                using var s = ns.Socket(family, SocketType.Stream, ProtocolType.Tcp);
                Interop.SocketOptions.SetLocalPortRange(s, PortRange.PackRaw((ushort)lo, (ushort)hi));
                s.Bind(new IPEndPoint(family == AddressFamily.InterNetwork ? IPAddress.Loopback : IPAddress.IPv6Loopback, 0));
                Assert.True(predicted.Contains(((IPEndPoint)s.LocalEndPoint!).Port), $"({lo},{hi}) {family}: port {s.LocalEndPoint} outside predicted {predicted}");
            }
        }
    }

    private static HashSet<int> BindUntilExhausted(TestNetns ns, ushort lo, ushort hi)
    {
        var sockets = new List<Socket>();
        try
        {
            while (sockets.Count < 200)
            {
                var s = ns.Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                sockets.Add(s);
                Interop.SocketOptions.SetLocalPortRange(s, PortRange.PackRaw(lo, hi));
                try
                {
                    s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
                }
                catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AddressAlreadyInUse)
                {
                    break;
                }
            }

            return sockets.Where(s => s.IsBound).Select(s => ((IPEndPoint)s.LocalEndPoint!).Port).ToHashSet();
        }
        finally
        {
            foreach (var s in sockets)
            {
                s.Dispose();
            }
        }
    }
}
