using System.Diagnostics;
using System.Globalization;
using Celeriac.Control;
using Celeriac.IntegrationTests.Deployments;
using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.TestTasks;
using StackExchange.Redis;

namespace Celeriac.IntegrationTests.Supervision;

/// <summary>
/// WorkerOptions.Processes with real processes: a supervisor (dotnet Celeriac.TestWorker.dll --processes N) starts N
/// copies of itself; children are SIGKILLed, recycle after N tasks or past a memory limit, crash at start; the
/// supervisor is stopped with SIGTERM or SIGKILLed. A Redis ledger says which process ran which task, and how often.
/// </summary>
[Collection(DeploymentFaultsCollection.Name)] // kills or starts processes: never beside other such tests
public sealed class SupervisorTests(ITestOutputHelper output) : ProcessTestBase, IDisposable
{
    /// <summary>Hang guard only: every wait here ends far sooner when things work.</summary>
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    private readonly HashSet<int> _children = [];

    [Fact]
    public async Task A_SIGKILLed_child_is_replaced_at_once_and_the_new_one_registers_and_serves_tasks()
    {
        (WorkerProcess supervisor, string prefix) = await StartSupervisorAsync("kill", 2, "slow", concurrency: 2);
        ConnectionMultiplexer redis = await RedisFixture.GetAsync();
        var ledger = new RedisLedger(redis);
        IReadOnlyList<WorkerInfo> workers = await RegisteredAsync(2);
        Assert.Equal(2, workers.Select(w => w.Id).Distinct().Count());
        Assert.Equal([.. SupervisedWorkers.Started(supervisor).Select(c => c.Pid).Order()], workers.Select(w => w.ProcessId).Order());
        Assert.DoesNotContain(workers, w => w.ProcessId == supervisor.Id); // the supervisor runs no worker
        Assert.All(workers, w => Assert.Matches(@"^sup-kill-[12]:\d+$", w.Id));

        (int index, int victim) = SupervisedWorkers.Started(supervisor)[0];
        var clock = Stopwatch.StartNew();
        using (var process = Process.GetProcessById(victim))
        {
            process.Kill();
        }

        int replacement = 0;
        TimeSpan started = await Wait.UntilAsync(
            () => Task.FromResult((replacement = SupervisedWorkers.Started(supervisor).Skip(2).FirstOrDefault(c => c.Index == index).Pid) != 0),
            Bound,
            $"a new child in slot {index} after SIGKILL of pid {victim}",
            pollMs: 5);
        _children.Add(replacement);
        TimeSpan ready = await Wait.UntilAsync(() => Task.FromResult(SupervisedWorkers.Ready(supervisor).Contains(replacement)), Bound, $"child {replacement} to be READY", pollMs: 5);
        await Wait.UntilAsync(async () => (await Client!.Workers.ListAsync()).Any(w => w.ProcessId == replacement), Bound, $"child {replacement} to register");
        TimeSpan registered = clock.Elapsed;
        output.WriteLine($"OBSERVED: SIGKILL of child {index} (pid {victim}) -> replacement pid {replacement} started after {started.TotalMilliseconds:0} ms, READY after {ready.TotalMilliseconds + started.TotalMilliseconds:0} ms, registered after {registered.TotalMilliseconds:0} ms");
        Assert.NotEqual(victim, replacement);
        Assert.False(SupervisedWorkers.IsAlive(victim));

        // The replacement serves: 16 tasks of 300 ms on 2 children of concurrency 2 are shared between them.
        string run = prefix + "-after-kill";
        var handles = new List<TaskHandle<int>>();
        for (int n = 1; n <= 16; n++)
        {
            handles.Add(await Work.SleepOnTask.DelayAsync(Client!, run, n, 300));
        }

        foreach (TaskHandle<int> handle in handles)
        {
            await handle.WaitAsync(Bound); // throws unless it succeeded
        }

        IReadOnlyList<string> entries = await ledger.ReadAsync(run);
        int byReplacement = entries.Count(e => e.StartsWith("done:", StringComparison.Ordinal) && e.EndsWith("@" + replacement.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal));
        output.WriteLine($"OBSERVED: the replacement ran {byReplacement} of 16 tasks");
        Assert.True(byReplacement > 0, $"the replacement (pid {replacement}) ran none of the tasks: [{string.Join(", ", entries)}]");
        Assert.Equal(2, (await Client!.Workers.ListAsync()).Count);
    }

    [Fact]
    public async Task MaxTasksPerProcess_recycles_children_with_a_warm_hand_off_and_every_task_runs_exactly_once()
    {
        const int PerChild = 5;
        (WorkerProcess supervisor, string prefix) = await StartSupervisorAsync("tasks", 1, "slow", concurrency: 2, "--max-tasks", PerChild.ToString(CultureInfo.InvariantCulture));
        ConnectionMultiplexer redis = await RedisFixture.GetAsync();
        var ledger = new RedisLedger(redis);
        string run = prefix + "-recycle";
        var handles = new List<TaskHandle<int>>();
        for (int n = 1; n <= 3 * PerChild; n++)
        {
            handles.Add(await Work.SleepOnTask.DelayAsync(Client!, run, n, 100));
        }

        foreach (TaskHandle<int> handle in handles)
        {
            await handle.WaitAsync(Bound); // throws unless it succeeded
        }

        IReadOnlyList<string> entries = await ledger.ReadAsync(run);
        int recycles = SupervisedWorkers.Count(supervisor, "is recycling; its replacement starts now");
        await Wait.UntilAsync(() => Task.FromResult(SupervisedWorkers.Count(supervisor, "exited after recycling (exit code 75)") >= 2), Bound, "two recycled children to exit with code 75");
        var perPid = entries.Where(e => e.StartsWith("done:", StringComparison.Ordinal)).GroupBy(e => e[(e.IndexOf('@') + 1)..]).ToDictionary(g => g.Key, g => g.Count());
        output.WriteLine($"OBSERVED: {3 * PerChild} tasks, MaxTasksPerProcess {PerChild}: {recycles} recycles; tasks per child process: {string.Join(", ", perPid.Select(p => $"pid {p.Key}: {p.Value}"))}");
        Assert.True(recycles >= 2, $"{recycles} recycles");
        Assert.All(perPid.Values, count => Assert.True(count <= PerChild, $"a child ran {count} tasks, more than {PerChild}"));
        AssertEachRanOnce(entries, 3 * PerChild);

        // Warm hand-off: each replacement was started when its predecessor said it recycles, before that one exited.
        int firstRecycle = IndexOfLine(supervisor, "is recycling; its replacement starts now");
        int secondStart = supervisor.Lines.Select((l, i) => (l, i)).Where(x => x.l.Contains("child 1 started", StringComparison.Ordinal)).Skip(1).First().i;
        int firstExit = IndexOfLine(supervisor, "exited after recycling");
        Assert.True(firstRecycle < secondStart && secondStart < firstExit, $"the replacement started at line {secondStart}, the recycle began at line {firstRecycle}, the old child exited at line {firstExit}");
    }

    [Fact]
    public async Task Without_a_supervisor_a_worker_recycles_after_MaxTasksPerProcess_with_exit_code_75_and_leaves_the_rest_queued()
    {
        ConnectionMultiplexer redis = await RedisFixture.GetAsync();
        var ledger = new RedisLedger(redis);
        string prefix = RedisFixture.NewPrefix();
        string run = prefix + "-alone";
        Client = await CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = RedisFixture.Configuration, KeyPrefix = prefix });
        var handles = new List<TaskHandle<int>>();
        for (int n = 1; n <= 10; n++)
        {
            handles.Add(await Work.SleepOnTask.DelayAsync(Client, run, n, 200));
        }

        WorkerProcess worker = await WorkerProcess.StartAsync(output, "worker", RedisFixture.Configuration, prefix, "slow", concurrency: 2, visibilityMs: 2000, "--max-tasks", "3");
        Workers.Add(worker);
        await worker.WaitForExitAsync(Bound);
        IReadOnlyList<string> entries = await ledger.ReadAsync(run);
        long queued = await Client.GetQueueLengthAsync("slow");
        output.WriteLine($"OBSERVED: MaxTasksPerProcess 3 without a supervisor: exit code {worker.ExitCode}; ledger [{string.Join(", ", entries)}]; {queued} left in the queue");
        Assert.Equal(WorkerOptions.RecycleExitCode, worker.ExitCode);
        Assert.Equal(3, entries.Count(e => e.StartsWith("done:", StringComparison.Ordinal)));
        Assert.Equal(3, entries.Count(e => e.StartsWith("start:", StringComparison.Ordinal))); // each taken task ran to its end
        Assert.Equal(7, queued); // the rest wait for the next worker, not leased to the one that left
        Assert.Contains(worker.Lines, l => l.Contains("recycling: it took 3 tasks", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_child_past_MaxMemoryPerProcess_recycles_and_no_task_is_lost_or_run_twice()
    {
        const int Tasks = 60;
        (WorkerProcess supervisor, string prefix) = await StartSupervisorAsync("leak", 1, "leaks", concurrency: 2, "--max-memory-mb", "160", "--visibility-ms", "1500");
        ConnectionMultiplexer redis = await RedisFixture.GetAsync();
        var ledger = new RedisLedger(redis);
        string run = prefix + "-leak";
        var handles = new List<TaskHandle<int>>();
        for (int n = 1; n <= Tasks; n++)
        {
            handles.Add(await Leaky.LeakTask.DelayAsync(Client!, run, n, 4096)); // 4 MiB kept for good by each run
            await Task.Delay(50); // spread over 3 s, so that the memory check (every 500 ms) sees the growth between runs
        }

        foreach (TaskHandle<int> handle in handles)
        {
            await handle.WaitAsync(Bound); // throws unless it succeeded
        }

        IReadOnlyList<string> entries = await ledger.ReadAsync(run);
        string[] reasons = [.. supervisor.Lines.Where(l => l.Contains("its resident memory is", StringComparison.Ordinal)).Select(l => l[l.IndexOf("its resident memory is", StringComparison.Ordinal)..].Split('.')[0])];
        var perPid = entries.GroupBy(e => e[(e.IndexOf('@') + 1)..]).ToDictionary(g => g.Key, g => g.Count());
        output.WriteLine($"OBSERVED: {Tasks} runs keeping 4 MiB each, MaxMemoryPerProcess 160 MiB: {reasons.Length} recycles ({string.Join("; ", reasons)}); runs per child process: {string.Join(", ", perPid.Select(p => $"pid {p.Key}: {p.Value}"))}");
        Assert.NotEmpty(reasons);
        Assert.True(perPid.Count >= 2, "every run was in one process: no recycle took effect");
        Assert.Equal(Tasks, entries.Count);
        Assert.Equal(Tasks, entries.Select(e => e[..e.IndexOf('@')]).Distinct().Count());
    }

    [Fact]
    public async Task SIGTERM_to_the_supervisor_stops_every_child_gracefully_and_leaves_no_process()
    {
        (WorkerProcess supervisor, string prefix) = await StartSupervisorAsync("term", 2, "slow", concurrency: 1);
        ConnectionMultiplexer redis = await RedisFixture.GetAsync();
        var ledger = new RedisLedger(redis);
        await RegisteredAsync(2);
        string run = prefix + "-term";
        TaskHandle<int> first = await Work.SleepOnTask.DelayAsync(Client!, run, 1, 2000);
        TaskHandle<int> second = await Work.SleepOnTask.DelayAsync(Client!, run, 2, 2000);
        await Wait.UntilAsync(async () => (await ledger.ReadAsync(run)).Count(e => e.StartsWith("start:", StringComparison.Ordinal)) == 2, Bound, "both tasks to start, one in each child");

        var clock = Stopwatch.StartNew();
        await supervisor.SignalAsync("TERM");
        await supervisor.WaitForExitAsync(Bound);
        long exitedMs = clock.ElapsedMilliseconds;
        IReadOnlyList<string> entries = await ledger.ReadAsync(run);
        int[] survivors = [.. _children.Where(SupervisedWorkers.IsAlive)];
        output.WriteLine($"OBSERVED: supervisor exited {exitedMs} ms after SIGTERM with code {supervisor.ExitCode}; ledger [{string.Join(", ", entries)}]; children alive after: {survivors.Length}");
        Assert.Equal(0, supervisor.ExitCode);
        Assert.Empty(survivors);
        Assert.Contains(entries, e => e.StartsWith("done:1@", StringComparison.Ordinal));
        Assert.Contains(entries, e => e.StartsWith("done:2@", StringComparison.Ordinal));
        Assert.Equal(TaskState.Success, (await first.GetResultAsync()).State);
        Assert.Equal(TaskState.Success, (await second.GetResultAsync()).State);
        foreach (int child in _children)
        {
            await Wait.UntilAsync(() => Task.FromResult(supervisor.Lines.Contains($"STOPPED pid={child} exit=0")), Bound, $"child {child}'s last line, STOPPED with exit code 0");
        }

        Assert.Empty(await Client!.Workers.ListAsync()); // each child removed itself as it stopped
    }

    [Fact]
    public async Task A_SIGKILLed_supervisor_leaves_no_orphan_its_children_stop_gracefully()
    {
        (WorkerProcess supervisor, string prefix) = await StartSupervisorAsync("orphan", 2, "slow", concurrency: 1);
        ConnectionMultiplexer redis = await RedisFixture.GetAsync();
        var ledger = new RedisLedger(redis);
        await RegisteredAsync(2);
        string run = prefix + "-orphan";
        TaskHandle<int> running = await Work.SleepOnTask.DelayAsync(Client!, run, 1, 1500);
        await Wait.UntilAsync(async () => (await ledger.ReadAsync(run)).Any(e => e.StartsWith("start:1@", StringComparison.Ordinal)), Bound, "the task to start");

        var clock = Stopwatch.StartNew();
        await supervisor.SignalAsync("KILL"); // the supervisor alone, not its children
        await supervisor.WaitForExitAsync(Bound);
        TimeSpan gone = await Wait.UntilAsync(() => Task.FromResult(!_children.Any(SupervisedWorkers.IsAlive)), Bound, "the children of the SIGKILLed supervisor to exit");
        IReadOnlyList<string> entries = await ledger.ReadAsync(run);
        output.WriteLine($"OBSERVED: supervisor SIGKILLed; its {_children.Count} children exited {clock.ElapsedMilliseconds} ms later; ledger [{string.Join(", ", entries)}]");
        Assert.Contains(entries, e => e.StartsWith("done:1@", StringComparison.Ordinal)); // the running task finished: a graceful stop
        Assert.Equal(TaskState.Success, (await running.GetResultAsync()).State);
        await Wait.UntilAsync(() => Task.FromResult(SupervisedWorkers.Count(supervisor, "its supervisor's pipe closed") == _children.Count), Bound, "each child to log that its supervisor's pipe closed");
    }

    [Fact]
    public async Task A_child_told_to_shut_down_is_not_replaced_and_the_supervisor_stops_when_none_is_left()
    {
        (WorkerProcess supervisor, _) = await StartSupervisorAsync("shutdown", 2, "slow", concurrency: 1);
        IReadOnlyList<WorkerInfo> workers = await RegisteredAsync(2);
        WorkerInfo first = workers[0];
        Assert.Equal("stopping", Assert.Single((await Client!.Control.ShutdownAsync(first.Id, TimeSpan.FromSeconds(5))).Replies).Value);
        await Wait.UntilAsync(() => Task.FromResult(SupervisedWorkers.Count(supervisor, "stopped by itself (exit code 0); not replaced") == 1), Bound, "the supervisor to see its child exit 0");
        IReadOnlyList<WorkerInfo> left = await Client.Workers.ListAsync();
        output.WriteLine($"OBSERVED: after shutting down {first.Id}: {SupervisedWorkers.Started(supervisor).Count} children started in all; registry [{string.Join(", ", left.Select(w => w.Id))}]; supervisor running: {!supervisor.HasExited}");
        Assert.Equal(2, SupervisedWorkers.Started(supervisor).Count); // no replacement
        Assert.Equal([workers[1].Id], left.Select(w => w.Id));
        Assert.False(supervisor.HasExited);

        Assert.Equal("stopping", Assert.Single((await Client.Control.ShutdownAsync(workers[1].Id, TimeSpan.FromSeconds(5))).Replies).Value);
        await supervisor.WaitForExitAsync(Bound);
        Assert.Equal(0, supervisor.ExitCode);
        Assert.Contains(supervisor.Lines, l => l.Contains("every worker process stopped by itself", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_child_that_crashes_at_start_is_restarted_with_a_growing_back_off_not_in_a_tight_loop()
    {
        _ = await RedisFixture.GetAsync();
        string prefix = RedisFixture.NewPrefix();
        WorkerProcess supervisor = await WorkerProcess.StartAsync(output, "supervisor", RedisFixture.Configuration, prefix, "slow", 1, 2000, "--processes", "1", "--crash-at-start", "true");
        Workers.Add(supervisor);
        try
        {
            var clock = Stopwatch.StartNew();
            await Wait.UntilAsync(() => Task.FromResult(SupervisedWorkers.Count(supervisor, "crashed with exit code") >= 3), Bound, "three crashes of the child");
            if (clock.Elapsed < TimeSpan.FromSeconds(8))
            {
                await Task.Delay(TimeSpan.FromSeconds(8) - clock.Elapsed); // a tight loop would start ~40 children in 8 s (a start that crashes takes ~0.2 s)
            }

            List<(int Index, int Pid)> starts = SupervisedWorkers.Started(supervisor);
            _children.UnionWith(starts.Select(s => s.Pid));
            long[] delays = [.. supervisor.Lines.Where(l => l.Contains("crashed with exit code", StringComparison.Ordinal)).Select(l => long.Parse(l[(l.IndexOf("restarting in ", StringComparison.Ordinal) + 14)..].Split(' ')[0], CultureInfo.InvariantCulture))];
            output.WriteLine($"OBSERVED: in {clock.ElapsedMilliseconds} ms, {starts.Count} starts of a child that crashes at start; restart delays [{string.Join(", ", delays)}] ms");
            Assert.InRange(starts.Count, 3, 8);
            Assert.Equal([0L, 1000L, 2000L], delays.Take(3));

            // Stopped while it backs off: no new child, exit 0.
            await supervisor.SignalAsync("TERM");
            await supervisor.WaitForExitAsync(Bound);
            Assert.Equal(0, supervisor.ExitCode);
            Assert.DoesNotContain(_children, SupervisedWorkers.IsAlive);
        }
        finally
        {
            SupervisedWorkers.KillSurvivors(_children);
        }
    }

    /// <summary>Starts a supervisor of <paramref name="processes"/> TestWorker children, opens a client, and waits for every child to print READY.</summary>
    private async Task<(WorkerProcess Supervisor, string Prefix)> StartSupervisorAsync(string name, int processes, string queues, int concurrency, params string[] extra)
    {
        _ = await RedisFixture.GetAsync();
        string prefix = RedisFixture.NewPrefix();
        string[] arguments = ["--processes", processes.ToString(CultureInfo.InvariantCulture), "--registry-ms", "300", "--name", "sup-" + name, .. extra];
        int visibility = 2000;
        int at = Array.IndexOf(arguments, "--visibility-ms");
        if (at >= 0)
        {
            visibility = int.Parse(arguments[at + 1], CultureInfo.InvariantCulture);
            arguments = [.. arguments[..at], .. arguments[(at + 2)..]];
        }

        WorkerProcess supervisor = await WorkerProcess.StartAsync(output, "supervisor", RedisFixture.Configuration, prefix, queues, concurrency, visibility, arguments);
        Workers.Add(supervisor);
        Client = await CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = RedisFixture.Configuration, KeyPrefix = prefix });
        await Wait.UntilAsync(() => Task.FromResult(SupervisedWorkers.Ready(supervisor).Count >= processes), Bound, $"{processes} children to print READY");
        _children.UnionWith(SupervisedWorkers.Started(supervisor).Select(c => c.Pid));
        return (supervisor, prefix);
    }

    private async Task<IReadOnlyList<WorkerInfo>> RegisteredAsync(int count)
    {
        IReadOnlyList<WorkerInfo> workers = [];
        await Wait.UntilAsync(async () => (workers = await Client!.Workers.ListAsync()).Count == count, Bound, $"{count} children to register");
        return workers;
    }

    private static int IndexOfLine(WorkerProcess process, string text)
        => process.Lines.Select((l, i) => (l, i)).First(x => x.l.Contains(text, StringComparison.Ordinal)).i;

    private static void AssertEachRanOnce(IReadOnlyList<string> entries, int tasks)
    {
        for (int n = 1; n <= tasks; n++)
        {
            string number = n.ToString(CultureInfo.InvariantCulture);
            Assert.Equal(1, entries.Count(e => e.StartsWith($"start:{number}@", StringComparison.Ordinal)));
            Assert.Equal(1, entries.Count(e => e.StartsWith($"done:{number}@", StringComparison.Ordinal)));
        }
    }

    /// <summary>After the base class killed the supervisors (and their process trees): any child whose supervisor died first.</summary>
    public void Dispose()
    {
        foreach (WorkerProcess worker in Workers)
        {
            _children.UnionWith(SupervisedWorkers.Started(worker).Select(c => c.Pid));
        }

        SupervisedWorkers.KillSurvivors(_children);
    }
}
