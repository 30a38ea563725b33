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

    [Theory]
    [InlineData(1)] // one queue: the BLPOP with the fetch script behind it
    [InlineData(2)] // several queues: the BLPOP over their notify keys, then the fetch
    public async Task One_fetchers_blocking_wait_does_not_hold_up_another_fetchers_wake_up(int queuesEach)
    {
        // Two fetching workers of one process (a worker's pools: FetchRequest.WorkerId apart), both waiting on empty
        // queues. A blocking command holds its connection: were the two waits on one connection, B's would only start
        // when A's ended (20 s here), so B would not be woken by its message while A still waits.
        string[] a = [.. Enumerable.Range(0, queuesEach).Select(i => "pa" + i + Guid.NewGuid().ToString("N")[..6])];
        string[] b = [.. Enumerable.Range(0, queuesEach).Select(i => "pb" + i + Guid.NewGuid().ToString("N")[..6])];
        var intoA = new List<Delivery>();
        var intoB = new List<Delivery>();
        using var stopA = new CancellationTokenSource();
        Task<int> fetchA = Broker.FetchAsync(new FetchRequest(a, 5, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(20), "worker/pool-a"), intoA, stopA.Token);
        await Task.Delay(200); // A's wait is out first
        Task<int> fetchB = Broker.FetchAsync(new FetchRequest(b, 5, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(20), "worker/pool-b"), intoB, default);
        await Task.Delay(200);
        await Broker.EnqueueAsync([Item("for-b", b[^1])], default);

        Assert.Equal(1, await fetchB.WaitAsync(TimeSpan.FromSeconds(15)));
        Assert.Equal("for-b", intoB[0].Id);
        Assert.False(fetchA.IsCompleted, "A's wait ended before B was woken: B's wait queued behind it");
        await stopA.CancelAsync();
        try
        {
            Assert.Equal(0, await fetchA.WaitAsync(TimeSpan.FromSeconds(15)));
        }
        catch (OperationCanceledException)
        {
            // A cancelled wait may end either way.
        }

        Assert.Empty(intoA);
    }
}
