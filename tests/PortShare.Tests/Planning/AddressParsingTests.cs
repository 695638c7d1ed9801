using System.Net;
using System.Text;
using FsCheck.Xunit;
using PortShare.Planning;

namespace PortShare.Tests.Planning;

/// <summary>The plan reader's IPv4 shortcut reads exactly what the general address check reads, and leaves the rest to it.</summary>
public class AddressParsingTests
{
    [Property(MaxTest = 500)]
    public void Every_dotted_quad_reads_as_the_general_parser_reads_it(byte a, byte b, byte c, byte d)
    {
        var text = $"{a}.{b}.{c}.{d}";
        Assert.True(SpecValidator.TryParseDottedQuad(Encoding.UTF8.GetBytes(text), out var fast));
        Assert.Equal(IPAddress.Parse(text), fast);
        Assert.Equal(text, fast.ToString());
    }

    [Property(MaxTest = 500)]
    public void Whatever_the_shortcut_reads_the_general_check_reads_the_same(string? text)
    {
        if (text is not null && SpecValidator.TryParseDottedQuad(Encoding.UTF8.GetBytes(text), out var fast))
        {
            Assert.True(SpecValidator.TryParseAddress(text, out var general));
            Assert.Equal(general, fast);
        }
    }

    [Theory]
    [InlineData("010.0.0.1")]
    [InlineData("1.2.3")]
    [InlineData("1.2.3.4.")]
    [InlineData("1.2.3.4 ")]
    [InlineData(" 1.2.3.4")]
    [InlineData("256.0.0.1")]
    [InlineData("1.2.3.1000")]
    [InlineData("0x7f.0.0.1")]
    [InlineData("::1")]
    [InlineData("2001:db8::1")]
    [InlineData("")]
    public void Other_forms_are_left_to_the_general_check(string text) =>
        Assert.False(SpecValidator.TryParseDottedQuad(Encoding.UTF8.GetBytes(text), out _));
}
