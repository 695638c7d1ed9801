using System.Net;
using PortShare.Connect;

namespace PortShare.Tests.Connect;

public class BusyPortTableTests
{
    private static readonly IPEndPoint s_a = new(IPAddress.Loopback, 80);
    private static readonly IPEndPoint s_b = new(IPAddress.Loopback, 81);

    [Fact]
    public void Hints_are_kept_per_destination()
    {
        var table = new BusyPortTable(8);
        table.For(s_a).MarkHeld(3);
        Assert.Equal(BusyPortTable.Held, table.For(s_a).Read(3));
        Assert.Equal(0, table.For(s_b).Read(3));
        Assert.Same(table.For(s_a), table.For(s_a));
    }

    [Fact]
    public void A_refusal_backs_off_doubling_up_to_32_seconds()
    {
        var hints = new BusyPortTable(4).For(s_a);
        const long now = 1_000_000;
        var waits = new List<long>();
        for (var i = 0; i < 8; i++)
        {
            hints.MarkRefused(1, now);
            waits.Add(hints.Read(1) - now);
        }

        // 1 s, 2 s, 4 s … up to 32 s, each with up to a quarter of jitter on top.
        var bases = new long[] { 1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 32_000, 32_000 };
        for (var i = 0; i < bases.Length; i++)
        {
            Assert.InRange(waits[i], bases[i], bases[i] + (bases[i] / 4));
        }
    }

    [Fact]
    public void A_refusal_never_overwrites_a_live_socket_and_clear_forgets_only_hints()
    {
        var hints = new BusyPortTable(4).For(s_a);
        hints.MarkHeld(0);
        hints.MarkRefused(0, 10);
        Assert.Equal(BusyPortTable.Held, hints.Read(0));
        hints.Clear(0);
        Assert.Equal(BusyPortTable.Held, hints.Read(0));
        hints.Release(0);
        Assert.Equal(0, hints.Read(0));

        hints.MarkRefused(2, 10);
        hints.MarkRefused(2, 10);
        hints.Clear(2);
        Assert.Equal(0, hints.Read(2));

        // After Clear the back-off starts again at 1 s.
        hints.MarkRefused(2, 10);
        Assert.InRange(hints.Read(2) - 10, 1_000, 1_250);
    }

    [Fact]
    public void Release_of_a_port_not_held_changes_nothing()
    {
        var hints = new BusyPortTable(2).For(s_a);
        hints.MarkRefused(1, 100);
        var before = hints.Read(1);
        hints.Release(1);
        Assert.Equal(before, hints.Read(1));
    }

    [Fact]
    public void The_destination_map_is_bounded()
    {
        var table = new BusyPortTable(2);
        for (var port = 1; port <= 5000; port++)
        {
            table.For(new IPEndPoint(IPAddress.Loopback, port)).MarkHeld(0);
        }

        // Past the bound the map starts afresh (live sockets keep their own array): the first destination is forgotten.
        Assert.Equal(0, table.For(new IPEndPoint(IPAddress.Loopback, 1)).Read(0));
    }
}
