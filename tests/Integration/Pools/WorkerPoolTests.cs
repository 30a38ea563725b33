using System.Diagnostics;
using Celeriac.Control;
using Celeriac.IntegrationTests.EndToEnd;
using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.TestTasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Celeriac.IntegrationTests.Pools;

/// <summary>
/// Per-queue pools on Redis, in one worker host: the worker's own queue <c>default</c> at concurrency 8, a pool
/// <c>reports</c> at concurrency 1, a pool <c>crunch</c> that runs every task on its one CPU thread, and a pool
/// <c>io</c> that runs every task on the thread pool.
/// </summary>
[Collection(nameof(CpuExecutionTests))] // Cpu's counters are process-wide
public sealed class WorkerPoolTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);
    private readonly List<IHost> _hosts = [];
    private readonly MemoryLedger _ledger = new();
    private ITaskClient _client = null!;
    private string _run = null!;

    public async Task InitializeAsync()
    {
        Cpu.Reset();
        string prefix = RedisFixture.NewPrefix();
        _run = prefix;
        IHost host = await TestHost.StartAsync(output, "pools", RedisFixture.Configuration, prefix, _ledger,
            worker: w =>
            {
                w.Queues = ["default"];
                w.Concurrency = 8;
                w.Pools["reports"] = new WorkerPool { Concurrency = 1 };
                w.Pools["crunch"] = new WorkerPool { Concurrency = 4, Execution = TaskExecution.Cpu, CpuThreads = 1 };
                w.Pools["io"] = new WorkerPool { Concurrency = 4, Execution = TaskExecution.Pool };
            });
        _hosts.Add(host);
        _client = host.Services.GetRequiredService<ITaskClient>();
    }

    public Task DisposeAsync() => TestHost.StopAllAsync(_hosts);

    [Fact]
    public async Task A_pool_of_concurrency_1_runs_its_tasks_one_at_a_time_while_the_default_pool_runs_many_at_once()
    {
        var sent = new List<TaskHandle<int>>();
        for (int i = 0; i < 4; i++)
        {
            sent.Add(await Pooled.ReportTask.DelayAsync(_client, _run + "-reports", i, 200));
        }

        for (int i = 0; i < 8; i++)
        {
            sent.Add(await Pooled.TimedTask.DelayAsync(_client, _run + "-default", i, 200));
        }

        await Task.WhenAll(sent.Select(h => h.GetAsync(Bound)));
        IReadOnlyList<string> reports = await _ledger.ReadAsync(_run + "-reports");
        IReadOnlyList<string> defaults = await _ledger.ReadAsync(_run + "-default");
        TaskResult report = await sent[0].GetResultAsync();
        TaskResult timed = await sent[^1].GetResultAsync();
        output.WriteLine($"reports peak {Pooled.PeakConcurrency(reports)} [{string.Join(", ", reports)}]");
        output.WriteLine($"default peak {Pooled.PeakConcurrency(defaults)} [{string.Join(", ", defaults)}]");
        output.WriteLine($"run by: {report.Worker} (report), {timed.Worker} (default)");

        Assert.Equal(8, reports.Count);
        Assert.Equal(1, Pooled.PeakConcurrency(reports));
        Assert.InRange(Pooled.PeakConcurrency(defaults), 2, 8);
        Assert.Equal("pools/reports", report.Worker);
        Assert.Equal("pools", timed.Worker);
    }

    [Fact]
    public async Task A_saturated_pool_does_not_delay_the_default_pools_tasks()
    {
        var clock = Stopwatch.StartNew();
        long t0 = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var reports = new List<TaskHandle<int>>();
        for (int i = 0; i < 6; i++)
        {
            reports.Add(await Pooled.ReportTask.DelayAsync(_client, _run + "-reports", i, 1000)); // 6 s of backlog at concurrency 1
        }

        await Wait.UntilAsync(async () => (await _ledger.ReadAsync(_run + "-reports")).Count > 0, Bound, "the reports pool to start its first task");
        var latencies = new List<long>();
        for (int i = 0; i < 10; i++)
        {
            var one = Stopwatch.StartNew();
            Assert.Equal(i, await (await Pooled.TimedTask.DelayAsync(_client, _run + "-default", i, 0)).GetAsync(Bound));
            latencies.Add(one.ElapsedMilliseconds);
        }

        long defaultsDoneAt = clock.ElapsedMilliseconds;
        await Task.WhenAll(reports.Select(h => h.GetAsync(Bound)));
        IReadOnlyList<string> reportLedger = await _ledger.ReadAsync(_run + "-reports");
        IReadOnlyList<(string Kind, int N, long AtMs)> reportEntries = Pooled.Parse(reportLedger);
        IReadOnlyList<(string Kind, int N, long AtMs)> defaultEntries = Pooled.Parse(await _ledger.ReadAsync(_run + "-default"));
        long lastDefaultDone = defaultEntries.Where(e => e.Kind == "done").Max(e => e.AtMs);
        long[] reportsDone = [.. reportEntries.Where(e => e.Kind == "done").Select(e => e.AtMs).Order()];
        output.WriteLine($"10 sequential default round trips (ms): {string.Join(", ", latencies)}; done at {defaultsDoneAt} ms");
        output.WriteLine($"reports done at (ms after the first send): {string.Join(", ", reportsDone.Select(t => t - t0))}; last default done at {lastDefaultDone - t0} ms");

        // The default pool's tasks went by while the reports pool worked through its backlog, not after it.
        Assert.Equal(6, reportsDone.Length);
        Assert.True(lastDefaultDone < reportsDone[^1], $"the last default task ended at {lastDefaultDone - t0} ms, after the reports backlog ({reportsDone[^1] - t0} ms): it waited behind the saturated pool");
        Assert.Equal(1, Pooled.PeakConcurrency(reportLedger));
    }

    [Fact]
    public async Task Each_pool_is_listed_in_the_worker_registry_under_its_own_name()
    {
        CeleriacClient client = (CeleriacClient)_client;
        IReadOnlyList<WorkerInfo> workers = [];
        await Wait.UntilAsync(async () => (workers = await client.Workers.ListAsync()).Count >= 4, Bound, "the worker and its three pools to be registered");
        foreach (WorkerInfo worker in workers.OrderBy(w => w.Id, StringComparer.Ordinal))
        {
            output.WriteLine($"{worker.Id}: queues {string.Join(",", worker.Queues)}, concurrency {worker.Concurrency}, prefetch {worker.Prefetch}, pid {worker.ProcessId}");
        }

        Assert.Equal(["pools", "pools/crunch", "pools/io", "pools/reports"], workers.Select(w => w.Id).Order(StringComparer.Ordinal));
        WorkerInfo reports = workers.Single(w => w.Id == "pools/reports");
        Assert.Equal(["reports"], reports.Queues);
        Assert.Equal(1, reports.Concurrency);
        WorkerInfo main = workers.Single(w => w.Id == "pools");
        Assert.Equal(["default"], main.Queues);
        Assert.Equal(8, main.Concurrency);
        Assert.Single(workers.Select(w => w.ProcessId).Distinct());
    }

    [Fact]
    public async Task A_pools_execution_decides_where_all_its_tasks_run()
    {
        // A thread-pool task in the Cpu pool runs on its CPU thread; a Cpu task in the thread-pool pool on the thread pool.
        TaskHandle<string>[] onCpu = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => Cpu.SpinOnPoolTask.ApplyAsync(_client, 5, new TaskOptions { Queue = "crunch" }).AsTask()));
        string[] cpuThreads = await Task.WhenAll(onCpu.Select(h => h.GetAsync(Bound)));
        Assert.Equal(0, Cpu.OnPool);
        TaskHandle<string> onPool = await Cpu.SpinTask.ApplyAsync(_client, 5, new TaskOptions { Queue = "io" });
        string poolThread = await onPool.GetAsync(Bound);
        output.WriteLine($"crunch pool: {string.Join(", ", cpuThreads)}; io pool: {poolThread} (on the thread pool {Cpu.OnPool} time(s))");

        Assert.All(cpuThreads, t => Assert.Equal("celeriac-cpu-crunch-0", t)); // the crunch pool has one CPU thread of its own
        Assert.Equal(1, Cpu.OnPool);
        Assert.False(poolThread.StartsWith("celeriac-cpu-", StringComparison.Ordinal), poolThread);
    }
}
