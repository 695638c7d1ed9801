using PortShare.IntegrationTests.Infrastructure;

namespace PortShare.IntegrationTests.IO;

/// <summary>An output path that is a device node (made with mknod under a temporary directory, never a system one).</summary>
[Trait("Category", "RequiresRoot")]
public sealed class SafeFileDeviceTests
{
    [Fact]
    public void A_device_node_is_written_to_and_stays_a_device()
    {
        Root.Require();
        var dir = Directory.CreateTempSubdirectory("portshare-device-");
        try
        {
            // A private null device (char 1:3), so nothing real is at risk.
            var node = Path.Combine(dir.FullName, "null");
            Proc.Check("mknod", node, "c", "1", "3");
            SafeFile.Write(node, "plan", "-o");
            Assert.Equal("character special file", Proc.Check("stat", "-c", "%F", node).Trim());
            Assert.Equal(string.Empty, File.ReadAllText(node));
            Assert.Equal(["null"], dir.GetFileSystemInfos().Select(f => f.Name));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
