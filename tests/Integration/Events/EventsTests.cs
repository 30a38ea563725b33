using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.TestTasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Celeriac.IntegrationTests.Events;

/// <summary>
/// Task events (docs/observability.md, "Task events") against a real redis-server and on the in-process broker: every
/// kind in order for a task that retries then succeeds, failures, dead letters and revocations, the worker's own
/// events, a monitor that reconnects and catches up, nothing written with events off.
/// </summary>
public sealed class EventsTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    public static TheoryData<bool> Brokers => new() { true, false };

    [Theory]
    [MemberData(nameof(Brokers))]
    public async Task Every_event_of_a_task_that_retries_then_succeeds_is_written_in_order_with_the_workers_own(bool redis)
    {
        IHost host = await StartAsync(redis, events: true);
        string id;
        var seen = new List<TaskEvent>();
        try
        {
            CeleriacClient client = host.Services.GetRequiredService<CeleriacClient>();
            TaskHandle<int> flaky = await Faults.FlakyTask.DelayAsync(client, "ev-" + Guid.NewGuid().ToString("N"), 1);
            id = flaky.Id;
            Assert.Equal(1, await flaky.GetAsync(Timeout));

            // From the beginning of this prefix's stream: the worker's online event, the task's, then a heartbeat.
            using var cts = new CancellationTokenSource(Timeout);
            await foreach (TaskEvent e in client.Events.ReadAsync(TaskEventClient.Beginning, cts.Token))
            {
                seen.Add(e);
                output.WriteLine($"{e.Id} {e.Kind} {e.Source} {e.TaskId} {e.TaskName} retries={e.Retries} error={e.ErrorType} runtime={e.Runtime} eta={e.Eta} active={e.Active} processed={e.Processed} load={e.Load}");
                if (e.Kind == TaskEventKind.WorkerHeartbeat && seen.Any(s => s.Kind == TaskEventKind.TaskSucceeded))
                {
                    break;
                }
            }
        }
        finally
        {
            await TestHost.StopAllAsync([host]);
        }

        List<TaskEvent> task = [.. seen.Where(e => e.TaskId == id)];
        Assert.Single(task, e => e.Kind == TaskEventKind.TaskSent); // the sender's, in the stream whenever its writer got to it
        Assert.Equal(
            [TaskEventKind.TaskReceived, TaskEventKind.TaskStarted, TaskEventKind.TaskRetried, TaskEventKind.TaskReceived, TaskEventKind.TaskStarted, TaskEventKind.TaskSucceeded],
            task.Where(e => e.Kind != TaskEventKind.TaskSent).Select(e => e.Kind));
        Assert.All(task, e => Assert.Equal(Faults.FlakyTask.Name, e.TaskName));
        Assert.All(task, e => Assert.Equal("default", e.Queue));
        Assert.Equal([0, 0, 0, 1, 1, 1], task.Where(e => e.Kind != TaskEventKind.TaskSent).Select(e => e.Retries));
        TaskEvent retried = task.Single(e => e.Kind == TaskEventKind.TaskRetried);
        Assert.Equal(typeof(InvalidOperationException).FullName, retried.ErrorType);
        Assert.Equal("attempt 0 fails", retried.ErrorMessage);
        Assert.True(retried.Eta >= retried.Timestamp, "a retry says when it is due");
        Assert.NotNull(task.Single(e => e.Kind == TaskEventKind.TaskSucceeded).Runtime);
        Assert.All(task.Where(e => e.Kind != TaskEventKind.TaskSent), e => Assert.Equal("ev", e.Source));

        // Ids rise: the stream's order is the order of writing.
        Assert.Equal(seen.Select(e => e.Id), seen.Select(e => e.Id).OrderBy(i => long.Parse(i.Split('-')[0]) * 1_000_000 + long.Parse(i.Split('-')[1])));
        Assert.Contains(seen, e => e.Kind == TaskEventKind.WorkerOnline && e.Source == "ev");
        TaskEvent heartbeat = seen.Last();
        Assert.Equal(TaskEventKind.WorkerHeartbeat, heartbeat.Kind);
        Assert.True(heartbeat.Processed >= 2, "the heartbeat counts the retry and the success");
        Assert.Equal(0, heartbeat.Active);
    }

    [Theory]
    [MemberData(nameof(Brokers))]
    public async Task A_failure_a_dead_letter_a_revocation_and_the_workers_stop_have_their_events(bool redis)
    {
        string prefix = RedisFixture.NewPrefix();
        IHost host = await StartAsync(redis, events: true, prefix);
        CeleriacClient client = host.Services.GetRequiredService<CeleriacClient>();
        string failedId, deadId, revokedId;
        try
        {
            TaskHandle<int> failed = await Calc.FailTask.DelayAsync(client, "no");
            failedId = failed.Id;
            await Assert.ThrowsAsync<TaskFailedException>(() => failed.GetAsync(Timeout));
            TaskHandle<int> dead = await Faults.AlwaysFailsTask.DelayAsync(client, "ev-" + Guid.NewGuid().ToString("N"));
            deadId = dead.Id;
            await Assert.ThrowsAsync<TaskFailedException>(() => dead.GetAsync(Timeout));
            TaskHandle<int> revoked = await Calc.AddTask.ApplyAsync(client, 1, 1, new TaskOptions { Countdown = TimeSpan.FromMilliseconds(300) });
            revokedId = revoked.Id;
            await revoked.RevokeAsync();
            await Assert.ThrowsAsync<TaskRevokedException>(() => revoked.GetAsync(Timeout));
        }
        catch
        {
            await TestHost.StopAllAsync([host]);
            throw;
        }

        // Read back after the worker stopped (it writes worker-offline as it stops): the stream outlives its writers.
        IReadOnlyList<TaskEvent> all = await StopThenReadAllAsync(redis, prefix, host);
        foreach (TaskEvent e in all)
        {
            output.WriteLine($"{e.Id} {e.Kind} {e.TaskId} error={e.ErrorType} reason={e.Reason}");
        }

        TaskEvent fail = Assert.Single(all, e => e.TaskId == failedId && e.Kind == TaskEventKind.TaskFailed);
        Assert.Equal(typeof(InvalidOperationException).FullName, fail.ErrorType);
        Assert.Equal("no", fail.ErrorMessage);
        Assert.Equal(
            [TaskEventKind.TaskRetried, TaskEventKind.TaskRetried, TaskEventKind.TaskFailed, TaskEventKind.TaskDeadLettered],
            all.Where(e => e.TaskId == deadId && e.Kind is not (TaskEventKind.TaskSent or TaskEventKind.TaskReceived or TaskEventKind.TaskStarted)).Select(e => e.Kind));
        Assert.Equal("failed", all.Single(e => e.TaskId == deadId && e.Kind == TaskEventKind.TaskDeadLettered).Reason);
        TaskEvent revokedEvent = Assert.Single(all, e => e.TaskId == revokedId && e.Kind == TaskEventKind.TaskRevoked);
        Assert.Equal("revoked", revokedEvent.Reason);
        Assert.DoesNotContain(all, e => e.TaskId == revokedId && e.Kind == TaskEventKind.TaskStarted);
        TaskEvent offline = all.Last(e => e.Source == "ev");
        Assert.Equal(TaskEventKind.WorkerOffline, offline.Kind);
        Assert.True(offline.Processed >= 5, "failure, two retries, the dead letter's failure, the revocation");
    }

    [Fact]
    public async Task A_monitor_that_disconnects_catches_up_from_its_last_id_on_a_new_connection()
    {
        string prefix = RedisFixture.NewPrefix();
        IHost host = await StartAsync(redis: true, events: true, prefix);
        try
        {
            CeleriacClient client = host.Services.GetRequiredService<CeleriacClient>();
            string first = (await Calc.AddTask.DelayAsync(client, 1, 1)).Id;
            string? last = null;
            await using (CeleriacClient monitor = await CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = RedisFixture.Configuration, KeyPrefix = prefix }))
            {
                using var cts = new CancellationTokenSource(Timeout);
                await foreach (TaskEvent e in monitor.Events.ReadAsync(TaskEventClient.Beginning, cts.Token))
                {
                    last = e.Id;
                    if (e.TaskId == first && e.Kind == TaskEventKind.TaskSucceeded)
                    {
                        break; // the monitor goes away here
                    }
                }
            }

            // Meanwhile three more tasks run.
            string[] missed = new string[3];
            for (int i = 0; i < missed.Length; i++)
            {
                TaskHandle<int> handle = await Calc.AddTask.DelayAsync(client, i, 10);
                missed[i] = handle.Id;
                Assert.Equal(i + 10, await handle.GetAsync(Timeout));
            }

            // A new connection reads on from the last id it saw: every event since, once, in order, nothing before.
            var caught = new List<TaskEvent>();
            await using (CeleriacClient monitor = await CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = RedisFixture.Configuration, KeyPrefix = prefix }))
            {
                using var cts = new CancellationTokenSource(Timeout);
                // The client writes its sent events and the worker its run events, each in batches of its own: the last
                // task's sent event can land after its success, so read until both are in.
                await foreach (TaskEvent e in monitor.Events.ReadAsync(last, cts.Token))
                {
                    caught.Add(e);
                    if (caught.Any(c => c.TaskId == missed[^1] && c.Kind == TaskEventKind.TaskSucceeded)
                        && caught.Any(c => c.TaskId == missed[^1] && c.Kind == TaskEventKind.TaskSent))
                    {
                        break;
                    }
                }
            }

            Assert.DoesNotContain(caught, e => e.Id == last);
            Assert.DoesNotContain(caught, e => e.TaskId == first && e.Kind != TaskEventKind.TaskSent); // its run was read before
            foreach (string id in missed)
            {
                Assert.Single(caught, e => e.TaskId == id && e.Kind == TaskEventKind.TaskSent);
                Assert.Equal(
                    [TaskEventKind.TaskReceived, TaskEventKind.TaskStarted, TaskEventKind.TaskSucceeded],
                    caught.Where(e => e.TaskId == id && e.Kind != TaskEventKind.TaskSent).Select(e => e.Kind));
            }

            Assert.Equal(caught.Count, caught.Select(e => e.Id).Distinct().Count());
        }
        finally
        {
            await TestHost.StopAllAsync([host]);
        }
    }

    [Theory]
    [MemberData(nameof(Brokers))]
    public async Task With_events_off_nothing_is_written(bool redis)
    {
        string prefix = RedisFixture.NewPrefix();
        IHost host = await StartAsync(redis, events: false, prefix);
        try
        {
            CeleriacClient client = host.Services.GetRequiredService<CeleriacClient>();
            Assert.Equal(1, await (await Faults.FlakyTask.DelayAsync(client, "ev-" + Guid.NewGuid().ToString("N"), 1)).GetAsync(Timeout));
            await Assert.ThrowsAsync<TaskFailedException>(async () => await (await Calc.FailTask.DelayAsync(client, "no")).GetAsync(Timeout));
            Assert.Null(await client.Events.GetEnabledAsync());
        }
        catch
        {
            await TestHost.StopAllAsync([host]);
            throw;
        }

        Assert.Empty(await StopThenReadAllAsync(redis, prefix, host));
        if (redis)
        {
            StackExchange.Redis.ConnectionMultiplexer connection = await RedisFixture.GetAsync();
            Assert.False(await connection.GetDatabase().KeyExistsAsync(prefix + ":events"));
        }
    }

    [Fact]
    public async Task A_client_that_switches_events_follows_its_own_switch_from_its_very_next_send()
    {
        // The switch is stored and announced; the client that set it must not wait for its own notification to come
        // back (nor lose it to a read already under way): its next send writes, or does not write, its event.
        string prefix = RedisFixture.NewPrefix();
        await using CeleriacClient client = await CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = RedisFixture.Configuration, KeyPrefix = prefix });
        var evented = new List<string>();
        var silent = new List<string>();
        silent.Add((await Calc.AddTask.DelayAsync(client, 0, 0)).Id); // unset: a client writes no events
        for (int round = 0; round < 5; round++)
        {
            await client.Events.SetEnabledAsync(true);
            evented.Add((await Calc.AddTask.DelayAsync(client, round, 1)).Id);
            await client.Events.SetEnabledAsync(false);
            silent.Add((await Calc.AddTask.DelayAsync(client, round, 2)).Id);
        }

        await client.Events.SetEnabledAsync(true);
        string marker = (await Calc.AddTask.DelayAsync(client, 9, 9)).Id; // written after every event above (one writer, in order)
        await Wait.UntilAsync(async () => (await client.Events.ReadLatestAsync(1000)).Any(e => e.TaskId == marker), Timeout, "the marker's sent event");
        IReadOnlyList<TaskEvent> events = await client.Events.ReadLatestAsync(1000);
        output.WriteLine($"{events.Count} events: {string.Join(", ", events.Select(e => $"{e.Kind} {e.TaskId}"))}");
        Assert.All(evented, id => Assert.Contains(events, e => e.TaskId == id && e.Kind == TaskEventKind.TaskSent));
        Assert.DoesNotContain(events, e => silent.Contains(e.TaskId ?? ""));
    }

    /// <summary>Stops the host's worker, then reads everything the stream of <paramref name="prefix"/> holds with a new client (Redis) or the host's (in-process: the stream lives in the host); disposes the host.</summary>
    private static async Task<IReadOnlyList<TaskEvent>> StopThenReadAllAsync(bool redis, string prefix, IHost host)
    {
        try
        {
            await host.StopAsync().WaitAsync(Timeout);
            if (!redis)
            {
                return await host.Services.GetRequiredService<CeleriacClient>().Events.ReadLatestAsync(10_000);
            }

            await using CeleriacClient reader = await CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = RedisFixture.Configuration, KeyPrefix = prefix });
            return await reader.Events.ReadLatestAsync(10_000);
        }
        finally
        {
            host.Dispose();
        }
    }

    private async Task<IHost> StartAsync(bool redis, bool events, string? prefix = null)
    {
        HostApplicationBuilder builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(new TestOutputLoggerProvider(output, "ev"));
        builder.Services.AddSingleton<ILedger>(new MemoryLedger());
        builder.Services.AddCeleriac(o =>
        {
            o.Redis = redis ? RedisFixture.Configuration : null;
            o.KeyPrefix = prefix ?? RedisFixture.NewPrefix();
            o.VisibilityTimeout = TimeSpan.FromSeconds(5);
        }).AddWorker(w =>
        {
            w.Queues = [.. TestHost.Queues];
            w.Concurrency = 2;
            w.FetchWait = TimeSpan.FromMilliseconds(500);
            w.ShutdownTimeout = TimeSpan.FromSeconds(5);
            w.Name = "ev";
            w.Events = events;
            w.EventHeartbeat = TimeSpan.FromMilliseconds(300);
        });
        IHost host = builder.Build();
        await host.StartAsync().WaitAsync(Timeout);
        await host.Services.GetRequiredService<WorkerStatus>().Ready.WaitAsync(Timeout);
        return host;
    }
}
