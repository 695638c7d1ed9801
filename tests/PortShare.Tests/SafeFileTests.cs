using System.Diagnostics;

namespace PortShare.Tests;

public sealed class SafeFileTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("portshare-safefile-");

    public void Dispose() => _dir.Delete(recursive: true);

    private string P(string name) => Path.Combine(_dir.FullName, name);

    [Fact]
    public void A_regular_file_is_replaced_whole_and_no_temporary_is_left()
    {
        File.WriteAllText(P("out.json"), "old");
        SafeFile.Write(P("out.json"), "new", "-o");
        Assert.Equal("new", File.ReadAllText(P("out.json")));
        SafeFile.Write(P("sub/dir/fresh.json"), "made", "-o");
        Assert.Equal("made", File.ReadAllText(P("sub/dir/fresh.json")));
        Assert.Equal(["out.json", "sub"], _dir.GetFileSystemInfos().Select(f => f.Name).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void A_symlink_keeps_being_a_link_and_its_target_gets_the_content()
    {
        File.WriteAllText(P("real.json"), "old");
        File.CreateSymbolicLink(P("link.json"), P("real.json"));
        SafeFile.Write(P("link.json"), "new", "-o");
        Assert.NotNull(new FileInfo(P("link.json")).LinkTarget);
        Assert.Equal("new", File.ReadAllText(P("real.json")));
    }

    [Fact]
    public async Task A_fifo_is_written_through_not_replaced()
    {
        using (var mkfifo = Process.Start("mkfifo", P("pipe")))
        {
            await mkfifo.WaitForExitAsync(TestContext.Current.CancellationToken);
            Assert.Equal(0, mkfifo.ExitCode);
        }

        var reader = Task.Run(() => File.ReadAllText(P("pipe")), TestContext.Current.CancellationToken);
        SafeFile.Write(P("pipe"), "through", "-o");
        Assert.Equal("through", await reader.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken));
        // Still a FIFO: a regular file put in its place would hold the 7 bytes.
        Assert.True(new FileInfo(P("pipe")).Exists);
        Assert.Equal(0, new FileInfo(P("pipe")).Length);
    }

    [Fact]
    public void An_output_that_is_an_input_is_refused_before_anything_is_written()
    {
        File.WriteAllText(P("spec.json"), "spec");
        File.CreateSymbolicLink(P("alias.json"), P("spec.json"));
        var ex = Assert.Throws<PortShareException>(() => SafeFile.Write(P("spec.json"), "plan", "-o", [P("spec.json")]));
        Assert.Contains("is also an input", ex.Message, StringComparison.Ordinal);
        Assert.Throws<PortShareException>(() => SafeFile.Write(P("alias.json"), "plan", "-o", [P("spec.json")]));
        Assert.Equal("spec", File.ReadAllText(P("spec.json")));
    }

    [Theory]
    [InlineData("", "the path is empty")]
    [InlineData("DIR", "is a directory")]
    [InlineData("FILE/x.json", "is a file, not a directory")]
    public void A_path_that_cannot_be_a_file_is_one_clear_error(string name, string expected)
    {
        File.WriteAllText(P("FILE"), "x");
        Directory.CreateDirectory(P("DIR"));
        var path = name.Length == 0 ? string.Empty : P(name);
        var ex = Assert.Throws<PortShareException>(() => SafeFile.Write(path, "x", "--history"));
        Assert.StartsWith("--history", ex.Message, StringComparison.Ordinal);
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Temporaries_of_a_killed_writer_are_removed_by_the_next_write()
    {
        // A PID that cannot be running: above the kernel's pid_max limit.
        File.WriteAllText(P(".out.json.99999999.tmp"), "litter");
        File.WriteAllText(P(".other.json.99999999.tmp"), "not ours");
        SafeFile.Write(P("out.json"), "new", "-o");
        Assert.False(File.Exists(P(".out.json.99999999.tmp")));
        Assert.True(File.Exists(P(".other.json.99999999.tmp")));
    }
}
