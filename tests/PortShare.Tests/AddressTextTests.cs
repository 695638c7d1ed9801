using System.Net;
using System.Net.Sockets;
using FsCheck.Xunit;

namespace PortShare.Tests;

/// <summary>The UTF-8 route to address text reads and writes exactly what the runtime's UTF-16 parser and formatter do.</summary>
public class AddressTextTests
{
    [Property(MaxTest = 500)]
    public void Any_text_parses_as_the_runtime_parses_it(string? text)
    {
        text ??= string.Empty;
        var expected = IPAddress.TryParse(text, out var runtime);
        Assert.Equal(expected, AddressText.TryParse(text, out var ours));
        Assert.Equal(runtime, ours);
    }

    [Property(MaxTest = 300)]
    public void Any_address_round_trips_as_the_runtime_writes_it(byte[] bytes, uint scope, ushort port)
    {
        var address = (bytes?.Length ?? 0) >= 16 ? new IPAddress(bytes![..16], scope % 5) : new IPAddress(((bytes?.Length ?? 0) >= 4 ? bytes! : [10, 0, 0, 1])[..4]);
        Assert.Equal(address.ToString(), AddressText.Format(address));
        Assert.True(AddressText.TryParse(AddressText.Format(address), out var back));
        Assert.Equal(address, back);
        var endpoint = new IPEndPoint(address, port);
        Assert.Equal(endpoint.ToString(), AddressText.Format(endpoint));
    }

    [Theory]
    [InlineData("192.0.2.1")]
    [InlineData("0.0.0.0")]
    [InlineData("10.1")]
    [InlineData("12345")]
    [InlineData("0x7f.0.0.1")]
    [InlineData("::1")]
    [InlineData("::ffff:192.0.2.1")]
    [InlineData("2001:db8::1%1")]
    [InlineData("[2001:db8::1]")]
    [InlineData("fe80::1%lo")]
    [InlineData("1.2.3.4 ")]
    [InlineData("1.2.3.256")]
    [InlineData("2001:db8::zz")]
    [InlineData("１.２.３.４")]
    [InlineData("")]
    public void Forms_the_runtime_takes_or_refuses_are_taken_or_refused_alike(string text)
    {
        Assert.Equal(IPAddress.TryParse(text, out var runtime), AddressText.TryParse(text, out var ours));
        Assert.Equal(runtime, ours);
        Assert.Equal(runtime?.AddressFamily, ours?.AddressFamily);
        Assert.Equal(runtime is { AddressFamily: AddressFamily.InterNetworkV6 } ? runtime.ScopeId : 0, ours is { AddressFamily: AddressFamily.InterNetworkV6 } ? ours.ScopeId : 0);
    }

    [Fact]
    public void Text_longer_than_any_address_is_left_to_the_runtime() =>
        Assert.False(AddressText.TryParse(new string('1', 300), out _));
}
