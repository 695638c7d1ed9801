using System.Globalization;
using PortShare.Routing;

namespace PortShare.Lab;

/// <summary>
/// The one topology builder of the lab, of <c>bench route</c> and of <c>bench failover</c>: namespaces for one or more
/// routers, a server and N hosts, wired with veth links. With several routers every router has the same addresses
/// (each in its own namespace), so the hosts' next hops and the plan are the same on all of them; the server and each
/// host reach the other side through a nexthop group over every router (ECMP with an L4 hash), and a router that
/// disappears leaves its group (its links are gone) while the others carry on.
/// </summary>
public static class LabNetwork
{
    /// <summary>Creates a namespace (lo up, no duplicate address detection, which would delay neighbour discovery).</summary>
    public static void AddNamespace(string name)
    {
        new NetTools().IpCheck("netns", "add", name);
        var sysctl = new NetnsSysctl(new NetTools(name));
        sysctl.Write("net/ipv6/conf/all/accept_dad", "0");
        sysctl.Write("net/ipv6/conf/default/accept_dad", "0");
        new NetTools(name).IpCheck("link", "set", "lo", "up");
    }

    /// <summary>The device name on the server and on each host toward router <paramref name="router"/> (1-based).</summary>
    public static string UplinkName(int router) => router == 1 ? "uplink" : "uplink" + router.ToString(CultureInfo.InvariantCulture);

    /// <summary>Creates the routers' and the server's namespaces and wires every router to the server.</summary>
    public static void WireRoutersAndServer(string prefix, int routers)
    {
        var serverNs = LabTopology.ServerNs(prefix);
        var server = new NetTools(serverNs);
        for (var k = 1; k <= routers; k++)
        {
            var routerNs = LabTopology.RouterNs(prefix, k);
            var router = new NetTools(routerNs);
            router.IpBatch(4, [
                $"link add srv type veth peer name {UplinkName(k)} netns {serverNs}",
                $"addr add {LabTopology.RouterServerSide4}/24 dev srv",
                // The router's own address for SNAT scenarios: distinct per router, so a reply returns to its router.
                $"addr add {LabTopology.RouterSnat4(k)}/32 dev srv",
                "link set dev srv up",
            ]);
            router.IpBatch(6, [$"addr add {LabTopology.RouterServerSide6}/64 dev srv nodad"]);
            server.IpBatch(4, [
                $"addr add {LabTopology.Server4}/24 dev {UplinkName(k)}",
                $"link set dev {UplinkName(k)} up",
                $"route add {LabTopology.RouterSnat4(k)}/32 dev {UplinkName(k)}",
            ]);
            server.IpBatch(6, [$"addr add {LabTopology.Server6}/64 dev {UplinkName(k)} nodad"]);
            var sysctl = new NetnsSysctl(router);
            sysctl.Write("net/ipv4/ip_forward", "1");
            sysctl.Write("net/ipv6/conf/all/forwarding", "1");
            sysctl.Write("net/ipv4/conf/all/rp_filter", "0");
            sysctl.Write("net/ipv4/conf/default/rp_filter", "0");
            // The router's own ICMP errors (fragmentation-needed when its uplink MTU is smaller) take the mark of the packet
            // they answer, which the nftables backend set from its source port: they route back to the owning host.
            sysctl.Write("net/ipv4/fwmark_reflect", "1");
            sysctl.Write("net/ipv6/fwmark_reflect", "1");
        }

        DefaultOverRouters(server, routers, LabTopology.RouterServerSide4.ToString(), LabTopology.RouterServerSide6.ToString());
    }

    /// <summary>Creates host <paramref name="host"/>'s links to every router (the same addresses on each).</summary>
    public static void WireHost(string prefix, string host, int routers)
    {
        var n = LabTopology.HostNumber(host);
        var hostNs = LabTopology.HostNs(prefix, host);
        var tools = new NetTools(hostNs);
        for (var k = 1; k <= routers; k++)
        {
            var router = new NetTools(LabTopology.RouterNs(prefix, k));
            router.IpBatch(4, [
                $"link add {host} type veth peer name {UplinkName(k)} netns {hostNs}",
                $"addr add {LabTopology.RouterSide4(n)}/30 dev {host}",
                $"link set dev {host} up",
            ]);
            router.IpBatch(6, [$"addr add {LabTopology.RouterSide6(n)}/64 dev {host} nodad"]);
            tools.IpBatch(4, [
                $"addr add {LabTopology.HostSide4(n)}/30 dev {UplinkName(k)}",
                $"link set dev {UplinkName(k)} up",
            ]);
            tools.IpBatch(6, [$"addr add {LabTopology.HostSide6(n)}/64 dev {UplinkName(k)} nodad"]);
        }

        DefaultOverRouters(tools, routers, LabTopology.RouterSide4(n).ToString(), LabTopology.RouterSide6(n).ToString());
    }

    /// <summary>The network the benchmarks' dummy hosts' next hops sit on (RFC 2544's benchmarking range).</summary>
    public const string DummyNetwork = "198.18.0.0/15";

    /// <summary>
    /// A link on router <paramref name="router"/> that nothing answers on, for benchmark hosts that exist only in a
    /// plan: their next hops (<see cref="DummyNextHop"/>) are on it, and no probe is ever steered to them.
    /// </summary>
    public static void AddDummyLink(string prefix, int router = 1)
    {
        new NetTools(LabTopology.RouterNs(prefix, router)).IpBatch(4, [
            "link add dummies type veth peer name dummies-end",
            "addr add 198.18.0.1/15 dev dummies",
            "link set dev dummies up",
            "link set dev dummies-end up",
        ]);
    }

    /// <summary>Dummy host <paramref name="d"/>'s next hop (0-based; up to 131,000 of them).</summary>
    public static System.Net.IPAddress DummyNextHop(int d)
    {
        var n = (198u << 24) + (18u << 16) + (uint)d + 2;
        return new System.Net.IPAddress([(byte)(n >> 24), (byte)(n >> 16), (byte)(n >> 8), (byte)n]);
    }

    /// <summary>
    /// A default route over a nexthop group of every router's link (IPv4 ids 1…, IPv6 ids 101…), hashed on the L4
    /// ports so flows spread, and without reverse-path filtering (a flow may leave by one router and return by another).
    /// </summary>
    private static void DefaultOverRouters(NetTools tools, int routers, string via4, string via6)
    {
        var sysctl = new NetnsSysctl(tools);
        sysctl.Write("net/ipv4/fib_multipath_hash_policy", "1");
        sysctl.Write("net/ipv6/fib_multipath_hash_policy", "1");
        sysctl.Write("net/ipv4/conf/all/rp_filter", "0");
        sysctl.Write("net/ipv4/conf/default/rp_filter", "0");
        if (routers == 1)
        {
            tools.IpBatch(4, [$"route add default via {via4} dev {UplinkName(1)}"]);
            tools.IpBatch(6, [$"route add default via {via6} dev {UplinkName(1)}"]);
            return;
        }

        var v4 = new List<string>();
        var v6 = new List<string>();
        for (var k = 1; k <= routers; k++)
        {
            v4.Add(string.Create(CultureInfo.InvariantCulture, $"nexthop add id {k} via {via4} dev {UplinkName(k)}"));
            v6.Add(string.Create(CultureInfo.InvariantCulture, $"nexthop add id {100 + k} via {via6} dev {UplinkName(k)}"));
        }

        tools.IpBatch(4, v4);
        tools.IpBatch(6, v6);
        // A group takes no address family (ip refuses -4/-6 for it); its members give it one.
        tools.IpCheck("nexthop", "add", "id", "1000", "group", string.Join('/', Enumerable.Range(1, routers)));
        tools.IpCheck("nexthop", "add", "id", "1100", "group", string.Join('/', Enumerable.Range(101, routers)));
        tools.IpBatch(4, ["route add default nhid 1000"]);
        tools.IpBatch(6, ["route add default nhid 1100"]);
    }
}
