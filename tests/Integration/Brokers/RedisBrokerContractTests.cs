using Celeriac.Brokers;
using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.Redis;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace Celeriac.IntegrationTests.Brokers;

/// <summary>The broker contract against <see cref="RedisBroker"/> on the test redis-server, one key prefix per test.</summary>
public sealed class RedisBrokerContractTests(ITestOutputHelper output) : BrokerContract(output)
{
    private protected override async Task<ITaskBroker> CreateBrokerAsync()
    {
        ConnectionMultiplexer redis = await RedisFixture.GetAsync();
        string prefix = RedisFixture.NewPrefix();
        Output.WriteLine($"redis {RedisFixture.Configuration}, key prefix {prefix}");
        return new RedisBroker(redis, new CeleriacOptions { Redis = RedisFixture.Configuration, KeyPrefix = prefix }, NullLogger.Instance, TimeProvider.System);
    }
}
