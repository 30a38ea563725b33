using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.Redis;
using Celeriac.TestTasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using StackExchange.Redis;

namespace Celeriac.IntegrationTests.EndToEnd;

/// <summary>
/// <c>WorkerOptions.MaxDeliveries</c>: a message whose runs were started that many times without an outcome is
/// dead-lettered (<c>redelivery-limit</c>) instead of run again; 0 turns the cap off. The message's run count is set
/// in its hash, as seven earlier workers dying mid-run would have left it.
/// </summary>
public sealed class RedeliveryCapTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly List<IHost> _hosts = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => TestHost.StopAllAsync(_hosts);

    [Theory]
    [InlineData(5, TaskState.Failure)] // the default cap: seven runs without an outcome is over it
    [InlineData(0, TaskState.Success)] // no cap: it runs
    [InlineData(8, TaskState.Success)] // a cap above the count: it runs
    public async Task A_message_started_seven_times_without_an_outcome_is_capped_only_by_a_cap_below_seven(int maxDeliveries, TaskState expected)
    {
        string prefix = RedisFixture.NewPrefix();
        IDatabase db = (await RedisFixture.GetAsync()).GetDatabase();
        await using CeleriacClient client = await CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = RedisFixture.Configuration, KeyPrefix = prefix });
        TaskHandle<int> handle = await Calc.AddTask.ApplyAsync(client, 3, 4, new TaskOptions { Countdown = TimeSpan.FromMilliseconds(300) });
        await db.HashSetAsync(new RedisKeys(prefix).Task("default", handle.Id), "runs", 7);

        IHost host = await TestHost.StartAsync(output, "capped", RedisFixture.Configuration, prefix, new MemoryLedger(), worker: w =>
        {
            w.Queues = ["default"];
            w.MaxDeliveries = maxDeliveries;
        });
        _hosts.Add(host);
        await Wait.UntilAsync(async () => (await handle.GetStateAsync()) is TaskState.Success or TaskState.Failure, TimeSpan.FromSeconds(20), "a final state");
        TaskResult result = await handle.GetResultAsync();
        output.WriteLine($"MaxDeliveries {maxDeliveries}: {result.State} {result.Error?.Type}");
        Assert.Equal(expected, result.State);
        if (expected == TaskState.Failure)
        {
            Assert.Equal("Celeriac.RedeliveryLimit", result.Error?.Type);
            Assert.Single(await client.GetDeadLettersAsync("default"), d => d.Id == handle.Id && d.Reason.StartsWith("redelivery-limit", StringComparison.Ordinal));
        }
        else
        {
            Assert.Equal(7, await handle.GetAsync(TimeSpan.FromSeconds(5)));
        }
    }
}
