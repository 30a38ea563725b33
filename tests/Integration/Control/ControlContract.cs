using Celeriac.Control;
using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.TestTasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Celeriac.IntegrationTests.Control;

/// <summary>
/// The worker registry and the inspect/control commands through the public client API, against a worker host in this
/// process: run on Redis (<see cref="ControlTests"/>), Redis Cluster (<see cref="ClusterControlTests"/>) and the
/// in-process broker (<see cref="InProcessControlUnitTests"/>). Every test has its own key prefix, so its own registry.
/// </summary>
public abstract class ControlContract(ITestOutputHelper output) : IAsyncLifetime
{
    protected static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    /// <summary>How long a command waits for replies: generous (a hang guard), a reply comes long before.</summary>
    protected static readonly TimeSpan Reply = TimeSpan.FromSeconds(5);

    protected readonly ITestOutputHelper Output = output;
    protected readonly MemoryLedger Ledger = new();
    protected readonly List<IHost> Hosts = [];

    /// <summary>The Redis configuration string, or null for the in-process broker.</summary>
    protected abstract string? Redis { get; }

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => TestHost.StopAllAsync(Hosts);

    /// <summary>Starts a worker host named <paramref name="name"/> (its worker id) with a short registry interval.</summary>
    protected async Task<(IHost Host, CeleriacClient Client)> StartAsync(string name, string prefix, Action<WorkerOptions>? worker = null)
    {
        IHost host = await TestHost.StartAsync(Output, name, Redis, prefix, Ledger, worker: w =>
        {
            w.RegistryInterval = TimeSpan.FromMilliseconds(200);
            worker?.Invoke(w);
        });
        Hosts.Add(host);
        await host.Services.GetRequiredService<WorkerStatus>().Ready.WaitAsync(Bound);
        return (host, host.Services.GetRequiredService<CeleriacClient>());
    }

    [Fact]
    public async Task The_registry_lists_a_running_worker_with_its_settings_and_counts()
    {
        (_, CeleriacClient client) = await StartAsync("ctl-reg", RedisFixture.NewPrefix(), w => w.Concurrency = 3);
        IReadOnlyList<WorkerInfo> workers = await client.Workers.ListAsync();
        WorkerInfo worker = Assert.Single(workers);
        Output.WriteLine($"listed: {worker.Id} host {worker.Host} pid {worker.ProcessId} v{worker.Version} queues [{string.Join(",", worker.Queues)}] concurrency {worker.Concurrency} prefetch {worker.Prefetch} started {worker.StartedAt:O} heartbeat {worker.LastHeartbeat:O} expires {worker.ExpiresAt:O}");
        Assert.Equal("ctl-reg", worker.Id);
        Assert.Equal(Environment.ProcessId, worker.ProcessId);
        Assert.Equal(Environment.MachineName, worker.Host);
        Assert.Equal(TestHost.Queues, worker.Queues);
        Assert.Equal(3, worker.Concurrency);
        Assert.Equal(3, worker.Prefetch);
        Assert.False(string.IsNullOrEmpty(worker.Version));
        Assert.True(worker.ExpiresAt > worker.LastHeartbeat, "the entry expires after its heartbeat");
        Assert.True(worker.LastHeartbeat >= worker.StartedAt);

        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(i * 2, await (await Calc.AddTask.DelayAsync(client, i, i)).GetAsync(Bound));
        }

        // The counts travel with the next heartbeats.
        await Wait.UntilAsync(async () => (await client.Workers.GetAsync("ctl-reg"))?.Processed >= 3, Bound, "the registry to count 3 processed tasks");
        WorkerInfo later = (await client.Workers.GetAsync("ctl-reg"))!;
        Output.WriteLine($"after 3 tasks: processed {later.Processed}, failed {later.Failed}, active {later.Active}, heartbeat {later.LastHeartbeat:O}");
        Assert.Equal(0, later.Failed);
        Assert.True(later.LastHeartbeat > worker.LastHeartbeat);
        Assert.Null(await client.Workers.GetAsync("no-such-worker"));
    }

    [Fact]
    public async Task Ping_is_answered_by_the_worker_and_an_unknown_worker_is_missing_at_once()
    {
        (_, CeleriacClient client) = await StartAsync("ctl-ping", RedisFixture.NewPrefix());
        ControlReplies<string> all = await client.Inspect.PingAsync(timeout: Reply);
        ControlReplies<string> one = await client.Inspect.PingAsync("ctl-ping", Reply);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        ControlReplies<string> unknown = await client.Inspect.PingAsync("no-such-worker", TimeSpan.FromSeconds(30));
        Output.WriteLine($"broadcast: {string.Join(", ", all.Replies.Select(r => r.Worker + "=" + r.Value))}; unknown worker: missing [{string.Join(",", unknown.Missing)}] after {clock.ElapsedMilliseconds} ms");
        Assert.Equal("pong", Assert.Single(all.Replies).Value);
        Assert.Empty(all.Missing);
        Assert.Equal("ctl-ping", Assert.Single(one.Replies).Worker);
        Assert.Empty(unknown.Replies);
        Assert.Equal(["no-such-worker"], unknown.Missing);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(25), "an unknown worker is reported without waiting for the 30 s timeout");
    }

    [Fact]
    public async Task Active_shows_a_long_task_with_its_id_name_queue_and_delivery_count()
    {
        (_, CeleriacClient client) = await StartAsync("ctl-active", RedisFixture.NewPrefix(), w => w.Concurrency = 2);
        TaskHandle<int> held = await Calc.HoldTask.DelayAsync(client, 30_000);
        ActiveTask? seen = null;
        await Wait.UntilAsync(async () => (seen = (await client.Inspect.ActiveAsync("ctl-active", Reply)).Of("ctl-active")?.Value?.SingleOrDefault()) is not null, Bound, "the held task to be reported active");
        Output.WriteLine($"active: {seen!.TaskId} {seen.TaskName} on '{seen.Queue}', started {seen.StartedAt:O}, running {seen.Runtime.TotalMilliseconds:0} ms, delivery {seen.DeliveryCount}");
        Assert.Equal(held.Id, seen.TaskId);
        Assert.Equal(Calc.HoldTask.Name, seen.TaskName);
        Assert.Equal("default", seen.Queue);
        Assert.Equal(1, seen.DeliveryCount);
        Assert.True(seen.Runtime >= TimeSpan.Zero);
        await Wait.UntilAsync(async () => (await client.Workers.GetAsync("ctl-active"))?.Active == 1, Bound, "the registry to count one active task");

        // Nothing is prefetched beyond the concurrency by default.
        Assert.Empty((await client.Inspect.ReservedAsync("ctl-active", Reply)).Of("ctl-active")!.Value!);

        await client.RevokeAsync(held.Id);
        await Assert.ThrowsAsync<TaskRevokedException>(() => held.GetAsync(Bound));
        await Wait.UntilAsync(async () => (await client.Inspect.ActiveAsync("ctl-active", Reply)).Of("ctl-active")?.Value?.Count == 0, Bound, "the revoked task to leave the active list");
    }

    [Fact]
    public async Task Reserved_shows_a_prefetched_task_and_active_the_running_one()
    {
        (_, CeleriacClient client) = await StartAsync("ctl-reserved", RedisFixture.NewPrefix(), w =>
        {
            w.Concurrency = 1;
            w.Prefetch = 3;
        });
        TaskHandle<int> first = await Calc.HoldTask.DelayAsync(client, 30_000);
        TaskHandle<int> second = await Calc.HoldTask.DelayAsync(client, 30_000);
        IReadOnlyList<ActiveTask> active = [];
        IReadOnlyList<ReservedTask> reserved = [];
        await Wait.UntilAsync(
            async () =>
            {
                active = (await client.Inspect.ActiveAsync("ctl-reserved", Reply)).Of("ctl-reserved")?.Value ?? [];
                reserved = (await client.Inspect.ReservedAsync("ctl-reserved", Reply)).Of("ctl-reserved")?.Value ?? [];
                return active.Count == 1 && reserved.Count == 1;
            },
            Bound,
            "one task running and one prefetched");
        Output.WriteLine($"active {active[0].TaskId}, reserved {reserved[0].TaskId} ({reserved[0].TaskName} on '{reserved[0].Queue}', delivery {reserved[0].DeliveryCount})");
        Assert.Equal(new[] { first.Id, second.Id }.Order(), new[] { active[0].TaskId, reserved[0].TaskId }.Order());
        Assert.Equal(Calc.HoldTask.Name, reserved[0].TaskName);
        Assert.Equal("default", reserved[0].Queue);
        WorkerStats stats = (await client.Inspect.StatsAsync("ctl-reserved", Reply)).Of("ctl-reserved")!.Value!;
        Assert.Equal((1, 1, 1, 3), (stats.Active, stats.Reserved, stats.Concurrency, stats.Prefetch));

        await client.RevokeAsync(first.Id);
        await client.RevokeAsync(second.Id);
        await Assert.ThrowsAsync<TaskRevokedException>(() => first.GetAsync(Bound));
        await Assert.ThrowsAsync<TaskRevokedException>(() => second.GetAsync(Bound));
    }

    [Fact]
    public async Task Registered_lists_the_dispatch_table()
    {
        (_, CeleriacClient client) = await StartAsync("ctl-registered", RedisFixture.NewPrefix());
        IReadOnlyList<RegisteredTask> registered = (await client.Inspect.RegisteredAsync(timeout: Reply)).Of("ctl-registered")!.Value!;
        Output.WriteLine($"{registered.Count} registered, first: {string.Join(", ", registered.Take(3).Select(t => t.Name + "@" + t.Queue))}");
        Assert.Equal(TaskCatalog.Global.Tasks.Select(t => t.Name).Order(StringComparer.Ordinal), registered.Select(t => t.Name));
        Assert.Equal("slow", registered.Single(t => t.Name == Work.SleepTask.Name).Queue);
        Assert.Equal("default", registered.Single(t => t.Name == Calc.AddTask.Name).Queue);
        Assert.Equal(TaskExecution.Cpu, registered.Single(t => t.Name == Cpu.SpinTask.Name).Execution); // the choice shows in the table
        Assert.Equal(TaskExecution.Pool, registered.Single(t => t.Name == Calc.AddTask.Name).Execution);
    }

    [Fact]
    public async Task Stats_count_processed_and_failed_runs()
    {
        (_, CeleriacClient client) = await StartAsync("ctl-stats", RedisFixture.NewPrefix(), w => w.Concurrency = 2);
        Assert.Equal(5, await (await Calc.AddTask.DelayAsync(client, 2, 3)).GetAsync(Bound));
        TaskHandle<int> failing = await Faults.AlwaysFailsTask.DelayAsync(client, "boom");
        await Assert.ThrowsAnyAsync<Exception>(() => failing.GetAsync(Bound));
        WorkerStats? stats = null;
        await Wait.UntilAsync(async () => (stats = (await client.Inspect.StatsAsync("ctl-stats", Reply)).Of("ctl-stats")?.Value) is { Processed: >= 2 }, Bound, "stats to count two processed messages");
        Output.WriteLine($"stats: processed {stats!.Processed}, failed {stats.Failed}, active {stats.Active}, reserved {stats.Reserved}, broker {stats.Broker}, uptime {stats.Uptime.TotalMilliseconds:0} ms, queues [{string.Join(",", stats.Queues)}], reachable {stats.BrokerReachable}");
        Assert.True(stats.Failed >= 1, "the failing task's run counts as failed");
        Assert.Equal(Redis is null ? "in-memory" : "redis", stats.Broker);
        Assert.Equal(Environment.ProcessId, stats.ProcessId);
        Assert.True(stats.BrokerReachable);
        Assert.Equal(TestHost.Queues, stats.Queues);
    }

    [Fact]
    public async Task Add_and_cancel_consumer_change_which_queues_the_worker_fetches_from()
    {
        (_, CeleriacClient client) = await StartAsync("ctl-queues", RedisFixture.NewPrefix(), w => w.Queues = ["default"]);
        TaskHandle<int> onSlow = await Calc.AddTask.ApplyAsync(client, 1, 2, new TaskOptions { Queue = "slow" });
        Assert.Equal(7, await (await Calc.AddTask.DelayAsync(client, 3, 4)).GetAsync(Bound)); // the worker fetches
        Assert.Equal(TaskState.Pending, await onSlow.GetStateAsync());
        Assert.Equal(1, await client.GetQueueLengthAsync("slow"));

        ControlReplies<string> added = await client.Control.AddConsumerAsync("slow", "ctl-queues", Reply);
        Assert.Equal("default,slow", Assert.Single(added.Replies).Value);
        Assert.Equal(3, await onSlow.GetAsync(Bound));
        await Wait.UntilAsync(async () => (await client.Workers.GetAsync("ctl-queues"))?.Queues.Count == 2, Bound, "the registry to list both queues");

        ControlReplies<string> cancelled = await client.Control.CancelConsumerAsync("slow", "ctl-queues", Reply);
        Assert.Equal("default", Assert.Single(cancelled.Replies).Value);
        ControlReplies<string> refused = await client.Control.CancelConsumerAsync("default", "ctl-queues", Reply);
        WorkerReply<string> refusal = Assert.Single(refused.Replies);
        Output.WriteLine($"cancelling the last queue: {refusal.Error}");
        Assert.False(refusal.Succeeded);
        Assert.Contains("only queue", refusal.Error, StringComparison.Ordinal);

        // A fetch already blocked on the old queues ends within FetchWait (500 ms here); every fetch after it leaves 'slow' alone.
        await Task.Delay(1500);
        TaskHandle<int> leftAlone = await Calc.AddTask.ApplyAsync(client, 5, 5, new TaskOptions { Queue = "slow" });
        Assert.Equal(9, await (await Calc.AddTask.DelayAsync(client, 4, 5)).GetAsync(Bound));
        Assert.Equal(TaskState.Pending, await leftAlone.GetStateAsync());
        Assert.Equal(1, await client.GetQueueLengthAsync("slow"));
    }

    [Fact]
    public async Task Grow_and_shrink_change_how_many_tasks_run_at_once_and_lose_none()
    {
        (_, CeleriacClient client) = await StartAsync("ctl-pool", RedisFixture.NewPrefix(), w => w.Concurrency = 1);
        string grown = "grow-" + Guid.NewGuid().ToString("N")[..6];
        ControlReplies<int> grow = await client.Control.GrowAsync(2, "ctl-pool", Reply);
        Assert.Equal(3, Assert.Single(grow.Replies).Value);
        var handles = new List<TaskHandle<int>>();
        for (int i = 1; i <= 6; i++)
        {
            handles.Add(await Work.SleepTask.DelayAsync(client, grown, i, 800));
        }

        foreach (TaskHandle<int> handle in handles)
        {
            _ = await handle.GetAsync(Bound);
        }

        IReadOnlyList<string> afterGrow = await Ledger.ReadAsync(grown);
        Output.WriteLine($"after growing to 3: at most {MaxOverlap(afterGrow)} at once [{string.Join(" ", afterGrow)}]");
        Assert.Equal(3, MaxOverlap(afterGrow));

        // Shrink to 1 while three long tasks run: none is interrupted, and no new task starts until all three ended.
        string shrunk = "shrink-" + Guid.NewGuid().ToString("N")[..6];
        var longOnes = new List<TaskHandle<int>>();
        for (int i = 1; i <= 3; i++)
        {
            longOnes.Add(await Work.SleepTask.DelayAsync(client, shrunk, i, 2000));
        }

        await Wait.UntilAsync(async () => (await Ledger.ReadAsync(shrunk)).Count(e => e.StartsWith("start:", StringComparison.Ordinal)) == 3, Bound, "the three long tasks to run");
        ControlReplies<int> shrink = await client.Control.ShrinkAsync(2, "ctl-pool", Reply);
        Assert.Equal(1, Assert.Single(shrink.Replies).Value);
        var shortOnes = new List<TaskHandle<int>>();
        for (int i = 11; i <= 14; i++)
        {
            shortOnes.Add(await Work.SleepTask.DelayAsync(client, shrunk, i, 200));
        }

        foreach (TaskHandle<int> handle in longOnes.Concat(shortOnes))
        {
            _ = await handle.GetAsync(Bound); // succeeded: neither interrupted nor lost
        }

        IReadOnlyList<string> entries = await Ledger.ReadAsync(shrunk);
        Output.WriteLine($"after shrinking to 1: [{string.Join(" ", entries)}]");
        int lastLongDone = entries.Select((e, i) => (e, i)).Where(x => x.e is "done:1" or "done:2" or "done:3").Max(x => x.i);
        int firstShortStart = entries.Select((e, i) => (e, i)).Where(x => x.e is "start:11" or "start:12" or "start:13" or "start:14").Min(x => x.i);
        Assert.True(firstShortStart > lastLongDone, "no task started before the three running when the shrink came had ended");
        Assert.Equal(1, MaxOverlap([.. entries.Where(e => e.Split(':')[1].Length == 2)])); // the short ones (11-14): one at a time
        Assert.Equal(7, entries.Count(e => e.StartsWith("done:", StringComparison.Ordinal)));
        await Wait.UntilAsync(async () => (await client.Workers.GetAsync("ctl-pool"))?.Concurrency == 1, Bound, "the registry to list the concurrency 1");
    }

    /// <summary>The most runs in progress at once, from a ledger of start:n and done:n entries in the order they happened.</summary>
    protected static int MaxOverlap(IReadOnlyList<string> entries)
    {
        int running = 0;
        int max = 0;
        foreach (string entry in entries)
        {
            running += entry.StartsWith("start:", StringComparison.Ordinal) ? 1 : -1;
            max = Math.Max(max, running);
        }

        return max;
    }
}

/// <summary>The control contract on the in-process broker.</summary>
public sealed class InProcessControlUnitTests(ITestOutputHelper output) : ControlContract(output)
{
    protected override string? Redis => null;
}
