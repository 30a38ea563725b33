using Celeriac.Control;
using Celeriac.IntegrationTests.Deployments;
using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.TestTasks;
using StackExchange.Redis;

namespace Celeriac.IntegrationTests.EndToEnd;

/// <summary>
/// Autoscale (<see cref="WorkerOptions.Autoscale"/>) in a real worker process against redis-server: a backlog grows the
/// concurrency from its minimum toward its maximum, the backlog drains with every task run once, and the idle worker
/// shrinks back to its minimum; a shrink that comes while long tasks run interrupts none of them. The concurrency is
/// read from the worker registry and inspect stats, what ran from a ledger in Redis (<c>start:n@pid</c>, <c>done:n@pid</c>).
/// </summary>
[Collection(DeploymentFaultsCollection.Name)] // starts processes: never beside other such tests
public sealed class AutoscaleProcessTests(ITestOutputHelper output) : ProcessTestBase
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_backlog_grows_the_concurrency_toward_the_maximum_and_the_idle_worker_shrinks_back_to_the_minimum_losing_nothing()
    {
        const int Tasks = 200;
        ConnectionMultiplexer redis = await RedisFixture.GetAsync();
        var ledger = new RedisLedger(redis);
        string prefix = RedisFixture.NewPrefix();
        string run = prefix + "-backlog";
        // Min 2, max 16, a look every 200 ms, shrink after 1.5 s of unused slots.
        WorkerProcess worker = await WorkerProcess.StartAsync(output, "autoscaled", RedisFixture.Configuration, prefix, "slow", concurrency: 64, visibilityMs: 5000, "--autoscale", "2,16,200,1500", "--registry-ms", "200", "--track-started", "false");
        Workers.Add(worker);
        Client = await CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = RedisFixture.Configuration, KeyPrefix = prefix });
        WorkerInfo? info = null;
        await Wait.UntilAsync(async () => (info = (await Client.Workers.ListAsync()).SingleOrDefault()) is not null, Bound, "the worker to register");
        Assert.Equal(2, info!.Concurrency); // it starts at the minimum (Concurrency 64 is not used)
        string id = info.Id;

        TaskHandle<int>[] handles = await Work.SleepOnTask.DelayManyAsync(Client, [.. Enumerable.Range(0, Tasks).Select(n => (run, n, 200))]);
        var seen = new List<(TimeSpan At, int Concurrency, int Active)>();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Task<int[]> all = Task.WhenAll(handles.Select(h => h.GetAsync(Bound))); // GetAsync throws unless SUCCESS
        while (!all.IsCompleted)
        {
            Assert.True(clock.Elapsed < Bound, "the backlog did not drain within the bound");
            WorkerStats? stats = (await Client.Inspect.StatsAsync(id, TimeSpan.FromSeconds(5))).Of(id)?.Value;
            if (stats is not null)
            {
                seen.Add((clock.Elapsed, stats.Concurrency, stats.Active));
            }

            await Task.Delay(100);
        }

        int[] results = await all;
        TimeSpan drained = clock.Elapsed;
        output.WriteLine($"drained {Tasks} tasks of 200 ms in {drained.TotalMilliseconds:0} ms; concurrency (active) by stats: {string.Join(" ", seen.Select(s => $"{s.At.TotalMilliseconds:0}ms:{s.Concurrency}({s.Active})"))}");
        Assert.Equal(Enumerable.Range(0, Tasks), results);
        int peak = seen.Max(s => s.Concurrency);
        Assert.True(peak > 2, $"the concurrency grew from its minimum 2 (peak {peak})");
        Assert.True(seen.All(s => s.Concurrency is >= 2 and <= 16), "the concurrency stayed between the minimum and the maximum");
        Assert.True(seen.Max(s => s.Active) > 2, "more than the minimum ran at once");

        // Every task ran once: one start and one done each, none lost, none twice.
        IReadOnlyList<string> entries = await ledger.ReadAsync(run);
        for (int n = 0; n < Tasks; n++)
        {
            Assert.Equal(1, entries.Count(e => e.StartsWith($"start:{n}@", StringComparison.Ordinal)));
            Assert.Equal(1, entries.Count(e => e.StartsWith($"done:{n}@", StringComparison.Ordinal)));
        }

        Assert.True(MaxOverlap(entries) > 2, $"the ledger shows more than 2 running at once (at most {MaxOverlap(entries)})");

        // Idle now: back to the minimum, step by step.
        TimeSpan back = await Wait.UntilAsync(async () => (await Client.Workers.GetAsync(id))?.Concurrency == 2, Bound, "the idle worker to shrink back to 2", pollMs: 100);
        string[] changes = [.. worker.Lines.Where(l => l.Contains("autoscaled its concurrency", StringComparison.Ordinal))];
        output.WriteLine($"back at 2 after {back.TotalMilliseconds:0} ms idle; the worker logged:\n{string.Join("\n", changes)}");
        Assert.Contains(changes, l => l.Contains("from 2 to 4", StringComparison.Ordinal));
        Assert.Contains(changes, l => l.Contains(" to 2:", StringComparison.Ordinal));
        Assert.Equal(Tasks, entries.Count(e => e.StartsWith("done:", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_shrink_that_comes_while_long_tasks_run_interrupts_none_of_them()
    {
        const int Long = 4;
        const int Short = 30;
        ConnectionMultiplexer redis = await RedisFixture.GetAsync();
        var ledger = new RedisLedger(redis);
        string prefix = RedisFixture.NewPrefix();
        string run = prefix + "-shrink";
        WorkerProcess worker = await WorkerProcess.StartAsync(output, "autoscaled", RedisFixture.Configuration, prefix, "slow", concurrency: 1, visibilityMs: 3000, "--autoscale", "1,8,200,1000", "--registry-ms", "200", "--track-started", "false");
        Workers.Add(worker);
        Client = await CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = RedisFixture.Configuration, KeyPrefix = prefix });
        WorkerInfo? info = null;
        await Wait.UntilAsync(async () => (info = (await Client.Workers.ListAsync()).SingleOrDefault()) is not null, Bound, "the worker to register");
        string id = info!.Id;

        // Four long tasks (8 s) first, then short ones: the backlog grows the worker to 8, the short ones drain on the
        // four slots the long ones leave, and then four slots stay unused while the long ones still run.
        TaskHandle<int>[] handles = await Work.SleepOnTask.DelayManyAsync(Client, [.. Enumerable.Range(1, Long).Select(n => (run, n, 8000)), .. Enumerable.Range(101, Short).Select(n => (run, n, 100))]);
        int peak = 0;
        int? shrunkTo = null;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (shrunkTo is null)
        {
            Assert.True(clock.Elapsed < Bound, "no shrink was seen while the long tasks ran");
            WorkerInfo? now = await Client.Workers.GetAsync(id);
            IReadOnlyList<string> sofar = await ledger.ReadAsync(run);
            bool longDone = sofar.Any(e => e.StartsWith("done:", StringComparison.Ordinal) && int.Parse(e[5..e.IndexOf('@', StringComparison.Ordinal)], System.Globalization.CultureInfo.InvariantCulture) <= Long);
            Assert.False(longDone, $"a long task ended before a shrink was seen (peak {peak}); ledger [{string.Join(" ", sofar)}]");
            if (now is not null)
            {
                peak = Math.Max(peak, now.Concurrency);
                if (peak > now.Concurrency && sofar.Count(e => e.StartsWith("start:", StringComparison.Ordinal)) == Long + Short)
                {
                    shrunkTo = now.Concurrency; // shrunk while the four long tasks run (none of them is done)
                    output.WriteLine($"at {clock.ElapsedMilliseconds} ms: shrunk from {peak} to {now.Concurrency} with {now.Active} running; ledger [{string.Join(" ", sofar)}]");
                }
            }

            await Task.Delay(50);
        }

        int[] results = await Task.WhenAll(handles.Select(h => h.GetAsync(Bound))); // GetAsync throws unless SUCCESS
        Assert.Equal(Enumerable.Range(1, Long).Concat(Enumerable.Range(101, Short)), results); // none interrupted (a cancelled run would fail)
        IReadOnlyList<string> entries = await ledger.ReadAsync(run);
        output.WriteLine($"ledger [{string.Join(" ", entries)}]");
        foreach (int n in Enumerable.Range(1, Long).Concat(Enumerable.Range(101, Short)))
        {
            Assert.Equal(1, entries.Count(e => e.StartsWith($"start:{n}@", StringComparison.Ordinal)));
            Assert.Equal(1, entries.Count(e => e.StartsWith($"done:{n}@", StringComparison.Ordinal)));
        }

        Assert.True(shrunkTo >= Long, $"the shrink went no lower than the {Long} running tasks while they ran (it went to {shrunkTo})");
        await Wait.UntilAsync(async () => (await Client.Workers.GetAsync(id))?.Concurrency == 1, Bound, "the idle worker to shrink back to 1", pollMs: 100);
    }

    /// <summary>The most runs in progress at once, from a ledger of start and done entries in the order they happened.</summary>
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
