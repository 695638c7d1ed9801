using Grpc.Core;
using Grpc.Net.Client;
using Grpc.Net.Client.Balancer;
using Grpc.Net.Client.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace PortShare.Fleet;

/// <summary>
/// The gRPC channel to an etcd cluster: one endpoint directly, several behind gRPC's round-robin balancer over a
/// static list, so a member that goes away (a killed leader) is skipped and calls go to the others (etcd forwards
/// writes to the leader). Connections fail fast, so an unreachable cluster is an error within a call's deadline.
/// </summary>
internal static class EtcdChannel
{
    public static GrpcChannel Create(IReadOnlyList<Uri> endpoints, Func<SocketsHttpConnectionContext, CancellationToken, ValueTask<Stream>>? connect)
    {
        // etcd closes a connection (GOAWAY ENHANCE_YOUR_CALM) whose client pings more often than its
        // --grpc-keepalive-min-time (5 s by default), or at all while no call is open: ping only during calls (a watch
        // is one), and half as often as that. A call without a watch has its own deadline.
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = connect,
            ConnectTimeout = TimeSpan.FromSeconds(2),
            EnableMultipleHttp2Connections = true,
            KeepAlivePingDelay = TimeSpan.FromSeconds(10),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(5),
            KeepAlivePingPolicy = HttpKeepAlivePingPolicy.WithActiveRequests,
        };
        var secure = endpoints[0].Scheme == "https";
        var options = new GrpcChannelOptions
        {
            HttpHandler = handler,
            Credentials = secure ? ChannelCredentials.SecureSsl : ChannelCredentials.Insecure,
            MaxReceiveMessageSize = 64 * 1024 * 1024,
            // An agent back from a partition must reach etcd within a round or two, not after gRPC's two-minute back-off.
            InitialReconnectBackoff = TimeSpan.FromMilliseconds(250),
            MaxReconnectBackoff = TimeSpan.FromSeconds(2),
        };
        // A connect callback chooses the member itself (gRPC's balancer cannot use one): one channel address, the first.
        if (endpoints.Count == 1 || connect is not null)
        {
            return GrpcChannel.ForAddress(endpoints[0], options);
        }

        var services = new ServiceCollection();
        services.AddSingleton<ResolverFactory>(new StaticResolverFactory(_ => [.. endpoints.Select(u => new BalancerAddress(u.Host, u.Port))]));
        options.ServiceProvider = services.BuildServiceProvider();
        options.ServiceConfig = new ServiceConfig { LoadBalancingConfigs = { new RoundRobinConfig() } };
        options.DisposeHttpClient = true;
        return GrpcChannel.ForAddress("static:///etcd", options);
    }
}
