using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.IntegrationTests.Deployments;
using Celeriac.TestTasks;

namespace Celeriac.IntegrationTests.Events;

/// <summary>
/// The run-time events switch across real worker processes: events off writes nothing; switched on, a running worker
/// writes its tasks' events and a worker started later follows the switch though its own option is off; switched off,
/// both stop writing.
/// </summary>
[Collection(DeploymentFaultsCollection.Name)] // starts processes: never beside other such tests
public sealed class EventsProcessTests(ITestOutputHelper output) : ProcessTestBase
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Events_switched_on_at_run_time_reach_a_running_worker_and_one_started_later_then_switched_off_stop()
    {
        string prefix = RedisFixture.NewPrefix();
        string redis = RedisFixture.Configuration;
        Workers.Add(await WorkerProcess.StartAsync(output, "w1", redis, prefix, "default", 2, 5000, "--event-heartbeat-ms", "200"));
        Client = await CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = redis, KeyPrefix = prefix });
        StackExchange.Redis.IDatabase db = (await RedisFixture.GetAsync()).GetDatabase();

        // Off (the worker's option and no switch): tasks run, nothing is written.
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(i, await (await Calc.AddTask.DelayAsync(Client, i, 0)).GetAsync(Timeout));
        }

        Assert.False(await db.KeyExistsAsync(prefix + ":events"));

        // On at run time: the running worker hears it (a notification, else its next heartbeat's re-read).
        await Client.Events.SetEnabledAsync(true);
        Assert.True(await Client.Events.GetEnabledAsync());
        string? evented = null;
        await Wait.UntilAsync(
            async () =>
            {
                TaskHandle<int> handle = await Calc.AddTask.DelayAsync(Client, 1, 1);
                await handle.GetAsync(Timeout);
                evented = (await Client.Events.ReadLatestAsync(1000)).Any(e => e.TaskId == handle.Id && e.Kind == TaskEventKind.TaskSucceeded && e.Source.Length > 0)
                    ? handle.Id
                    : null;
                return evented is not null;
            },
            Timeout,
            "a task's events after the switch was turned on",
            pollMs: 50);
        IReadOnlyList<TaskEvent> events = await Client.Events.ReadLatestAsync(1000);
        string w1 = events.Single(e => e.TaskId == evented && e.Kind == TaskEventKind.TaskSucceeded).Source;
        Assert.Equal(
            [TaskEventKind.TaskReceived, TaskEventKind.TaskStarted, TaskEventKind.TaskSucceeded],
            events.Where(e => e.TaskId == evented && e.Source == w1).Select(e => e.Kind));
        Assert.Contains(events, e => e.TaskId == evented && e.Kind == TaskEventKind.TaskSent); // this client follows the switch too

        // A worker started now (its own option off) follows the switch from its start: online, then heartbeats.
        WorkerProcess second = await WorkerProcess.StartAsync(output, "w2", redis, prefix, "default", 2, 5000, "--event-heartbeat-ms", "200");
        Workers.Add(second);
        await Wait.UntilAsync(
            async () =>
            {
                IReadOnlyList<TaskEvent> latest = await Client.Events.ReadLatestAsync(1000);
                return latest.Any(e => e.Kind == TaskEventKind.WorkerHeartbeat && e.Source != w1) && latest.Any(e => e.Kind == TaskEventKind.WorkerOnline); // online once its first fetch answered
            },
            Timeout,
            "the second worker's online event and heartbeat");
        events = await Client.Events.ReadLatestAsync(1000);
        string w2 = events.First(e => e.Kind == TaskEventKind.WorkerHeartbeat && e.Source != w1).Source;
        Assert.Contains(events, e => e.Kind == TaskEventKind.WorkerOnline && e.Source == w2);

        // Off at run time: once a task runs with no event, none of the tasks after it writes one.
        await Client.Events.SetEnabledAsync(false);
        await Wait.UntilAsync(
            async () =>
            {
                TaskHandle<int> handle = await Calc.AddTask.DelayAsync(Client, 2, 2);
                await handle.GetAsync(Timeout);
                await Task.Delay(300); // a heartbeat's worth: an event written late would show
                return !(await Client.Events.ReadLatestAsync(1000)).Any(e => e.TaskId == handle.Id);
            },
            Timeout,
            "a task without events after the switch was turned off",
            pollMs: 50);
        await Task.Delay(1000); // both workers have re-read the switch on a heartbeat (every 200 ms) by now
        string last = (await Client.Events.ReadLatestAsync(1))[0].Id;
        for (int i = 0; i < 10; i++)
        {
            Assert.Equal(i + 3, await (await Calc.AddTask.DelayAsync(Client, i, 3)).GetAsync(Timeout));
        }

        await Task.Delay(1000); // heartbeats would have been written meanwhile
        List<TaskEvent> latest = [.. await Client.Events.ReadLatestAsync(1000)];
        int at = latest.FindIndex(e => e.Id == last);
        Assert.True(at >= 0, "the last event before the off-run is still in the stream");
        Assert.Empty(latest.Skip(at + 1)); // no task event, no heartbeat from either worker, no sent event
    }
}
