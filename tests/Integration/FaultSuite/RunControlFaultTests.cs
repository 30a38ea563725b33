using Celeriac.IntegrationTests.Deployments;
using System.Diagnostics;
using System.Globalization;
using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.TestTasks;
using StackExchange.Redis;
using static Celeriac.IntegrationTests.FaultSuite.FaultHelpers;

namespace Celeriac.IntegrationTests.FaultSuite;

/// <summary>Fault suite, time and control: ETA beyond the lease (2), a long task on a starved worker (3), a hung task (7), revoke (8).</summary>
[Collection(DeploymentFaultsCollection.Name)] // kills or starts processes: never beside other such tests
public sealed class RunControlFaultTests(ITestOutputHelper output) : ProcessTestBase
{
    [Fact]
    public async Task F2_tasks_due_after_the_visibility_timeout_run_once_each_and_never_before_their_ETA()
    {
        const int Tasks = 100, VisibilityMs = 1500;
        ConnectionMultiplexer redis = await RedisFixture.GetAsync();
        IDatabase db = redis.GetDatabase();
        var ledger = new RedisLedger(redis);
        string prefix = RedisFixture.NewPrefix();
        string run = prefix + "-eta";
        WorkerProcess a = await StartWorkerAsync(Workers, output, "A", RedisFixture.Configuration, prefix, "default", 4, VisibilityMs);
        await StartWorkerAsync(Workers, output, "B", RedisFixture.Configuration, prefix, "default", 4, VisibilityMs);
        Client = await CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = RedisFixture.Configuration, KeyPrefix = prefix });
        var eta = new Dictionary<int, long>();
        long sentAt = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        for (int n = 0; n < Tasks; n++)
        {
            DateTimeOffset due = DateTimeOffset.FromUnixTimeMilliseconds(sentAt + (2 * VisibilityMs) + (n * 10));
            eta[n] = due.ToUnixTimeMilliseconds();
            await Faults.StampTask.ApplyAsync(Client, run, n, new TaskOptions { Eta = due });
        }

        await Task.Delay(VisibilityMs + 200);
        long activeBefore = await ActiveAsync(db, prefix, "default");
        long scheduledBefore = await ScheduledAsync(db, prefix, "default");
        int ranBefore = (await ledger.ReadAsync(run)).Count;

        // One worker is killed and replaced while the tasks wait: nothing of them lived in its memory.
        await a.KillAsync();
        await StartWorkerAsync(Workers, output, "A2", RedisFixture.Configuration, prefix, "default", 4, VisibilityMs);
        await Wait.UntilAsync(async () => (await ledger.ReadAsync(run)).Count >= Tasks, TimeSpan.FromSeconds(30), "all ETA tasks to run");
        await Task.Delay(VisibilityMs + 500); // a second run would show up by now
        IReadOnlyList<string> entries = await ledger.ReadAsync(run);
        var ran = entries.Select(e => e.Split(':')).Select(p => (N: int.Parse(p[0], CultureInfo.InvariantCulture), At: long.Parse(p[1], CultureInfo.InvariantCulture))).ToList();
        long[] lateness = [.. ran.Select(r => r.At - eta[r.N]).Order()];
        int early = lateness.Count(l => l < 0);
        int duplicates = ran.Count - ran.Select(r => r.N).Distinct().Count();
        output.WriteLine($"OBSERVED: {Tasks} tasks due {2 * VisibilityMs}-{2 * VisibilityMs + (Tasks - 1) * 10} ms after sending (visibility timeout {VisibilityMs} ms); after {VisibilityMs + 200} ms: active {activeBefore}, scheduled {scheduledBefore}, ran {ranBefore}; then worker A SIGKILLed and replaced; runs {ran.Count}, duplicates {duplicates}, early {early}; lateness ms min {lateness[0]}, median {lateness[lateness.Length / 2]}, p95 {lateness[(int)(lateness.Length * 0.95)]}, max {lateness[^1]}");

        Assert.Equal(0, activeBefore);
        Assert.Equal(Tasks, scheduledBefore);
        Assert.Equal(0, ranBefore);
        Assert.Equal(Tasks, ran.Count);
        Assert.Equal(0, duplicates);
        Assert.Equal(0, early);
    }

    [Fact]
    public async Task F3_a_long_synchronous_task_on_a_starved_thread_pool_keeps_its_lease_and_runs_once()
    {
        const int VisibilityMs = 1500, TaskMs = 3 * VisibilityMs, Spinners = 6;
        ConnectionMultiplexer redis = await RedisFixture.GetAsync();
        var ledger = new RedisLedger(redis);
        string prefix = RedisFixture.NewPrefix();
        string run = prefix + "-long";

        // Worker A: 6 slots on this 2-core machine, all spinning synchronously for 3 visibility timeouts. The heartbeat
        // has its own thread; the Redis replies it waits for are completed on pool threads, which the worker's
        // thread-pool reserve (min threads = concurrency + cores) keeps available. Without the reserve this test failed
        // under the full suite's load: all 6 tasks ran twice. (A pool hard-capped at the number of blocking handlers
        // starves every Redis reply of the process; docs/reliability.md says so.)
        await StartWorkerAsync(Workers, output, "A-saturated", RedisFixture.Configuration, prefix, "slow", Spinners, VisibilityMs, "--prefetch", Spinners.ToString(CultureInfo.InvariantCulture));
        Client = await CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = RedisFixture.Configuration, KeyPrefix = prefix });
        TaskHandle<int>[] handles = await Faults.SpinTask.DelayManyAsync(Client, [.. Enumerable.Range(1, Spinners).Select(n => (run, n, TaskMs))]);
        await Wait.UntilAsync(async () => (await ledger.ReadAsync(run)).Count(e => e.StartsWith("start:", StringComparison.Ordinal)) == Spinners, TimeSpan.FromSeconds(20), "worker A to start every spinning task");

        // Worker B would take over any lease A failed to renew.
        var clock = Stopwatch.StartNew();
        await StartWorkerAsync(Workers, output, "B-idle", RedisFixture.Configuration, prefix, "slow", 2, VisibilityMs);
        foreach (TaskHandle<int> h in handles)
        {
            await h.GetAsync(TimeSpan.FromSeconds(40));
        }

        IReadOnlyList<string> entries = await ledger.ReadAsync(run);
        TaskResult[] results = await Task.WhenAll(handles.Select(h => h.GetResultAsync().AsTask()));
        output.WriteLine($"OBSERVED: {Spinners} tasks of {TaskMs} ms synchronous CPU each ({TaskMs / VisibilityMs}x the {VisibilityMs} ms visibility timeout) on a 2-core worker, holding every pool thread; finished {clock.ElapsedMilliseconds} ms after B joined; ledger [{string.Join(", ", entries)}]; by {string.Join(", ", results.Select(r => r.Worker))}");
        Assert.All(Enumerable.Range(1, Spinners), n => Assert.Equal(1, entries.Count(e => e == $"start:{n}")));
        Assert.All(results, r => Assert.Equal(TaskState.Success, r.State));
    }

    [Fact]
    public async Task F7_hung_tasks_hit_their_hard_time_limit_and_the_worker_keeps_serving()
    {
        const int Normal = 50;
        ConnectionMultiplexer redis = await RedisFixture.GetAsync();
        var ledger = new RedisLedger(redis);
        string prefix = RedisFixture.NewPrefix();
        string run = prefix + "-hang";
        WorkerProcess worker = await StartWorkerAsync(Workers, output, "W", RedisFixture.Configuration, prefix, "faults,default", 2, 5000, "--prefetch", "2");
        Client = await CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = RedisFixture.Configuration, KeyPrefix = prefix });
        var clock = Stopwatch.StartNew();
        // Hung for 4 s against a hard limit of 1.5 s: abandoned at the limit, they still return afterwards.
        TaskHandle<int>[] hung = [await Faults.HangForTask.DelayAsync(Client, run, 1, 4000), await Faults.HangForTask.DelayAsync(Client, run, 2, 4000)];
        await Wait.UntilAsync(async () => (await ledger.ReadAsync(run)).Count == 2, TimeSpan.FromSeconds(20), "both hung tasks to start (holding both slots)");
        TaskHandle<int>[] normal = await Work.RecordTask.DelayManyAsync(Client, [.. Enumerable.Range(0, Normal).Select(n => (run, n))]);

        var failures = new List<TaskFailedException>();
        foreach (TaskHandle<int> h in hung)
        {
            failures.Add(await Assert.ThrowsAsync<TaskFailedException>(() => h.GetAsync(TimeSpan.FromSeconds(20))));
        }

        long limitedMs = clock.ElapsedMilliseconds;
        foreach (TaskHandle<int> h in normal)
        {
            await h.GetAsync(TimeSpan.FromSeconds(20));
        }

        long flowedMs = clock.ElapsedMilliseconds;
        output.WriteLine($"OBSERVED: hung tasks failed {limitedMs} ms after sending (hard limit 1500 ms): {string.Join(" | ", failures.Select(f => f.RemoteType + ": " + f.RemoteMessage))}; {Normal} normal tasks done {flowedMs} ms after sending; worker alive {!worker.HasExited}");
        Assert.All(failures, f => Assert.Equal("Celeriac.TimeLimitExceeded", f.RemoteType));
        Assert.All(failures, f => Assert.Contains("hard time limit of 1500 ms", f.RemoteMessage, StringComparison.Ordinal));
        Assert.True(limitedMs >= 1400, $"the hung tasks failed {limitedMs} ms after sending, well before their 1,500 ms limit"); // timers may fire a little early
        Assert.False(worker.HasExited);
        Assert.Equal(0, await ActiveAsync(redis.GetDatabase(), prefix, "faults"));

        // The abandoned runs return later; their outcome must not replace the recorded FAILURE.
        await Wait.UntilAsync(async () => (await ledger.ReadAsync(run)).Count(e => e.StartsWith("late:", StringComparison.Ordinal)) == 2, TimeSpan.FromSeconds(20), "both abandoned runs to return");
        await Task.Delay(1000); // room for a late outcome to be (wrongly) written
        foreach (TaskHandle<int> h in hung)
        {
            TaskResult after = await h.GetResultAsync();
            Assert.Equal(TaskState.Failure, after.State);
            Assert.Equal("Celeriac.TimeLimitExceeded", after.Error?.Type);
        }

        Assert.Equal(2, (await ledger.ReadAsync(run)).Count(e => e.StartsWith("hang:", StringComparison.Ordinal))); // each ran once: not retried
    }

    [Fact]
    public async Task F8_revoke_sticks_for_queued_scheduled_and_retrying_tasks_while_workers_are_offline()
    {
        ConnectionMultiplexer redis = await RedisFixture.GetAsync();
        var ledger = new RedisLedger(redis);
        string prefix = RedisFixture.NewPrefix();
        string run = prefix + "-revoke";
        WorkerProcess first = await StartWorkerAsync(Workers, output, "W1", RedisFixture.Configuration, prefix, "slow,default", 2, 3000);
        Client = await CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = RedisFixture.Configuration, KeyPrefix = prefix });

        // A running task's revoke is RetryPolicyContract's (both brokers, the announcement alone) and HeldTaskTests'
        // (the heartbeat's re-check alone); here, revocations that must wait for a worker to come back.
        TaskHandle<int> retrying = await Faults.AskRetryTask.DelayAsync(Client, run + "-retry", 2500);
        await Wait.UntilAsync(async () => await retrying.GetStateAsync() == TaskState.Retry, TimeSpan.FromSeconds(20), "the retrying task to be in its retry backoff");

        await first.SignalAsync("TERM");
        await first.WaitForExitAsync(TimeSpan.FromSeconds(20));
        TaskHandle<int> queued = await Work.RecordTask.DelayAsync(Client, run, 1);
        TaskHandle<int> scheduled = await Work.RecordTask.ApplyAsync(Client, run, 2, new TaskOptions { Countdown = TimeSpan.FromMilliseconds(1000) });
        TaskHandle<int> control = await Work.RecordTask.DelayAsync(Client, run, 4);
        await Client.RevokeAsync(queued.Id);
        await Client.RevokeAsync(scheduled.Id);
        await Client.RevokeAsync(retrying.Id);
        await Task.Delay(2600); // the scheduled task and the retry fall due while no worker runs

        await StartWorkerAsync(Workers, output, "W2", RedisFixture.Configuration, prefix, "slow,default", 2, 3000);
        Assert.Equal(4, await control.GetAsync(TimeSpan.FromSeconds(20)));
        TaskState[] states = [await queued.GetStateAsync(), await scheduled.GetStateAsync(), await retrying.GetStateAsync()];
        await Wait.UntilAsync(async () => (await Task.WhenAll(queued.GetStateAsync().AsTask(), scheduled.GetStateAsync().AsTask(), retrying.GetStateAsync().AsTask())).All(s => s == TaskState.Revoked), TimeSpan.FromSeconds(10), "the three revoked tasks to be recorded REVOKED");
        IReadOnlyList<string> entries = await ledger.ReadAsync(run);
        IReadOnlyList<string> retryEntries = await ledger.ReadAsync(run + "-retry");
        output.WriteLine($"OBSERVED: offline revokes: queued {states[0]}, scheduled {states[1]}, in retry backoff {states[2]} (right after the control task ran); ledger [{string.Join(", ", entries)}]; retrying task's runs [{string.Join(", ", retryEntries)}]");
        Assert.DoesNotContain("1", entries);
        Assert.DoesNotContain("2", entries);
        Assert.Single(retryEntries);
    }
}
