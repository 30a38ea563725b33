using Celeriac.IntegrationTests.Deployments;
using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.TestTasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Celeriac.IntegrationTests.Events;

/// <summary>Task events while Redis is down: dropped and counted, never waited for; written again once Redis is back.</summary>
[Collection(DeploymentFaultsCollection.Name)] // kills and restarts a redis-server: never beside other such tests
public sealed class EventsOutageTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Events_written_while_redis_is_down_are_dropped_and_counted_and_writing_resumes_after()
    {
        using RedisServer redis = await RedisServer.StartAsync(output, aof: false);
        HostApplicationBuilder builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(new TestOutputLoggerProvider(output, "evo"));
        builder.Services.AddSingleton<ILedger>(new MemoryLedger());
        builder.Services.AddCeleriac(o =>
        {
            o.Redis = redis.Configuration;
            o.KeyPrefix = RedisFixture.NewPrefix();
            o.VisibilityTimeout = TimeSpan.FromSeconds(5);
        }).AddWorker(w =>
        {
            w.Queues = [.. TestHost.Queues];
            w.Concurrency = 2;
            w.FetchWait = TimeSpan.FromMilliseconds(500);
            w.Name = "evo";
            w.Events = true;
            w.EventHeartbeat = TimeSpan.FromMilliseconds(100);
        });
        using IHost host = builder.Build();
        await host.StartAsync().WaitAsync(Timeout);
        try
        {
            CeleriacClient client = host.Services.GetRequiredService<CeleriacClient>();
            TaskHandle<int> before = await Calc.AddTask.DelayAsync(client, 1, 1);
            Assert.Equal(2, await before.GetAsync(Timeout));
            await Wait.UntilAsync(async () => (await client.Events.ReadLatestAsync(100)).Any(e => e.TaskId == before.Id && e.Kind == TaskEventKind.TaskSucceeded), Timeout, "the first task's events");
            Assert.Equal(0, client.Events.Dropped);

            // Redis goes away: the worker's heartbeats (every 100 ms) cannot be written; they are dropped and counted.
            redis.Stop();
            await Wait.UntilAsync(() => Task.FromResult(client.Events.Dropped >= 3), Timeout, "heartbeats dropped while Redis is down");
            long dropped = client.Events.Dropped;
            output.WriteLine($"{dropped} events dropped while Redis was down");

            // Back (empty: no persistence): events are written again, tasks with theirs.
            await redis.StartAgainAsync();
            TaskHandle<int> after = await Wait.WithinAsync(SendWhenUpAsync(client), Timeout, "a send once Redis is back");
            Assert.Equal(5, await after.GetAsync(Timeout));
            await Wait.UntilAsync(
                async () => (await client.Events.ReadLatestAsync(100)).Any(e => e.TaskId == after.Id && e.Kind == TaskEventKind.TaskSucceeded),
                Timeout,
                "the events of a task run after Redis came back");
            Assert.Contains(await client.Events.ReadLatestAsync(100), e => e.Kind == TaskEventKind.WorkerHeartbeat);
        }
        finally
        {
            await host.StopAsync().WaitAsync(Timeout);
        }
    }

    private static async Task<TaskHandle<int>> SendWhenUpAsync(CeleriacClient client)
    {
        while (true)
        {
            try
            {
                return await Calc.AddTask.DelayAsync(client, 2, 3);
            }
            catch (BrokerUnavailableException)
            {
                await Task.Delay(100);
            }
        }
    }
}
