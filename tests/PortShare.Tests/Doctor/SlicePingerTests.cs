using PortShare.Diagnostics;

namespace PortShare.Tests.Doctor;

public class SlicePingerTests
{
    [Theory]
    [InlineData(false, 8)]
    [InlineData(true, 128)]
    public void Requests_carry_type_id_and_sequence_big_endian(bool v6, byte type)
    {
        var buffer = new byte[64];
        SlicePinger.WriteRequest(buffer, v6, 0x9c41, 0x0102);
        Assert.Equal(type, buffer[0]);
        Assert.Equal(0, buffer[1]);
        Assert.Equal(new byte[] { 0x9c, 0x41, 0x01, 0x02 }, buffer[4..8]);
    }

    [Fact]
    public void Only_echo_replies_of_the_family_are_read()
    {
        byte[] reply4 = [0, 0, 0xab, 0xcd, 0x9c, 0x41, 0x00, 0x07];
        Assert.True(SlicePinger.TryReadReply(reply4, v6: false, out var seq));
        Assert.Equal(7, seq);
        Assert.False(SlicePinger.TryReadReply(reply4, v6: true, out _));
        Assert.False(SlicePinger.TryReadReply(reply4[..7], v6: false, out _));
        byte[] unreachable = [3, 1, 0, 0, 0, 0, 0, 0];
        Assert.False(SlicePinger.TryReadReply(unreachable, v6: false, out _));
        byte[] reply6 = [129, 0, 0, 0, 0, 0, 0x01, 0x00];
        Assert.True(SlicePinger.TryReadReply(reply6, v6: true, out seq));
        Assert.Equal(256, seq);
    }

    [Fact]
    public void Ids_are_counted_across_every_range_of_the_slice()
    {
        IReadOnlyList<PortRange> ranges = [PortRange.Parse("40000-40001"), PortRange.Parse("50000-50003")];
        Assert.Equal([40000, 40001, 50000, 50001, 50002, 50003], Enumerable.Range(0, 6).Select(k => (int)SlicePinger.NthId(ranges, k)));
        Assert.Throws<ArgumentOutOfRangeException>(() => SlicePinger.NthId(ranges, 6));
    }
}
