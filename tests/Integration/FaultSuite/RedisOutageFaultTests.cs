using System.Diagnostics;
using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.TestTasks;
using StackExchange.Redis;
using static Celeriac.IntegrationTests.FaultSuite.FaultHelpers;

namespace Celeriac.IntegrationTests.FaultSuite;

/// <summary>Fault suite (6): Redis restarted (AOF, fsync always) mid-drain, then paused with SIGSTOP for 10 s; the workers are never restarted.</summary>
public sealed class RedisOutageFaultTests(ITestOutputHelper output) : ProcessTestBase
{
    [Fact]
    public async Task F6_workers_ride_out_a_Redis_restart_and_a_10_s_stall_and_every_task_completes()
    {
        const int Tasks = 1200, VisibilityMs = 2000, PauseMs = 10_000;
        using RedisServer server = await RedisServer.StartAsync(output, aof: true);
        string prefix = RedisFixture.NewPrefix();
        await StartWorkerAsync(Workers, output, "A", server.Configuration, prefix, "slow", 4, VisibilityMs);
        await StartWorkerAsync(Workers, output, "B", server.Configuration, prefix, "slow", 4, VisibilityMs);
        Client = await CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = server.Configuration, KeyPrefix = prefix });
        var observer = await ConnectionMultiplexer.ConnectAsync(server.Configuration + ",abortConnect=false");
        try
        {
            IDatabase db = observer.GetDatabase();
            var clock = Stopwatch.StartNew();
            TaskHandle<int>[] handles = await Calc.NapTask.DelayManyAsync(Client, [.. Enumerable.Range(0, Tasks).Select(n => (n, 25))]);
            await Wait.UntilAsync(async () => await db.ListLengthAsync($"{prefix}:{{slow}}:pending") < Tasks * 0.8, TimeSpan.FromSeconds(20), "the drain to get going");

            long before = await db.ListLengthAsync($"{prefix}:{{slow}}:pending");
            long restartAt = clock.ElapsedMilliseconds;
            await server.RestartAsync(TimeSpan.FromSeconds(1));
            long upAt = clock.ElapsedMilliseconds;
            long afterRestart = await PendingWhenReachableAsync(db, prefix);
            await Wait.UntilAsync(async () => await db.ListLengthAsync($"{prefix}:{{slow}}:pending") < afterRestart - 8, TimeSpan.FromSeconds(30), "the workers to resume after the restart");
            long resumedAt = clock.ElapsedMilliseconds;
            output.WriteLine($"[{restartAt} ms] SIGKILLed redis with {before} pending; up again at {upAt} ms with {afterRestart} pending (AOF replayed); workers consuming again at {resumedAt} ms ({resumedAt - upAt} ms after Redis came back)");

            // Stall: SIGSTOP for 10 s while the client keeps sending.
            long pending = await db.ListLengthAsync($"{prefix}:{{slow}}:pending");
            var dueDuringStall = new List<TaskHandle<int>>();
            for (int i = 0; i < 20; i++)
            {
                dueDuringStall.Add(await Calc.NapTask.ApplyAsync(Client, 20_000 + i, 5, new TaskOptions { Countdown = TimeSpan.FromMilliseconds(3000 + (i * 50)) }));
            }

            long pauseAt = clock.ElapsedMilliseconds;
            await server.SignalAsync("STOP");
            var sends = new List<(string Id, Exception? Error, long Ms)>();
            var sendClock = Stopwatch.StartNew();
            var sendTasks = Enumerable.Range(0, 10).Select(async i =>
            {
                string id = $"{prefix}-during-pause-{i}";
                await Task.Delay(i * 500);
                try
                {
                    await Calc.NapTask.ApplyAsync(Client, 10_000 + i, 25, new TaskOptions { TaskId = id });
                    lock (sends) { sends.Add((id, null, sendClock.ElapsedMilliseconds)); }
                }
                catch (Exception ex)
                {
                    lock (sends) { sends.Add((id, ex, sendClock.ElapsedMilliseconds)); }
                }
            }).ToList();
            await Task.Delay(PauseMs);
            await server.SignalAsync("CONT");
            DateTimeOffset contWall = DateTimeOffset.UtcNow;
            long contAt = clock.ElapsedMilliseconds;
            await Task.WhenAll(sendTasks);
            output.WriteLine($"[{pauseAt} ms] SIGSTOPped redis with {pending} pending; SIGCONT at {contAt} ms; sends during the pause: {string.Join("; ", sends.OrderBy(s => s.Id).Select(s => $"{s.Id[^1..]}: {(s.Error is null ? "stored" : s.Error.GetType().Name)} after {s.Ms} ms"))}");
            output.WriteLine($"  first failure message: {sends.FirstOrDefault(s => s.Error is not null).Error?.Message}");

            foreach (TaskHandle<int> h in handles)
            {
                await h.WaitAsync(TimeSpan.FromSeconds(60));
            }

            long drainedAt = clock.ElapsedMilliseconds;
            foreach (TaskHandle<int> h in dueDuringStall)
            {
                await h.GetAsync(TimeSpan.FromSeconds(30));
            }

            TaskResult[] scheduledResults = await Task.WhenAll(dueDuringStall.Select(h => h.GetResultAsync().AsTask()));
            double scheduledLatestMs = scheduledResults.Max(r => (r.Timestamp!.Value - contWall).TotalMilliseconds);
            output.WriteLine($"20 tasks due 3.0-4.0 s into the 10 s stall: all {string.Join("/", scheduledResults.Select(r => r.State).Distinct())}, the last done {scheduledLatestMs:0} ms after SIGCONT");
            foreach ((string id, Exception? error, _) in sends.Where(s => s.Error is null))
            {
                await new TaskHandle(Client, id).WaitAsync(TimeSpan.FromSeconds(30));
            }

            Dictionary<TaskState, int> states = await CountStatesAsync(Client, handles.Select(h => h.Id));
            Dictionary<TaskState, int> sentDuringPause = await CountStatesAsync(Client, sends.Select(s => s.Id));
            await Task.Delay(VisibilityMs + 500);
            string queues = await QueueStateAsync(db, prefix, "slow");
            output.WriteLine($"OBSERVED: {Tasks} tasks all final at {drainedAt} ms: {Show(states)}; sent during the pause: {sends.Count(s => s.Error is null)} reported stored, {sends.Count(s => s.Error is not null)} failed; their states now {Show(sentDuringPause)}; {queues}; workers alive {Workers.All(w => !w.HasExited)}");

            Assert.Equal(Tasks, states.GetValueOrDefault(TaskState.Success));
            Assert.All(sends.Where(s => s.Error is not null), s => Assert.IsType<BrokerUnavailableException>(s.Error));
            Dictionary<TaskState, int> reportedStored = await CountStatesAsync(Client, sends.Where(s => s.Error is null).Select(s => s.Id));
            Assert.Equal(sends.Count(s => s.Error is null), reportedStored.GetValueOrDefault(TaskState.Success));
            Assert.Equal(0, await ActiveAsync(db, prefix, "slow"));
            Assert.True(scheduledLatestMs < 10_000, $"tasks due during the stall ran {scheduledLatestMs:0} ms after Redis resumed");
            Assert.Equal(0, await db.ListLengthAsync($"{prefix}:{{slow}}:pending"));
            Assert.True(Workers.All(w => !w.HasExited), "no worker process may have died");
        }
        finally
        {
            await observer.DisposeAsync();
        }
    }

    private static async Task<long> PendingWhenReachableAsync(IDatabase db, string prefix)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                return await db.ListLengthAsync($"{prefix}:{{slow}}:pending");
            }
            catch (RedisException) when (clock.Elapsed < TimeSpan.FromSeconds(20))
            {
                await Task.Delay(50);
            }
        }
    }

    [Fact]
    public async Task F6b_a_Redis_stall_shorter_than_the_visibility_timeout_reruns_nothing()
    {
        // The promise of docs/reliability.md: an outage shorter than the visibility timeout causes no second run. A
        // 3 s SIGSTOP in the middle of a drain, leases of 10 s; every run is recorded in a ledger on another Redis.
        const int Tasks = 800, VisibilityMs = 10_000, PauseMs = 3000;
        using RedisServer server = await RedisServer.StartAsync(output, aof: false);
        string prefix = RedisFixture.NewPrefix();
        string run = prefix + "-stall";
        var ledger = new RedisLedger(await RedisFixture.GetAsync());
        await StartWorkerAsync(Workers, output, "A", server.Configuration, prefix, "slow", 4, VisibilityMs, "--ledger", RedisFixture.Configuration);
        await StartWorkerAsync(Workers, output, "B", server.Configuration, prefix, "slow", 4, VisibilityMs, "--ledger", RedisFixture.Configuration);
        Client = await CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = server.Configuration, KeyPrefix = prefix });
        var clock = Stopwatch.StartNew();
        TaskHandle<int>[] handles = await Work.SleepOnTask.DelayManyAsync(Client, [.. Enumerable.Range(0, Tasks).Select(n => (run, n, 10))]);
        await Wait.UntilAsync(async () => (await ledger.ReadAsync(run)).Count > Tasks / 4, TimeSpan.FromSeconds(30), "the drain to get going");

        long pauseAt = clock.ElapsedMilliseconds;
        await server.SignalAsync("STOP");
        await Task.Delay(PauseMs);
        await server.SignalAsync("CONT");
        long contAt = clock.ElapsedMilliseconds;
        foreach (TaskHandle<int> h in handles)
        {
            await h.WaitAsync(TimeSpan.FromSeconds(60));
        }

        long drainedAt = clock.ElapsedMilliseconds;
        IReadOnlyList<string> entries = await ledger.ReadAsync(run);
        int starts = entries.Count(e => e.StartsWith("start:", StringComparison.Ordinal));
        int distinct = entries.Where(e => e.StartsWith("start:", StringComparison.Ordinal)).Select(e => e.Split('@')[0]).Distinct(StringComparer.Ordinal).Count();
        Dictionary<TaskState, int> states = await CountStatesAsync(Client, handles.Select(h => h.Id));
        output.WriteLine($"OBSERVED: SIGSTOP at {pauseAt} ms, SIGCONT at {contAt} ms; {Tasks} tasks final at {drainedAt} ms: {Show(states)}; {starts} starts of {distinct} distinct tasks; workers alive {Workers.All(w => !w.HasExited)}");
        Assert.Equal(Tasks, states.GetValueOrDefault(TaskState.Success));
        Assert.Equal(Tasks, distinct);
        Assert.Equal(Tasks, starts); // not one task ran twice
        Assert.True(Workers.All(w => !w.HasExited), "no worker process may have died");
    }
}
