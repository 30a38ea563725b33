using Celeriac.IntegrationTests.EndToEnd;
using Celeriac.IntegrationTests.Infrastructure;

namespace Celeriac.IntegrationTests.Cluster;

/// <summary>The end-to-end contract (client and worker through the generated stubs) on a real Redis Cluster.</summary>
[Collection(RedisClusterCollection.Name)]
public sealed class ClusterEndToEndTests(ITestOutputHelper output, RedisClusterFixture cluster) : EndToEndContract(output)
{
    protected override string? Redis => cluster.Configuration;
}
