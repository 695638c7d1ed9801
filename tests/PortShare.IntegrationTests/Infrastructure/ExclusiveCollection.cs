namespace PortShare.IntegrationTests.Infrastructure;

/// <summary>
/// Tests that count exactly which ports are free. They run with no other test of this process at the same time:
/// a test that starts a process (ip, the CLI) forks, and until the child's exec the child's copy of the file table
/// keeps every socket of this process open, so a socket another test just closed can still hold its port for a
/// few milliseconds. Observed as "2 flows but 32 connected sockets" in a UDP storm before this collection existed.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ExclusiveCollection
{
    public const string Name = "Exact port accounting (no concurrent process starts)";
}
