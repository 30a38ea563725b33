using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.IntegrationTests.Workflows;

namespace Celeriac.IntegrationTests.Cluster;

/// <summary>The workflow contract on a real Redis Cluster: members, callbacks and the join state in different slots.</summary>
[Collection(RedisClusterCollection.Name)]
public sealed class ClusterWorkflowTests(ITestOutputHelper output, RedisClusterFixture cluster) : WorkflowContract(output)
{
    protected override string? Redis => cluster.Configuration;
}
