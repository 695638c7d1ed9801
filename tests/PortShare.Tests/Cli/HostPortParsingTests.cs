using PortShare.Cli;

namespace PortShare.Tests.Cli;

public class HostPortParsingTests
{
    [Theory]
    [InlineData("127.0.0.1:8080", "127.0.0.1", 8080)]
    [InlineData("[::1]:53", "::1", 53)]
    [InlineData("[::ffff:127.0.0.1]:80", "::ffff:127.0.0.1", 80)]
    [InlineData("localhost:443", "localhost", 443)]
    [InlineData("api.example-1.internal:65535", "api.example-1.internal", 65535)]
    [InlineData(" 203.0.113.10:7000 ", "203.0.113.10", 7000)]
    [InlineData("[fe80::1%1]:5354", "fe80::1%1", 5354)]
    public void Accepts_host_port_forms(string text, string host, int port)
    {
        Assert.True(CliOptions.TryParseHostPort(text, out var h, out var p, out var error), error);
        Assert.Equal(host, h);
        Assert.Equal(port, p);
    }

    [Theory]
    [InlineData("", "is empty")]
    [InlineData("127.0.0.1", "the port is missing")]
    [InlineData("127.0.0.1:", "the port is missing")]
    [InlineData("::1:8080", "write an IPv6 destination as [ADDRESS]:PORT")]
    [InlineData("[::1:8080", "the ']' is missing")]
    [InlineData("[::1]8080", "a ':' and the port must follow")]
    [InlineData("[127.0.0.1]:80", "is not an IPv6 address")]
    [InlineData("12345:8080", "'12345' is not an IPv4 address")]
    [InlineData("10.1:80", "'10.1' is not an IPv4 address")]
    [InlineData("999.1.1.1:80", "is not an IPv4 address")]
    [InlineData("host:0", "not a number from 1 to 65535")]
    [InlineData("host:70000", "not a number from 1 to 65535")]
    [InlineData("host:-1", "not a number from 1 to 65535")]
    [InlineData("bad host!:80", "is not a host name")]
    [InlineData("-lead.example:80", "is not a host name")]
    [InlineData("[fe80::1%nosuchif9]:80", "the zone 'nosuchif9' is not an interface")]
    public void Rejects_with_the_input_and_the_reason(string text, string reason)
    {
        Assert.False(CliOptions.TryParseHostPort(text, out _, out _, out var error));
        Assert.Contains(reason, error, StringComparison.Ordinal);
    }
}
