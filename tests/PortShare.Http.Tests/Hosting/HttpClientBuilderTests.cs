using System.Net;
using System.Net.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using PortShare.Connect;
using PortShare.Http.Tests.Infrastructure;

namespace PortShare.Http.Tests.Hosting;

/// <summary>IHttpClientBuilder.UsePortSlice and AddPortShare in a real generic host, configured as an app would be.</summary>
public sealed class HttpClientBuilderTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_named_client_configured_from_the_PortShare_section_connects_from_the_slice()
    {
        await using var server = await LoopbackServer.StartAsync(IPAddress.Loopback);
        var slice = TestSlices.Pick(16);
        using var host = BuildHost(new() { ["PortShare:Slice"] = slice.ToString() }, s => s.AddHttpClient("api").UsePortSlice());
        await host.StartAsync(Ct);

        var client = host.Services.GetRequiredService<IHttpClientFactory>().CreateClient("api");
        var seen = IPEndPoint.Parse(await client.GetStringAsync(server.BaseAddress, Ct));
        Assert.True(slice.Contains(seen.Port), $"client port {seen.Port} is outside slice {slice}");
        await host.StopAsync(Ct);
    }

    [Fact]
    public async Task ConfigureHttpClientDefaults_puts_every_client_on_the_slice()
    {
        await using var server = await LoopbackServer.StartAsync(IPAddress.Loopback);
        var slice = TestSlices.Pick(16);
        using var host = BuildHost(new() { ["PortShare:Slice"] = slice.ToString() }, s => s.ConfigureHttpClientDefaults(b => b.UsePortSlice()));
        await host.StartAsync(Ct);

        var factory = host.Services.GetRequiredService<IHttpClientFactory>();
        foreach (var name in new[] { string.Empty, "a", "b" })
        {
            var seen = IPEndPoint.Parse(await factory.CreateClient(name).GetStringAsync(server.BaseAddress, Ct));
            Assert.True(slice.Contains(seen.Port), $"client '{name}' used port {seen.Port}, outside slice {slice}");
        }
    }

    [Fact]
    public async Task Code_configuration_of_a_client_overrides_the_section()
    {
        await using var server = await LoopbackServer.StartAsync(IPAddress.Loopback);
        var fromConfig = TestSlices.Pick(16);
        var fromCode = TestSlices.Pick(16);
        using var host = BuildHost(
            new() { ["PortShare:Slice"] = fromConfig.ToString() },
            s => s.AddHttpClient("api").UsePortSlice(o => o.Slice = fromCode.ToString()));
        await host.StartAsync(Ct);

        var seen = IPEndPoint.Parse(await host.Services.GetRequiredService<IHttpClientFactory>().CreateClient("api").GetStringAsync(server.BaseAddress, Ct));
        Assert.True(fromCode.Contains(seen.Port));
    }

    [Fact]
    public async Task The_slice_and_egress_address_can_come_from_the_host_state_file()
    {
        await using var server = await LoopbackServer.StartAsync(IPAddress.Loopback);
        var slice = TestSlices.Pick(16);
        var stateFile = Path.Combine(Path.GetTempPath(), $"portshare-state-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(stateFile, $$"""{"version":2,"host":"h1","slices":[{"egress":"127.0.0.1","ranges":["{{slice}}"]}]}""", Ct);
        try
        {
            using var host = BuildHost(new() { ["PortShare:StateFile"] = stateFile }, s => s.AddHttpClient("api").UsePortSlice());
            await host.StartAsync(Ct);

            var seen = IPEndPoint.Parse(await host.Services.GetRequiredService<IHttpClientFactory>().CreateClient("api").GetStringAsync(server.BaseAddress, Ct));
            Assert.True(slice.Contains(seen.Port));
            var connector = host.Services.GetRequiredService<SliceConnector>();
            Assert.Equal(IPAddress.Loopback, connector.LocalAddress);
            Assert.Equal(slice, connector.Slice);
        }
        finally
        {
            File.Delete(stateFile);
        }
    }

    [Fact]
    public async Task AddPortShare_registers_a_SliceConnector_for_other_TCP_connections()
    {
        var slice = TestSlices.Pick(16);
        using var host = BuildHost(new() { ["PortShare:Slice"] = slice.ToString(), ["PortShare:Strategy"] = "Fallback" }, s => s.AddPortShare());
        await host.StartAsync(Ct);

        var connector = host.Services.GetRequiredService<SliceConnector>();
        Assert.Equal(slice, connector.Slice);
        Assert.Equal(ConnectStrategy.Fallback, connector.Strategy);
    }

    [Fact]
    public async Task A_bad_slice_stops_the_host_at_start_up_with_a_clear_message()
    {
        using var host = BuildHost(new() { ["PortShare:Slice"] = "40000-70000" }, s => s.AddHttpClient("api").UsePortSlice());
        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(Ct));
        Assert.Contains("PortShare:Slice: Port range '40000-70000' is invalid: port 70000 is above 65535", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_bad_slice_set_for_one_client_names_the_client()
    {
        using var host = BuildHost([], s => s.AddHttpClient("api").UsePortSlice(o => o.Slice = "40001-40000"));
        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(Ct));
        var failure = Assert.Single(ex.Failures);
        Assert.Contains("the low port 40001 is greater than the high port 40000", failure, StringComparison.Ordinal);
        Assert.EndsWith("(options of HttpClient 'api')", failure, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_slice_outside_the_netns_range_stops_the_host_at_start_up()
    {
        var netns = HostFacts.ReadNetnsRange();
        Assert.SkipWhen(netns.Low <= 1024, "the netns range starts too low to place a slice below it.");
        using var host = BuildHost(new() { ["PortShare:Slice"] = "1000-1001" }, s => s.AddPortShare());
        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(Ct));
        Assert.Contains($"outside this network namespace's ip_local_port_range {netns}", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_missing_slice_stops_the_host_and_says_what_to_set()
    {
        using var host = BuildHost([], s => s.AddHttpClient("api").UsePortSlice());
        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(Ct));
        Assert.Contains("PortShare:Slice is not set", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Every_problem_is_reported_at_once()
    {
        using var host = BuildHost(
            new() { ["PortShare:Slice"] = "40000-40511", ["PortShare:StateFile"] = "/nonexistent/state.json", ["PortShare:EgressAddress"] = "not-an-ip" },
            s => s.AddPortShare());
        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(Ct));
        Assert.Equal(2, ex.Failures.Count());
        Assert.Contains(ex.Failures, f => f.Contains("PortShare:EgressAddress 'not-an-ip' is not an IP address", StringComparison.Ordinal));
        Assert.Contains(ex.Failures, f => f.Contains("both set: set only one", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_unknown_strategy_is_a_validation_error_too()
    {
        using var host = BuildHost(new() { ["PortShare:Slice"] = "40000-40511", ["PortShare:Strategy"] = "sideways" }, s => s.AddPortShare());
        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(Ct));
        Assert.Contains("'sideways' at 'PortShare:Strategy'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Auto, Kernel or Fallback", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_egress_address_not_on_this_host_stops_the_host()
    {
        var slice = TestSlices.Pick(16);
        using var host = BuildHost(new() { ["PortShare:Slice"] = slice.ToString(), ["PortShare:EgressAddress"] = "192.0.2.77" }, s => s.AddPortShare());
        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(Ct));
        Assert.Contains("192.0.2.77 is not assigned to any interface", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_missing_state_file_stops_the_host_naming_the_file()
    {
        using var host = BuildHost(new() { ["PortShare:StateFile"] = "/nonexistent/portshare/state.json" }, s => s.AddPortShare());
        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(Ct));
        Assert.Contains("PortShare:StateFile: Cannot read the host's slices from /nonexistent/portshare/state.json: it does not exist", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_a_host_the_options_are_validated_on_first_use()
    {
        var services = new ServiceCollection();
        services.AddHttpClient("api").UsePortSlice(o => o.Slice = "abc");
        using var provider = services.BuildServiceProvider();
        var factory = provider.GetRequiredService<IHttpClientFactory>();
        var ex = Assert.Throws<OptionsValidationException>(() => factory.CreateClient("api"));
        Assert.Contains("'abc' is not a port number", ex.Message, StringComparison.Ordinal);
    }

    private static IHost BuildHost(Dictionary<string, string?> settings, Action<IServiceCollection> configure)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Logging.ClearProviders();
        configure(builder.Services);
        return builder.Build();
    }
}
