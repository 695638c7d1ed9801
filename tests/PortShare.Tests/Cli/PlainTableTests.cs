using System.Globalization;
using PortShare.Cli;
using Spectre.Console.Testing;

namespace PortShare.Tests.Cli;

/// <summary><see cref="PlainTable"/> writes exactly what Spectre writes wherever it does not hand the table to Spectre.</summary>
public class PlainTableTests
{
    public static TheoryData<string, int, int, int> Cases()
    {
        var data = new TheoryData<string, int, int, int>();
        foreach (var slice in new[] { "33274-33283", "40000-40511", "1024-1025", "40000-40099,40200-40511", "1024-1039,2048-2063,4096-4111,8192-8207" })
        {
            foreach (var rows in new[] { 0, 1, 4, 9, 10, 12 })
            {
                foreach (var width in new[] { 30, 42, 60, 80, 200 })
                {
                    data.Add(slice, rows, width, 4);
                    data.Add(slice, rows, width, 6);
                }
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Equals_spectre_wherever_it_renders(string slice, int rows, int width, int family)
    {
        var table = Table(slice, rows, family);
        var closing = $"{rows} connection(s) from slice {slice}";
        const string rest = ", every local port inside it.";

        var spectre = new TestConsole().Width(width);
        spectre.Profile.Capabilities.Unicode = true;
        table.WriteSpectre(spectre, closing, rest);

        if (table.TryRender(width, closing + rest, out var text))
        {
            Assert.Equal(spectre.Output, text);
        }
        else
        {
            // Only where Spectre wraps, folds or truncates something.
            Assert.True(width < 80 || family == 6 || rows == 0 || slice.Length > 24, $"fell back at width {width}");
        }
    }

    [Fact]
    public void Renders_a_typical_connect_table_without_spectre()
    {
        // As `portshare connect` printed it through Spectre (stdout not a terminal).
        var table = new PlainTable("slice 33274-33283 (10 ports), strategy kernel", "#", "local", "remote");
        table.AddRow("1", "192.0.2.3:33278", "192.0.2.200:7000");
        Assert.True(table.TryRender(80, "1 connection(s) from slice 33274-33283, every local port inside it.", out var text));
        Assert.Equal(
            string.Join(
                "\n",
                " slice 33274-33283 (10 ports), strategy   ",
                "                  kernel                  ",
                "╭───┬─────────────────┬──────────────────╮",
                "│ # │ local           │ remote           │",
                "├───┼─────────────────┼──────────────────┤",
                "│ 1 │ 192.0.2.3:33278 │ 192.0.2.200:7000 │",
                "╰───┴─────────────────┴──────────────────╯",
                "1 connection(s) from slice 33274-33283, every local port inside it.",
                string.Empty),
            text);
    }

    [Theory]
    [InlineData("tab\there")]
    [InlineData("wide ポート")]
    public void Leaves_control_and_wide_characters_to_spectre(string cell)
    {
        var table = new PlainTable("title", "#", "x");
        table.AddRow("1", cell);
        Assert.False(table.TryRender(80, null, out _));
    }

    private static PlainTable Table(string slice, int rows, int family)
    {
        var parsed = PortSlice.Parse(slice);
        var table = new PlainTable($"slice {slice} ({parsed.Count} ports), strategy kernel", "#", "local", "remote");
        for (var i = 0; i < rows; i++)
        {
            var port = parsed.PortAt(i % parsed.Count).ToString(CultureInfo.InvariantCulture);
            table.AddRow(
                (i + 1).ToString(CultureInfo.InvariantCulture),
                family == 4 ? $"192.0.2.{3 + (i * 37 % 250)}:{port}" : $"[2001:db8::{i:x}:3]:{port}",
                family == 4 ? "192.0.2.200:7000" : "[2001:db8::c8]:7000");
        }

        return table;
    }
}
