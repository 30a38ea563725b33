using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.Redis;
using Celeriac.TestTasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using StackExchange.Redis;

namespace Celeriac.IntegrationTests.EndToEnd;

/// <summary>
/// Tasks the worker holds. The prefetch path, with <c>Prefetch</c> greater than <c>Concurrency</c>: messages the worker
/// has leased and keeps while every slot is busy (one slot, four prefetched; the slot is held by a long task so that the
/// others wait leased in the worker, not in the queue where the fetch script would handle them). And how a running task
/// learns of a revocation whose announcement was lost: the heartbeat's re-check (the announcement alone is checked on
/// both brokers by <c>RetryPolicyContract</c>).
/// </summary>
public sealed class HeldTaskTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly string _prefix = RedisFixture.NewPrefix();
    private readonly MemoryLedger _ledger = new();
    private readonly List<IHost> _hosts = [];
    private IDatabase _db = null!;
    private RedisKeys Keys => new(_prefix);

    public async Task InitializeAsync() => _db = (await RedisFixture.GetAsync()).GetDatabase();

    public Task DisposeAsync() => TestHost.StopAllAsync(_hosts);

    [Fact]
    public async Task A_prefetched_task_revoked_while_it_waits_for_a_slot_ends_REVOKED_and_never_runs()
    {
        (IHost host, ITaskClient client) = await StartAsync(TimeSpan.FromSeconds(30));
        string run = Guid.NewGuid().ToString("N");
        // The holder keeps the one slot for 10 s: long enough that, on a loaded machine, the revoke below still comes
        // while the second task waits (it would otherwise start first and be revoked while running).
        TaskHandle<int> holder = await Work.SleepTask.DelayAsync(client, run, 1, 10_000);
        await Wait.UntilAsync(async () => (await _ledger.ReadAsync(run)).Contains("start:1"), TimeSpan.FromSeconds(20), "the holder to start");
        TaskHandle<int> waiting = await Work.SleepTask.DelayAsync(client, run, 2, 10);

        // Leased by the worker (in the active set), not started: it waits for the one slot.
        await Wait.UntilAsync(async () => await _db.SortedSetScoreAsync(Keys.Active("slow"), waiting.Id) is not null, TimeSpan.FromSeconds(20), "the second task to be prefetched");
        Assert.DoesNotContain("start:2", await _ledger.ReadAsync(run));
        await ((CeleriacClient)client).RevokeAsync(waiting.Id);

        await Assert.ThrowsAsync<TaskRevokedException>(() => waiting.GetAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(1, await holder.GetAsync(TimeSpan.FromSeconds(30)));
        IReadOnlyList<string> ran = await _ledger.ReadAsync(run);
        output.WriteLine($"ledger: {string.Join(", ", ran)}");
        Assert.DoesNotContain("start:2", ran);
        Assert.Equal(TaskState.Revoked, (await waiting.GetResultAsync()).State);
    }

    [Fact]
    public async Task A_stop_hands_the_prefetched_tasks_back_to_the_head_of_the_queue_at_once()
    {
        (IHost host, ITaskClient client) = await StartAsync(TimeSpan.FromSeconds(60));
        string run = Guid.NewGuid().ToString("N");
        TaskHandle<int> holder = await Work.SleepTask.DelayAsync(client, run, 1, 1500);
        await Wait.UntilAsync(async () => (await _ledger.ReadAsync(run)).Contains("start:1"), TimeSpan.FromSeconds(20), "the holder to start");
        TaskHandle<int>[] waiting = await Work.SleepTask.DelayManyAsync(client, [(run, 2, 10), (run, 3, 10), (run, 4, 10)]);
        await Wait.UntilAsync(
            async () => (await Task.WhenAll(waiting.Select(h => _db.SortedSetScoreAsync(Keys.Active("slow"), h.Id)))).All(s => s is not null),
            TimeSpan.FromSeconds(20), "the three to be prefetched");

        var clock = System.Diagnostics.Stopwatch.StartNew();
        await host.StopAsync(CancellationToken.None);
        long stopMs = clock.ElapsedMilliseconds;

        // Back in pending, in their order (the fetch pops from the right: the first to run is the rightmost), and no
        // longer leased; the holder finished within the shutdown timeout. All of it long before the 60 s lease.
        RedisValue[] pending = await _db.ListRangeAsync(Keys.Pending("slow"));
        output.WriteLine($"stopped in {stopMs} ms; pending (left to right): {string.Join(", ", pending)}");
        Assert.Equal(waiting.Select(h => h.Id).Reverse(), pending.Select(v => (string)v!));
        foreach (TaskHandle<int> h in waiting)
        {
            Assert.Null(await _db.SortedSetScoreAsync(Keys.Active("slow"), h.Id));
        }

        Assert.Equal(1, await holder.GetAsync(TimeSpan.FromSeconds(5)));
        Assert.DoesNotContain(await _ledger.ReadAsync(run), e => e is "start:2" or "start:3" or "start:4");

        // A new worker runs them, each once.
        (_, ITaskClient _) = await StartAsync(TimeSpan.FromSeconds(60));
        int[] values = await Task.WhenAll(waiting.Select(h => h.GetAsync(TimeSpan.FromSeconds(30))));
        Assert.Equal([2, 3, 4], values);
        IReadOnlyList<string> ran = await _ledger.ReadAsync(run);
        Assert.Equal(1, ran.Count(e => e == "start:3"));
    }

    [Fact]
    public async Task The_leases_of_prefetched_tasks_are_renewed_while_they_wait_for_a_slot()
    {
        // A 1.5 s visibility timeout and a holder of 5 s: unrenewed, the waiting task's lease would lapse three times over.
        (IHost host, ITaskClient client) = await StartAsync(TimeSpan.FromMilliseconds(1500));
        string run = Guid.NewGuid().ToString("N");
        TaskHandle<int> holder = await Work.SleepTask.DelayAsync(client, run, 1, 5000);
        await Wait.UntilAsync(async () => (await _ledger.ReadAsync(run)).Contains("start:1"), TimeSpan.FromSeconds(20), "the holder to start");
        TaskHandle<int> waiting = await Work.SleepTask.DelayAsync(client, run, 2, 10);
        await Wait.UntilAsync(async () => await _db.SortedSetScoreAsync(Keys.Active("slow"), waiting.Id) is not null, TimeSpan.FromSeconds(20), "the second task to be prefetched");

        double first = (await _db.SortedSetScoreAsync(Keys.Active("slow"), waiting.Id))!.Value;
        await Wait.UntilAsync(
            async () => (await _db.SortedSetScoreAsync(Keys.Active("slow"), waiting.Id)) is double later && later > first + 1500,
            TimeSpan.FromSeconds(4), "the waiting task's lease to be pushed past its first deadline");

        Assert.Equal(1, await holder.GetAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(2, await waiting.GetAsync(TimeSpan.FromSeconds(30)));
        IReadOnlyList<string> ran = await _ledger.ReadAsync(run);
        output.WriteLine($"ledger: {string.Join(", ", ran)}; the waiting task's result record: {(await waiting.GetResultAsync()).State}");
        Assert.Equal(1, ran.Count(e => e == "start:2"));
        Assert.Equal(1, ran.Count(e => e == "start:1"));
    }

    [Fact]
    public async Task A_running_task_whose_revocation_was_never_announced_is_revoked_by_the_heartbeat_recheck()
    {
        // The revocation is written where the broker keeps it, with no announcement (a lost pub/sub message): only
        // the heartbeat's re-check (every visibility timeout / 3 = 1 s) can find it.
        (IHost host, ITaskClient client) = await StartAsync(TimeSpan.FromSeconds(3));
        string run = Guid.NewGuid().ToString("N");
        TaskHandle<int> running = await Work.SleepTask.DelayAsync(client, run, 1, 50_000);
        await Wait.UntilAsync(async () => (await _ledger.ReadAsync(run)).Contains("start:1"), TimeSpan.FromSeconds(20), "the task to start");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await _db.SortedSetAddAsync(Keys.Revoked("slow"), running.Id, DateTimeOffset.UtcNow.AddMinutes(5).ToUnixTimeMilliseconds());
        await Assert.ThrowsAsync<TaskRevokedException>(() => running.GetAsync(TimeSpan.FromSeconds(20)));
        output.WriteLine($"REVOKED {clock.ElapsedMilliseconds} ms after the unannounced revocation (re-check every 1 s)");
        Assert.DoesNotContain("done:1", await _ledger.ReadAsync(run));
    }

    private async Task<(IHost Host, ITaskClient Client)> StartAsync(TimeSpan visibility)
    {
        IHost host = await TestHost.StartAsync(output, "prefetch", RedisFixture.Configuration, _prefix, _ledger,
            celeriac: o => o.VisibilityTimeout = visibility,
            worker: w =>
            {
                w.Queues = ["slow"];
                w.Concurrency = 1;
                w.Prefetch = 4;
            });
        _hosts.Add(host);
        return (host, host.Services.GetRequiredService<ITaskClient>());
    }
}
