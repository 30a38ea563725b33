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

    [Fact]
    public async Task An_enqueue_Redis_does_not_confirm_throws_the_broker_neutral_exception()
    {
        using RedisServer server = await RedisServer.StartAsync(Output, aof: false);
        ConfigurationOptions config = ConfigurationOptions.Parse(server.Configuration);
        config.AsyncTimeout = 500;
        await using ConnectionMultiplexer redis = await ConnectionMultiplexer.ConnectAsync(config);
        await using var broker = new RedisBroker(redis, new CeleriacOptions { Redis = server.Configuration, KeyPrefix = RedisFixture.NewPrefix() }, NullLogger.Instance, TimeProvider.System);
        await server.SignalAsync("STOP"); // stalled: the call times out in SE.Redis
        try
        {
            Exception error = await Record.ExceptionAsync(() => broker.EnqueueAsync([Item("u1", "q"), Item("u2", "q")], default));
            Output.WriteLine($"enqueue to a stalled Redis: {error?.GetType().FullName}: {error?.Message} (inner {error?.InnerException?.GetType().FullName})");
            BrokerUnavailableException unavailable = Assert.IsType<BrokerUnavailableException>(error);
            Assert.Equal(["u1", "u2"], unavailable.TaskIds);
            Assert.IsType<RedisTimeoutException>(unavailable.InnerException);
        }
        finally
        {
            await server.SignalAsync("CONT");
        }
    }
}
