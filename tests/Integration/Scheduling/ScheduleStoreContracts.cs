using Celeriac.Brokers;
using Celeriac.Brokers.InMemory;
using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.Redis;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace Celeriac.IntegrationTests.Scheduling;

/// <summary>The schedule store contract against the in-process broker.</summary>
public sealed class InMemoryScheduleStoreContractUnitTests(ITestOutputHelper output) : ScheduleStoreContract(output)
{
    private protected override Task<ITaskBroker> CreateBrokerAsync() => Task.FromResult<ITaskBroker>(new InMemoryBroker(TimeProvider.System));
}

/// <summary>The schedule store contract against <see cref="RedisBroker"/> on the test redis-server, one key prefix per test.</summary>
public sealed class RedisScheduleStoreContractTests(ITestOutputHelper output) : ScheduleStoreContract(output)
{
    private protected override async Task<ITaskBroker> CreateBrokerAsync()
    {
        ConnectionMultiplexer redis = await RedisFixture.GetAsync();
        string prefix = RedisFixture.NewPrefix();
        Output.WriteLine($"redis {RedisFixture.Configuration}, key prefix {prefix}");
        return new RedisBroker(redis, new CeleriacOptions { Redis = RedisFixture.Configuration, KeyPrefix = prefix }, NullLogger.Instance, TimeProvider.System);
    }
}

/// <summary>The schedule store contract on a real Redis Cluster: each claim script's keys share the queue's slot, the index is read across slots.</summary>
[Collection(RedisClusterCollection.Name)]
public sealed class ClusterScheduleStoreContractTests(ITestOutputHelper output, RedisClusterFixture cluster) : ScheduleStoreContract(output)
{
    private protected override Task<ITaskBroker> CreateBrokerAsync()
    {
        string prefix = RedisFixture.NewPrefix();
        Output.WriteLine($"redis cluster {cluster.Configuration}, key prefix {prefix}");
        return Task.FromResult<ITaskBroker>(new RedisBroker(cluster.Multiplexer, new CeleriacOptions { Redis = cluster.Configuration, KeyPrefix = prefix }, NullLogger.Instance, TimeProvider.System));
    }
}
