using System.Runtime;
using PortShare.Cli;

namespace PortShare.Tests.Cli;

public sealed class CollectionsTests
{
    [Fact]
    public void A_plan_command_runs_without_collections_and_others_as_usual()
    {
        CliApp.WithoutCollections(["agent", "--etcd", "http://127.0.0.1:1"]);
        CliApp.WithoutCollections(["plan", "show", "--help"]);
        Assert.NotEqual(GCLatencyMode.NoGCRegion, GCSettings.LatencyMode);

        try
        {
            CliApp.WithoutCollections(["plan", "show", "plan.json"]);
            Assert.Equal(GCLatencyMode.NoGCRegion, GCSettings.LatencyMode);

            // Already in a region (or a host command after a plan command in one process): no error.
            CliApp.WithoutCollections(["host", "apply", "plan.json"]);
        }
        finally
        {
            try
            {
                GC.EndNoGCRegion();
            }
            catch (InvalidOperationException)
            {
                // The region already ended: the tests running beside this one allocated past it, or collected.
            }
        }
    }
}
