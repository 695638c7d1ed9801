using PortShare.Cli;

namespace PortShare.Tests.Cli;

public sealed class TextTableTests
{
    [Fact]
    public void Columns_are_as_wide_as_their_widest_cell_and_right_aligned_where_asked()
    {
        var table = new TextTable { Title = "plan generation 7" }
            .Column("egress").Column("hosts", right: true)
            .Row("192.0.2.1", "10,000")
            .Row("2001:db8::1", "3");

        var lines = table.ToString().Split('\n');

        Assert.Equal(
            [
                "   plan generation 7",
                "╭─────────────┬────────╮",
                "│ egress      │  hosts │",
                "├─────────────┼────────┤",
                "│ 192.0.2.1   │ 10,000 │",
                "│ 2001:db8::1 │      3 │",
                "╰─────────────┴────────╯",
                string.Empty,
            ],
            lines);
    }

    [Fact]
    public void A_cell_of_several_lines_makes_its_row_that_high()
    {
        var table = new TextTable().Column("host").Column("ranges").Row("h1", "40000-40001\n40010-40011");

        Assert.Equal(
            "╭──────┬─────────────╮\n" +
            "│ host │ ranges      │\n" +
            "├──────┼─────────────┤\n" +
            "│ h1   │ 40000-40001 │\n" +
            "│      │ 40010-40011 │\n" +
            "╰──────┴─────────────╯\n",
            table.ToString());
    }

    [Fact]
    public void A_row_must_fill_every_column()
    {
        var table = new TextTable().Column("a").Column("b");

        var error = Assert.Throws<ArgumentException>(() => table.Row("only one"));
        Assert.Contains("1 cells in a table of 2 columns", error.Message, StringComparison.Ordinal);
    }
}
