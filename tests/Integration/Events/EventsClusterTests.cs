using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.TestTasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Celeriac.IntegrationTests.Events;

/// <summary>The task event stream on a real Redis Cluster: one key in its own slot, written and followed through the cluster client.</summary>
[Collection(RedisClusterCollection.Name)]
public sealed class EventsClusterTests(ITestOutputHelper output, RedisClusterFixture cluster)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Events_are_written_and_followed_on_a_cluster_and_the_switch_is_shared()
    {
        string prefix = RedisFixture.NewPrefix();
        HostApplicationBuilder builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(new TestOutputLoggerProvider(output, "evc"));
        builder.Services.AddSingleton<ILedger>(new MemoryLedger());
        builder.Services.AddCeleriac(o =>
        {
            o.Redis = cluster.Configuration;
            o.KeyPrefix = prefix;
            o.VisibilityTimeout = TimeSpan.FromSeconds(5);
        }).AddWorker(w =>
        {
            w.Queues = [.. TestHost.Queues];
            w.Concurrency = 2;
            w.FetchWait = TimeSpan.FromMilliseconds(500);
            w.Name = "evc";
            w.EventHeartbeat = TimeSpan.FromMilliseconds(200);
        });
        using IHost host = builder.Build();
        await host.StartAsync().WaitAsync(Timeout);
        try
        {
            await host.Services.GetRequiredService<WorkerStatus>().Ready.WaitAsync(Timeout);
            await using CeleriacClient monitor = await CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = cluster.Configuration, KeyPrefix = prefix });

            // The worker's option is off: the switch, set through another client, turns it on.
            await monitor.Events.SetEnabledAsync(true);
            CeleriacClient client = host.Services.GetRequiredService<CeleriacClient>();
            await Wait.UntilAsync(
                async () => (await monitor.Events.ReadLatestAsync(10)).Any(e => e.Kind == TaskEventKind.WorkerHeartbeat && e.Source == "evc"),
                Timeout,
                "the worker's heartbeat once the switch is on");

            TaskHandle<int> flaky = await Faults.FlakyTask.DelayAsync(client, "evc-" + Guid.NewGuid().ToString("N"), 1);
            Assert.Equal(1, await flaky.GetAsync(Timeout));
            var seen = new List<TaskEvent>();
            using var cts = new CancellationTokenSource(Timeout);
            await foreach (TaskEvent e in monitor.Events.ReadAsync(TaskEventClient.Beginning, cts.Token))
            {
                if (e.TaskId == flaky.Id)
                {
                    seen.Add(e);
                }

                if (e.TaskId == flaky.Id && e.Kind == TaskEventKind.TaskSucceeded)
                {
                    break;
                }
            }

            Assert.Equal(
                [TaskEventKind.TaskReceived, TaskEventKind.TaskStarted, TaskEventKind.TaskRetried, TaskEventKind.TaskReceived, TaskEventKind.TaskStarted, TaskEventKind.TaskSucceeded],
                seen.Where(e => e.Kind != TaskEventKind.TaskSent).Select(e => e.Kind));

            // One key, one slot, served by the node that owns it.
            StackExchange.Redis.ConnectionMultiplexer redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(cluster.Configuration);
            await using (redis)
            {
                StackExchange.Redis.IDatabase db = redis.GetDatabase();
                Assert.Equal(StackExchange.Redis.RedisType.Stream, await db.KeyTypeAsync(prefix + ":events"));
                output.WriteLine($"{prefix}:events is in slot {redis.GetHashSlot(prefix + ":events")}, {await db.StreamLengthAsync(prefix + ":events")} entries");
            }
        }
        finally
        {
            await host.StopAsync().WaitAsync(Timeout);
        }
    }
}
