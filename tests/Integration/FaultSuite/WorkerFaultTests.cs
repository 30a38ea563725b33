using System.Diagnostics;
using Celeriac.Brokers;
using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.TestTasks;
using Celeriac.Protocol;
using Celeriac.Redis;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;
using static Celeriac.IntegrationTests.FaultSuite.FaultHelpers;

namespace Celeriac.IntegrationTests.FaultSuite;

/// <summary>Fault suite, worker processes dying: repeated SIGKILL mid-drain (1), a poison message (4), SIGTERM (5).</summary>
public sealed class WorkerFaultTests(ITestOutputHelper output) : ProcessTestBase
{
    [Fact]
    public async Task F1_a_worker_SIGKILLed_repeatedly_while_2000_tasks_drain_loses_nothing_and_duplicates_only_what_was_running()
    {
        const int Tasks = 2000, Concurrency = 4, VisibilityMs = 2000;
        ConnectionMultiplexer redis = await RedisFixture.GetAsync();
        var ledger = new RedisLedger(redis);
        string prefix = RedisFixture.NewPrefix();
        string run = prefix + "-kill";
        WorkerProcess stable = await StartWorkerAsync(Workers, output, "stable", RedisFixture.Configuration, prefix, "slow", Concurrency, VisibilityMs);
        WorkerProcess victim = await StartWorkerAsync(Workers, output, "victim-0", RedisFixture.Configuration, prefix, "slow", Concurrency, VisibilityMs);
        Client = await CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = RedisFixture.Configuration, KeyPrefix = prefix });
        var clock = Stopwatch.StartNew();
        // 20 ms per task: the drain (2,000 x 20 ms over 8 slots) lasts long enough for at least three kills a second apart.
        // Each ledger entry names the process that wrote it (start:n@pid, done:n@pid).
        TaskHandle<int>[] handles = await Work.SleepOnTask.DelayManyAsync(Client, [.. Enumerable.Range(0, Tasks).Select(n => (run, n, 20))]);
        output.WriteLine($"sent {Tasks} Work.SleepOn(20 ms) in {clock.ElapsedMilliseconds} ms");

        int kills = 0;
        var killed = new HashSet<string>(StringComparer.Ordinal);
        while (true)
        {
            // Distinct tasks done: a task run twice logs "done:n" twice, and counting those would end the wait early.
            if (DistinctDone(await ledger.ReadAsync(run)) >= Tasks || clock.Elapsed > TimeSpan.FromSeconds(150))
            {
                break;
            }

            await Task.Delay(1000);
            int before = DistinctDone(await ledger.ReadAsync(run));
            if (!victim.HasExited && before < Tasks * 0.9)
            {
                await victim.KillAsync();
                killed.Add(victim.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
                kills++;
                output.WriteLine($"[{clock.ElapsedMilliseconds} ms] SIGKILL #{kills} (pid {victim.Id}); distinct done so far {before}");
                victim = await StartWorkerAsync(Workers, output, $"victim-{kills}", RedisFixture.Configuration, prefix, "slow", Concurrency, VisibilityMs);
            }
        }

        // A task the last kill caught after it ran but before its outcome was stored is run again once its lease
        // expires, which may be after the last distinct task is done: wait for every result, not only the ledger.
        string[] ids = [.. handles.Select(h => h.Id)];
        await Wait.UntilAsync(async () => (await CountStatesAsync(Client, ids)).GetValueOrDefault(TaskState.Success) >= Tasks, TimeSpan.FromSeconds(30), "every result to be stored");
        long drainedMs = clock.ElapsedMilliseconds;
        IReadOnlyList<string> final = await ledger.ReadAsync(run);
        // Per task, the processes that started it and finished it, in ledger order.
        ILookup<string, string> byRun = final.ToLookup(e => e[..e.IndexOf('@', StringComparison.Ordinal)], e => e[(e.IndexOf('@', StringComparison.Ordinal) + 1)..], StringComparer.Ordinal);
        int distinctDone = Enumerable.Range(0, Tasks).Count(n => byRun[$"done:{n}"].Any());
        int startedTwice = Enumerable.Range(0, Tasks).Count(n => byRun[$"start:{n}"].Count() > 1);
        int doneTwice = Enumerable.Range(0, Tasks).Count(n => byRun[$"done:{n}"].Count() > 1);

        // A run may repeat only because the process that had it was killed: of a task's runs, every one but the last
        // must be on a process this test SIGKILLed. A repeat on two live workers (a lease lost while its holder lived)
        // would show as an earlier run on the stable worker or on a victim that was never killed.
        string stablePid = stable.Id.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var unexplained = new List<string>();
        foreach (int n in Enumerable.Range(0, Tasks))
        {
            foreach (string what in (string[])["start", "done"])
            {
                string[] pids = [.. byRun[$"{what}:{n}"]];
                foreach (string pid in pids[..^1])
                {
                    if (!killed.Contains(pid))
                    {
                        unexplained.Add($"{what}:{n} repeated after a run on live pid {pid}{(pid == stablePid ? " (the stable worker)" : "")}");
                    }
                }
            }
        }
        Dictionary<TaskState, int> states = await CountStatesAsync(Client, handles.Select(h => h.Id));
        string queues = await QueueStateAsync(redis.GetDatabase(), prefix, "slow");
        output.WriteLine($"OBSERVED: {Tasks} tasks drained in {drainedMs} ms with {kills} SIGKILLs; distinct done {distinctDone}; started more than once {startedTwice} (bound {kills} kills x {Concurrency} running = {kills * Concurrency}); finished more than once {doneTwice}; states {Show(states)}; {queues}");

        Assert.True(kills >= 3, $"the test meant to kill the victim several times, but killed it {kills} times");
        Assert.Equal(Tasks, distinctDone);
        Assert.Equal(Tasks, states.GetValueOrDefault(TaskState.Success));
        Assert.True(startedTwice <= kills * Concurrency, $"{startedTwice} tasks started twice; only the {kills * Concurrency} that could be running at the kills may");
        Assert.True(doneTwice <= kills * Concurrency, $"{doneTwice} tasks finished twice; only the {kills * Concurrency} that could be running at the kills may");
        Assert.True(unexplained.Count == 0, $"{unexplained.Count} repeats not caused by a kill: {string.Join("; ", unexplained.Take(10))}");
        Assert.Equal(0, await ActiveAsync(redis.GetDatabase(), prefix, "slow"));
    }

    [Fact]
    public async Task F4_a_poison_message_that_crashes_its_worker_is_dead_lettered_after_the_cap_and_other_tasks_flow()
    {
        const int Normal = 300, Cap = 3, VisibilityMs = 1500;
        ConnectionMultiplexer redis = await RedisFixture.GetAsync();
        var ledger = new RedisLedger(redis);
        string prefix = RedisFixture.NewPrefix();
        string run = prefix + "-poison";
        string[] extra = ["--max-deliveries", Cap.ToString(System.Globalization.CultureInfo.InvariantCulture)];
        var names = new[] { "w-a", "w-b" };
        var workers = new WorkerProcess[2];
        for (int i = 0; i < 2; i++)
        {
            workers[i] = await StartWorkerAsync(Workers, output, names[i] + "-0", RedisFixture.Configuration, prefix, "faults,default", 2, VisibilityMs, extra);
        }

        Client = await CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = RedisFixture.Configuration, KeyPrefix = prefix });
        var clock = Stopwatch.StartNew();
        TaskHandle<int> poison = await Faults.CrashTask.DelayAsync(Client, run, 1);
        TaskHandle<int>[] normal = await Work.RecordTask.DelayManyAsync(Client, [.. Enumerable.Range(0, Normal).Select(n => (run, n))]);

        // A supervisor (as Kubernetes would) restarts crashed workers.
        int crashes = 0;
        var crashTimes = new List<long>();
        while (clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            for (int i = 0; i < 2; i++)
            {
                if (workers[i].HasExited)
                {
                    crashes++;
                    crashTimes.Add(clock.ElapsedMilliseconds);
                    output.WriteLine($"[{clock.ElapsedMilliseconds} ms] {names[i]} crashed (#{crashes}); restarting");
                    workers[i] = await StartWorkerAsync(Workers, output, $"{names[i]}-{crashes}", RedisFixture.Configuration, prefix, "faults,default", 2, VisibilityMs, extra);
                }
            }

            TaskState state = await poison.GetStateAsync();
            IReadOnlyList<string> entries = await ledger.ReadAsync(run);
            if (state == TaskState.Failure && entries.Where(e => !e.StartsWith("crash", StringComparison.Ordinal)).Distinct().Count() >= Normal)
            {
                break;
            }

            await Task.Delay(100);
        }

        foreach (TaskHandle<int> h in normal)
        {
            await h.GetAsync(TimeSpan.FromSeconds(20)); // the last ones may still be acknowledging
        }

        TaskResult poisonResult = await poison.GetResultAsync();
        IReadOnlyList<DeadLetter> dead = await Client.GetDeadLettersAsync("faults");
        IReadOnlyList<string> ledgerEntries = await ledger.ReadAsync(run);
        int runsOfPoison = ledgerEntries.Count(e => e == "crash:1");
        Dictionary<TaskState, int> states = await CountStatesAsync(Client, normal.Select(h => h.Id));
        output.WriteLine($"OBSERVED after {clock.ElapsedMilliseconds} ms: poison ran {runsOfPoison} times, {crashes} worker crashes at [{string.Join(", ", crashTimes)}] ms; poison state {poisonResult.State} ({poisonResult.Error?.Type}: {poisonResult.Error?.Message}); dead letters [{string.Join("; ", dead.Select(d => d.Id + " " + d.Reason))}]; normal tasks {Show(states)}");

        Assert.Equal(Cap, runsOfPoison);
        Assert.Equal(Cap, crashes);
        Assert.Equal(TaskState.Failure, poisonResult.State);
        Assert.Equal("Celeriac.RedeliveryLimit", poisonResult.Error?.Type);
        DeadLetter letter = Assert.Single(dead);
        Assert.Equal(poison.Id, letter.Id);
        Assert.StartsWith("redelivery-limit", letter.Reason, StringComparison.Ordinal);
        Assert.Equal(Normal, states.GetValueOrDefault(TaskState.Success));
    }

    [Fact]
    public async Task F5_SIGTERM_lets_short_tasks_finish_and_releases_long_ones_to_another_worker_at_once()
    {
        const int VisibilityMs = 10_000, ShutdownMs = 1500;
        ConnectionMultiplexer redis = await RedisFixture.GetAsync();
        var ledger = new RedisLedger(redis);
        string prefix = RedisFixture.NewPrefix();
        string run = prefix + "-term";
        WorkerProcess a = await StartWorkerAsync(Workers, output, "A", RedisFixture.Configuration, prefix, "slow", 4, VisibilityMs, "--shutdown-ms", ShutdownMs.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Client = await CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = RedisFixture.Configuration, KeyPrefix = prefix });
        TaskHandle<int>[] shorts = [await Work.SleepTask.DelayAsync(Client, run, 1, 800), await Work.SleepTask.DelayAsync(Client, run, 2, 800)];
        // Long enough that worker B's start (seconds on a loaded machine) still finds them running on A.
        TaskHandle<int>[] longs = [await Work.SleepTask.DelayAsync(Client, run, 11, 12_000), await Work.SleepTask.DelayAsync(Client, run, 12, 12_000)];
        await Wait.UntilAsync(async () => (await ledger.ReadAsync(run)).Count(e => e.StartsWith("start:", StringComparison.Ordinal)) == 4, TimeSpan.FromSeconds(20), "worker A to start all four tasks");
        WorkerProcess b = await StartWorkerAsync(Workers, output, "B", RedisFixture.Configuration, prefix, "slow", 4, VisibilityMs);

        var clock = Stopwatch.StartNew();
        await a.SignalAsync("TERM");
        await a.WaitForExitAsync(TimeSpan.FromSeconds(20));
        long exitedMs = clock.ElapsedMilliseconds;
        await Wait.UntilAsync(async () => (await ledger.ReadAsync(run)).Count(e => e is "start:11" or "start:12") == 4, TimeSpan.FromSeconds(20), "worker B to start the two released long tasks");
        long restartedMs = clock.ElapsedMilliseconds;
        foreach (TaskHandle<int> h in longs)
        {
            await h.GetAsync(TimeSpan.FromSeconds(40));
        }

        TaskResult[] shortResults = [await shorts[0].GetResultAsync(), await shorts[1].GetResultAsync()];
        TaskResult[] longResults = [await longs[0].GetResultAsync(), await longs[1].GetResultAsync()];
        IReadOnlyList<string> entries = await ledger.ReadAsync(run);
        output.WriteLine($"OBSERVED: A exited {exitedMs} ms after SIGTERM (grace {ShutdownMs} ms); B restarted the long tasks {restartedMs} ms after SIGTERM (visibility timeout {VisibilityMs} ms); short: {string.Join(", ", shortResults.Select(r => r.State + " by " + r.Worker))}; long: {string.Join(", ", longResults.Select(r => r.State + " by " + r.Worker))}; ledger [{string.Join(", ", entries)}]");

        // The short tasks finished on A within its grace period, each started once; the long ones were interrupted on A
        // (no outcome recorded there: an interrupted run is not a failure) and ran to the end on B.
        Assert.All(shortResults, r => Assert.Equal(TaskState.Success, r.State));
        Assert.All(shortResults, r => Assert.Contains($":{a.Id}:", r.Worker, StringComparison.Ordinal)); // names are host:pid:suffix
        Assert.All(longResults, r => Assert.Equal(TaskState.Success, r.State));
        Assert.All(longResults, r => Assert.Contains($":{b.Id}:", r.Worker, StringComparison.Ordinal));
        Assert.Contains(a.Lines, l => l.StartsWith("STOPPED", StringComparison.Ordinal));
        foreach (int n in (int[])[1, 2])
        {
            Assert.Equal(1, entries.Count(e => e == $"start:{n}"));
            Assert.Equal(1, entries.Count(e => e == $"done:{n}"));
        }

        foreach (int n in (int[])[11, 12])
        {
            Assert.Equal(2, entries.Count(e => e == $"start:{n}")); // on A, then on B
            Assert.Equal(1, entries.Count(e => e == $"done:{n}"));  // only B's run finished
            Assert.Equal(0, longResults[n - 11].Retries);          // the interruption consumed no retry
        }
        Assert.True(restartedMs < ShutdownMs + 3000, $"the long tasks restarted {restartedMs} ms after SIGTERM: they were not handed back at the deadline");
        Assert.False(b.HasExited);
    }

    [Fact]
    public async Task F9_bad_input_pushed_between_valid_tasks_is_dead_lettered_by_reason_and_the_worker_process_keeps_serving()
    {
        const int Valid = 200, Bad = 50, Limit = 4096;
        ConnectionMultiplexer redis = await RedisFixture.GetAsync();
        string prefix = RedisFixture.NewPrefix();
        WorkerProcess worker = await StartWorkerAsync(Workers, output, "W", RedisFixture.Configuration, prefix, "default", 4, 3000, "--max-message-bytes", Limit.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Client = await CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = RedisFixture.Configuration, KeyPrefix = prefix });
        await using var broker = new RedisBroker(redis, new CeleriacOptions { Redis = RedisFixture.Configuration, KeyPrefix = prefix }, NullLogger.Instance, TimeProvider.System);
        var random = new Random(20261124);
        var expected = new Dictionary<string, string>();
        var valid = new List<TaskHandle<int>>();
        for (int i = 0; i < Bad; i++)
        {
            valid.AddRange(await Calc.AddTask.DelayManyAsync(Client, [.. Enumerable.Range(0, Valid / Bad).Select(n => (i, n))]));
            string id = $"bad-{i}";
            byte[] good = EnvelopeCodec.Encode(new Envelope { Id = id, Task = Calc.AddTask.Name, Args = new byte[] { 0x92, 0x01, 0x02 }, Queue = "default", RootId = id, CreatedMs = 1 });
            (byte[] bytes, string reason) = (i % 5) switch
            {
                0 => (RandomBytes(random, 1 + random.Next(300)), "undecodable|unsupported-version"), // random bytes may look like an array with some version
                1 => (good[..(1 + random.Next(good.Length - 2))], "undecodable"),
                2 => (WithVersion(good, 2 + random.Next(100)), "unsupported-version"),
                3 => (EnvelopeCodec.Encode(new Envelope { Id = id, Task = "Celeriac.TestTasks.NoSuchTask", Args = new byte[] { 0x90 }, Queue = "default", RootId = id, CreatedMs = 1 }), "unknown-task"),
                _ => (EnvelopeCodec.Encode(new Envelope { Id = id, Task = Calc.AddTask.Name, Args = new byte[Limit + random.Next(1000)], Queue = "default", RootId = id, CreatedMs = 1 }), "oversized"),
            };
            expected[id] = reason;
            await broker.EnqueueAsync([new EnqueueItem(id, "default", bytes, 0)], default);
        }

        foreach (TaskHandle<int> h in valid)
        {
            await h.GetAsync(TimeSpan.FromSeconds(30));
        }

        await Wait.UntilAsync(async () => (await Client.GetDeadLettersAsync("default", 1000)).Count >= Bad, TimeSpan.FromSeconds(20), "every bad message to be dead-lettered");
        IReadOnlyList<DeadLetter> dead = await Client.GetDeadLettersAsync("default", 1000);
        var byReason = dead.GroupBy(d => d.Reason.Split(':')[0]).ToDictionary(g => g.Key, g => g.Count());
        var wrong = dead.Where(d => !expected[d.Id].Split('|').Any(r => d.Reason.StartsWith(r + ":", StringComparison.Ordinal))).Select(d => $"{d.Id} expected {expected[d.Id]} got {d.Reason}").ToList();
        Dictionary<TaskState, int> states = await CountStatesAsync(Client, valid.Select(h => h.Id));
        output.WriteLine($"OBSERVED: {valid.Count} valid tasks {Show(states)}; {dead.Count} dead letters by reason {string.Join(", ", byReason.OrderBy(kv => kv.Key).Select(kv => kv.Key + " " + kv.Value))}; misclassified [{string.Join("; ", wrong)}]; worker alive {!worker.HasExited}");
        Assert.Equal(valid.Count, states.GetValueOrDefault(TaskState.Success));
        Assert.Equal(Bad, dead.Count);
        Assert.Empty(wrong);
        Assert.False(worker.HasExited);
        Assert.Equal(0, await ActiveAsync(redis.GetDatabase(), prefix, "default"));
    }

    [Fact]
    public async Task F10_a_worker_paused_past_its_lease_loses_the_task_to_another_and_its_late_outcome_is_refused()
    {
        const int VisibilityMs = 1500;
        ConnectionMultiplexer redis = await RedisFixture.GetAsync();
        var ledger = new RedisLedger(redis);
        string prefix = RedisFixture.NewPrefix();
        string run = prefix + "-fence";
        WorkerProcess a = await StartWorkerAsync(Workers, output, "A", RedisFixture.Configuration, prefix, "slow", 1, VisibilityMs);
        Client = await CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = RedisFixture.Configuration, KeyPrefix = prefix });
        TaskHandle<int> handle = await Work.SleepTask.DelayAsync(Client, run, 1, 2500);
        await Wait.UntilAsync(async () => (await ledger.ReadAsync(run)).Contains("start:1"), TimeSpan.FromSeconds(20), "worker A to start the task");
        var clock = Stopwatch.StartNew();
        await a.SignalAsync("STOP");
        WorkerProcess b = await StartWorkerAsync(Workers, output, "B", RedisFixture.Configuration, prefix, "slow", 1, VisibilityMs);
        await Wait.UntilAsync(async () => (await ledger.ReadAsync(run)).Count(e => e == "start:1") == 2, TimeSpan.FromSeconds(20), "worker B to take the task over");
        long takenOverMs = clock.ElapsedMilliseconds;
        Assert.Equal(1, await handle.GetAsync(TimeSpan.FromSeconds(20)));
        TaskResult byB = await handle.GetResultAsync();

        await a.SignalAsync("CONT");
        long resumedMs = clock.ElapsedMilliseconds;
        await Wait.UntilAsync(() => Task.FromResult(a.Lines.Any(l => l.Contains("lease had been taken over", StringComparison.Ordinal))), TimeSpan.FromSeconds(20), "worker A to find its outcome refused");
        TaskResult after = await handle.GetResultAsync();
        IReadOnlyList<string> entries = await ledger.ReadAsync(run);
        output.WriteLine($"OBSERVED: A paused {resumedMs} ms (visibility timeout {VisibilityMs} ms); B took over {takenOverMs} ms after the pause and recorded {byB.State} as {byB.Worker}; after A resumed the result is {after.State} by {after.Worker} (A's outcome refused by fencing); ledger [{string.Join(", ", entries)}]");
        Assert.Equal(TaskState.Success, after.State);
        Assert.Equal(byB.Worker, after.Worker);
        Assert.Equal(byB.Timestamp, after.Timestamp);
        Assert.Equal(2, entries.Count(e => e == "start:1")); // documented at-least-once: the paused run went on
        Assert.False(a.HasExited);
        Assert.False(b.HasExited);
    }

    private static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    private static byte[] WithVersion(byte[] envelope, int version)
    {
        byte[] copy = [.. envelope];
        copy[1] = (byte)Math.Min(version, 127); // [fixarray][positive fixint version]...
        return copy;
    }

    private static int DistinctDone(IReadOnlyList<string> entries)
        => entries.Where(e => e.StartsWith("done:", StringComparison.Ordinal)).Select(e => e.Split('@')[0]).Distinct(StringComparer.Ordinal).Count();
}
