using System.Diagnostics;
using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.TestTasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Celeriac.IntegrationTests.EndToEnd;

/// <summary>
/// <see cref="TaskExecution.Cpu"/>: CPU-bound tasks run on the worker's dedicated threads, at most <c>CpuThreads</c> at
/// once whatever the concurrency, so that I/O tasks beside them keep running. One worker, concurrency 32, two CPU threads.
/// </summary>
[Collection(nameof(CpuExecutionTests))] // Cpu's counters are process-wide: these tests do not run beside each other
public sealed class CpuExecutionTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int CpuThreads = 2;
    private readonly List<IHost> _hosts = [];
    private ITaskClient _client = null!;

    public async Task InitializeAsync()
    {
        Cpu.Reset();
        IHost host = await TestHost.StartAsync(output, "cpu", RedisFixture.Configuration, RedisFixture.NewPrefix(), new MemoryLedger(),
            celeriac: o => o.VisibilityTimeout = TimeSpan.FromSeconds(2),
            worker: w =>
            {
                w.Queues = ["default"];
                w.Concurrency = 32;
                w.CpuThreads = CpuThreads;
            });
        _hosts.Add(host);
        _client = host.Services.GetRequiredService<ITaskClient>();
    }

    public Task DisposeAsync() => TestHost.StopAllAsync(_hosts);

    [Fact]
    public async Task Cpu_tasks_run_on_the_dedicated_threads_at_most_CpuThreads_at_once_while_io_tasks_go_by()
    {
        var clock = Stopwatch.StartNew();
        TaskHandle<string>[] spins = await Cpu.SpinTask.DelayManyAsync(_client, [.. Enumerable.Range(0, 60).Select(_ => 50)]);

        // I/O tasks sent after 60 spins of 50 ms (1.5 s of wall time for two threads, however loaded the machine: a spin
        // runs until 50 ms of wall time have passed) finish while spins are still queued.
        await Task.Delay(100);
        var ioLatencies = new List<long>();
        for (int i = 0; i < 10; i++)
        {
            var one = Stopwatch.StartNew();
            Assert.Equal(5, await (await Calc.HoldTask.DelayAsync(_client, 5)).GetAsync(TimeSpan.FromSeconds(20)));
            ioLatencies.Add(one.ElapsedMilliseconds);
        }

        long ioDoneAt = clock.ElapsedMilliseconds;
        string[] threads = await Task.WhenAll(spins.Select(h => h.GetAsync(TimeSpan.FromSeconds(60))));
        long spinsDoneAt = clock.ElapsedMilliseconds;
        output.WriteLine($"I/O round trips (ms): {string.Join(", ", ioLatencies)}; done at {ioDoneAt} ms; 60 spins done at {spinsDoneAt} ms; "
            + $"peak concurrent spins {Cpu.Peak}; threads: {string.Join(", ", threads.Distinct().Order(StringComparer.Ordinal))}");

        Assert.All(threads, t => Assert.StartsWith("celeriac-cpu-", t, StringComparison.Ordinal));
        Assert.Equal(0, Cpu.OnPool);
        Assert.InRange(Cpu.Peak, 1, CpuThreads);
        Assert.True(ioDoneAt < spinsDoneAt, $"the I/O tasks finished at {ioDoneAt} ms, after the spins ({spinsDoneAt} ms): they waited behind them");
    }

    [Fact]
    public async Task A_cpu_task_that_throws_fails_with_its_exception_and_the_threads_keep_serving()
    {
        TaskHandle<string> bad = await Cpu.SpinTask.DelayAsync(_client, -1);
        TaskFailedException failed = await Assert.ThrowsAsync<TaskFailedException>(() => bad.GetAsync(TimeSpan.FromSeconds(20)));
        output.WriteLine($"failed: {failed.RemoteType}: {failed.RemoteMessage}");
        Assert.Equal(typeof(ArgumentOutOfRangeException).FullName, failed.RemoteType);

        TaskHandle<string>[] after = await Cpu.SpinTask.DelayManyAsync(_client, [.. Enumerable.Range(0, 2 * CpuThreads).Select(_ => 1)]);
        string[] names = await Task.WhenAll(after.Select(h => h.GetAsync(TimeSpan.FromSeconds(20))));
        Assert.All(names, n => Assert.StartsWith("celeriac-cpu-", n, StringComparison.Ordinal));
    }
}
