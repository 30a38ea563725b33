using Celeriac.Brokers;
using Celeriac.IntegrationTests.Brokers;
using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.Redis;
using Microsoft.Extensions.Logging.Abstractions;

namespace Celeriac.IntegrationTests.Cluster;

/// <summary>The broker contract against <see cref="RedisBroker"/> on a real Redis Cluster (3 masters, 3 replicas), one key prefix per test.</summary>
[Collection(RedisClusterCollection.Name)]
public sealed class ClusterBrokerContractTests(ITestOutputHelper output, RedisClusterFixture cluster) : BrokerContract(output)
{
    private protected override Task<ITaskBroker> CreateBrokerAsync()
    {
        string prefix = RedisFixture.NewPrefix();
        Output.WriteLine($"redis cluster {cluster.Configuration}, key prefix {prefix}");
        return Task.FromResult<ITaskBroker>(new RedisBroker(cluster.Multiplexer, new CeleriacOptions { Redis = cluster.Configuration, KeyPrefix = prefix }, NullLogger.Instance, TimeProvider.System));
    }
}
