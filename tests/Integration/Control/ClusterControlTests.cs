using Celeriac.IntegrationTests.Infrastructure;

namespace Celeriac.IntegrationTests.Control;

/// <summary>The control contract on a real Redis Cluster: the registry and every command path live in the one slot of <c>{workers}</c>.</summary>
[Collection(RedisClusterCollection.Name)]
public sealed class ClusterControlTests(ITestOutputHelper output, RedisClusterFixture cluster) : ControlContract(output)
{
    protected override string? Redis => cluster.Configuration;
}
