using Celeriac.Control;
using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.TestTasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Celeriac.IntegrationTests.EndToEnd;

/// <summary>
/// <see cref="WorkerOptions.Solo"/> against redis-server: with <c>Concurrency</c> 32 set, a solo worker runs one task at a
/// time, and runs <see cref="TaskExecution.Cpu"/> tasks inline on its consumer (a thread-pool thread), not on the
/// dedicated CPU threads a worker of the same settings without solo uses (<see cref="CpuExecutionTests"/>).
/// </summary>
[Collection(nameof(CpuExecutionTests))] // Cpu's counters are process-wide: these tests do not run beside each other
public sealed class SoloTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private readonly MemoryLedger _ledger = new();
    private readonly List<IHost> _hosts = [];
    private ITaskClient _client = null!;

    public async Task InitializeAsync()
    {
        Cpu.Reset();
        IHost host = await TestHost.StartAsync(output, "solo", RedisFixture.Configuration, RedisFixture.NewPrefix(), _ledger,
            worker: w =>
            {
                w.Concurrency = 32; // not used: solo runs one at a time
                w.CpuThreads = 2;
                w.Solo = true;
            });
        _hosts.Add(host);
        _client = host.Services.GetRequiredService<ITaskClient>();
    }

    public Task DisposeAsync() => TestHost.StopAllAsync(_hosts);

    [Fact]
    public async Task A_solo_worker_runs_one_task_at_a_time_and_cpu_tasks_inline_on_its_consumer()
    {
        string run = Guid.NewGuid().ToString("N");
        TaskHandle<int>[] sleeps = await Work.SleepTask.DelayManyAsync(_client, [.. Enumerable.Range(1, 6).Select(n => (run, n, 50))]);
        TaskHandle<string>[] spins = await Cpu.SpinTask.DelayManyAsync(_client, [.. Enumerable.Range(0, 6).Select(_ => 20)]);
        await Task.WhenAll(sleeps.Select(h => h.GetAsync(Bound)));
        string[] threads = await Task.WhenAll(spins.Select(h => h.GetAsync(Bound)));
        IReadOnlyList<string> entries = await _ledger.ReadAsync(run);
        output.WriteLine($"ledger [{string.Join(" ", entries)}]; spins ran on [{string.Join(", ", threads)}], {Cpu.OnPool} on pool threads, peak {Cpu.Peak}");

        Assert.Equal(1, MaxOverlap(entries)); // one at a time, though Concurrency is 32
        Assert.All(threads, t => Assert.DoesNotContain("celeriac-cpu-", t, StringComparison.Ordinal));
        Assert.Equal(6, Cpu.OnPool); // on the consumer's (thread-pool) thread, inline
        Assert.Equal(1, Cpu.Peak);

        var client = (CeleriacClient)_client;
        WorkerStats stats = Assert.Single((await client.Inspect.StatsAsync("solo", Bound)).Replies).Value!;
        Assert.Equal((1, 1), (stats.Concurrency, stats.Prefetch));
        WorkerReply<int> grow = Assert.Single((await client.Control.GrowAsync(4, "solo", Bound)).Replies);
        output.WriteLine($"grow refused: {grow.Error}");
        Assert.False(grow.Succeeded);
    }

    /// <summary>The most runs in progress at once, from a ledger of start:n and done:n entries in the order they happened.</summary>
    private static int MaxOverlap(IReadOnlyList<string> entries)
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
