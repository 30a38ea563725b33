using System.Collections.Concurrent;
using Celeriac.Control;
using Celeriac.IntegrationTests.Deployments;
using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.TestTasks;
using StackExchange.Redis;

namespace Celeriac.IntegrationTests.EndToEnd;

/// <summary>
/// No hoarding (Celery's prefetch starvation): real worker processes against redis-server, long tasks and short ones on
/// one queue. A worker holds no more than its free run slots plus its configured prefetch margin, so short tasks stay in
/// the queue for whichever worker has a free slot instead of waiting behind a busy worker's long task. What each worker
/// holds is read by inspect stats (running + reserved) every 100 ms; what ran where and in which order from a ledger in
/// Redis (<c>start:n@pid</c>, <c>done:n@pid</c>, in the order they happened).
/// </summary>
/// <remarks>
/// The third worker "joins" by starting to consume the queue (an add-consumer command) rather than by starting its
/// process then: its moment of joining is then exact, and does not depend on how long a process takes to start on a
/// loaded machine.
/// </remarks>
[Collection(DeploymentFaultsCollection.Name)] // starts processes: never beside other such tests
public sealed class NoHoardingProcessTests(ITestOutputHelper output) : ProcessTestBase
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Busy_workers_hold_no_short_task_behind_their_long_ones_and_a_joining_worker_runs_them_all()
    {
        const int Long = 4;
        const int Short = 20;
        ConnectionMultiplexer redis = await RedisFixture.GetAsync();
        var ledger = new RedisLedger(redis);
        string prefix = RedisFixture.NewPrefix();
        string run = prefix + "-hoard";
        WorkerProcess a = await StartAsync("worker-a", prefix, "slow", concurrency: 2);
        WorkerProcess b = await StartAsync("worker-b", prefix, "slow", concurrency: 2);
        WorkerProcess c = await StartAsync("worker-c", prefix, "default", concurrency: 2); // joins the queue later
        Client = await CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = RedisFixture.Configuration, KeyPrefix = prefix });
        IReadOnlyList<WorkerInfo> workers = [];
        await Wait.UntilAsync(async () => (workers = await Client.Workers.ListAsync()).Count == 3, Bound, "the three workers to register");
        string idC = workers.Single(w => w.ProcessId == c.Id).Id;

        // Four long tasks fill the four slots of A and B.
        TaskHandle<int>[] longOnes = await Work.SleepOnTask.DelayManyAsync(Client, [.. Enumerable.Range(1, Long).Select(n => (run, n, 6000))]);
        await Wait.UntilAsync(async () => (await ledger.ReadAsync(run)).Count(e => e.StartsWith("start:", StringComparison.Ordinal)) == Long, Bound, "the long tasks to start");
        TaskHandle<int>[] shortOnes = await Work.SleepOnTask.DelayManyAsync(Client, [.. Enumerable.Range(101, Short).Select(n => (run, n, 10))]);

        using var stopSampling = new CancellationTokenSource();
        var samples = new ConcurrentQueue<(string Worker, int Concurrency, int Prefetch, int Active, int Reserved)>();
        Task sampler = SampleAsync(samples, stopSampling.Token);

        // While A and B are busy, the short tasks stay in the queue: neither holds one behind its long task.
        await Wait.UntilAsync(() => Task.FromResult(samples.Count >= 6), Bound, "a few samples of what the workers hold");
        long queued = await Client.GetQueueLengthAsync("slow");
        output.WriteLine($"before the join: {queued} tasks in the queue; held: {Describe(samples)}");
        Assert.Equal(Short, queued);

        var joined = System.Diagnostics.Stopwatch.StartNew();
        ControlReplies<string> join = await Client.Control.AddConsumerAsync("slow", idC, TimeSpan.FromSeconds(5));
        Assert.True(Assert.Single(join.Replies).Succeeded);
        await Wait.UntilAsync(async () => (await ledger.ReadAsync(run)).Any(e => e.StartsWith("start:", StringComparison.Ordinal) && Number(e) > 100 && e.EndsWith("@" + c.Id, StringComparison.Ordinal)), Bound, "the joined worker to start a short task");
        output.WriteLine($"the joined worker started its first short task {joined.ElapsedMilliseconds} ms after the add-consumer command (its fetch wait is 500 ms)");

        int[] results = await Task.WhenAll(longOnes.Concat(shortOnes).Select(h => h.GetAsync(Bound))); // GetAsync throws unless SUCCESS
        await stopSampling.CancelAsync();
        await sampler;
        Assert.Equal(Enumerable.Range(1, Long).Concat(Enumerable.Range(101, Short)), results);

        IReadOnlyList<string> entries = await ledger.ReadAsync(run);
        output.WriteLine($"ledger [{string.Join(" ", entries)}]");
        output.WriteLine($"held (worker: running+reserved): {Describe(samples)}");

        // No worker ever held more than its slots (prefetch 0: no margin): running + reserved ≤ concurrency.
        Assert.True(samples.Count >= 6);
        Assert.All(samples, s => Assert.True(s.Active + s.Reserved <= s.Concurrency, $"{s.Worker} held {s.Active} running + {s.Reserved} reserved with concurrency {s.Concurrency}"));

        // Every short task ran once, on the joined worker (the only one with free slots), and all ended before any long one.
        int firstLongDone = entries.Select((e, i) => (e, i)).Where(x => x.e.StartsWith("done:", StringComparison.Ordinal) && Number(x.e) <= Long).Min(x => x.i);
        foreach (int n in Enumerable.Range(101, Short))
        {
            Assert.Equal([$"start:{n}@{c.Id}"], entries.Where(e => e.StartsWith($"start:{n}@", StringComparison.Ordinal)));
            int done = entries.ToList().IndexOf($"done:{n}@{c.Id}");
            Assert.True(done >= 0 && done < firstLongDone, $"short task {n} ended before the first long task did");
        }

        foreach (int n in Enumerable.Range(1, Long))
        {
            string ranOn = Assert.Single(entries, e => e.StartsWith($"start:{n}@", StringComparison.Ordinal));
            Assert.True(ranOn.EndsWith("@" + a.Id, StringComparison.Ordinal) || ranOn.EndsWith("@" + b.Id, StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task With_prefetch_above_the_concurrency_a_worker_holds_exactly_that_many_and_the_rest_stay_queued_for_another()
    {
        const int Long = 2;
        const int Short = 10;
        ConnectionMultiplexer redis = await RedisFixture.GetAsync();
        var ledger = new RedisLedger(redis);
        string prefix = RedisFixture.NewPrefix();
        string run = prefix + "-prefetch";
        WorkerProcess a = await StartAsync("worker-a", prefix, "slow", concurrency: 2, "--prefetch", "4");
        WorkerProcess b = await StartAsync("worker-b", prefix, "default", concurrency: 2); // joins the queue later
        Client = await CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = RedisFixture.Configuration, KeyPrefix = prefix });
        IReadOnlyList<WorkerInfo> workers = [];
        await Wait.UntilAsync(async () => (workers = await Client.Workers.ListAsync()).Count == 2, Bound, "the two workers to register");
        string idA = workers.Single(w => w.ProcessId == a.Id).Id;
        string idB = workers.Single(w => w.ProcessId == b.Id).Id;

        TaskHandle<int>[] handles = await Work.SleepOnTask.DelayManyAsync(Client, [.. Enumerable.Range(1, Long).Select(n => (run, n, 4000)), .. Enumerable.Range(101, Short).Select(n => (run, n, 10))]);
        using var stopSampling = new CancellationTokenSource();
        var samples = new ConcurrentQueue<(string Worker, int Concurrency, int Prefetch, int Active, int Reserved)>();
        Task sampler = SampleAsync(samples, stopSampling.Token);

        // A runs its two long tasks and holds two short ones behind them (prefetch 4 = 2 slots + 2): what the option says.
        await Wait.UntilAsync(() => Task.FromResult(samples.Any(s => s.Worker == idA && s.Active == 2 && s.Reserved == 2)), Bound, "worker A to hold 2 running and 2 reserved");
        long queued = await Client.GetQueueLengthAsync("slow");
        output.WriteLine($"A holds 4 (prefetch 4, concurrency 2); {queued} stay in the queue");
        Assert.Equal(Long + Short - 4, queued);

        ControlReplies<string> join = await Client.Control.AddConsumerAsync("slow", idB, TimeSpan.FromSeconds(5));
        Assert.True(Assert.Single(join.Replies).Succeeded);
        int[] results = await Task.WhenAll(handles.Select(h => h.GetAsync(Bound))); // GetAsync throws unless SUCCESS
        await stopSampling.CancelAsync();
        await sampler;
        Assert.Equal(Enumerable.Range(1, Long).Concat(Enumerable.Range(101, Short)), results);

        IReadOnlyList<string> entries = await ledger.ReadAsync(run);
        output.WriteLine($"ledger [{string.Join(" ", entries)}]");
        output.WriteLine($"held (worker: running+reserved): {Describe(samples)}");
        Assert.All(samples.Where(s => s.Worker == idA), s => Assert.True(s.Active + s.Reserved <= 4, $"A held {s.Active} running + {s.Reserved} reserved with prefetch 4"));
        Assert.All(samples.Where(s => s.Worker == idB), s => Assert.True(s.Active + s.Reserved <= 2, $"B held {s.Active} running + {s.Reserved} reserved with prefetch 0"));

        // The two short tasks A reserved waited for its long ones (the price of the margin); B ran the other eight.
        string[] shortOnA = [.. entries.Where(e => e.StartsWith("start:", StringComparison.Ordinal) && Number(e) > 100 && e.EndsWith("@" + a.Id, StringComparison.Ordinal))];
        string[] shortOnB = [.. entries.Where(e => e.StartsWith("start:", StringComparison.Ordinal) && Number(e) > 100 && e.EndsWith("@" + b.Id, StringComparison.Ordinal))];
        Assert.Equal(2, shortOnA.Length);
        Assert.Equal(Short - 2, shortOnB.Length);
        int firstLongDone = entries.Select((e, i) => (e, i)).Where(x => x.e.StartsWith("done:", StringComparison.Ordinal) && Number(x.e) <= Long).Min(x => x.i);
        Assert.All(shortOnA, s => Assert.True(entries.ToList().IndexOf(s) > firstLongDone, $"{s} started only after a long task on A ended"));
    }

    private async Task<WorkerProcess> StartAsync(string name, string prefix, string queues, int concurrency, params string[] extra)
    {
        WorkerProcess worker = await WorkerProcess.StartAsync(output, name, RedisFixture.Configuration, prefix, queues, concurrency, visibilityMs: 3000, ["--registry-ms", "200", "--track-started", "false", "--scheduler", "off", .. extra]);
        Workers.Add(worker);
        return worker;
    }

    /// <summary>Asks every worker for its stats every 100 ms until <paramref name="stop"/>.</summary>
    private async Task SampleAsync(ConcurrentQueue<(string, int, int, int, int)> samples, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            foreach (WorkerReply<WorkerStats> reply in (await Client!.Inspect.StatsAsync(timeout: TimeSpan.FromSeconds(2), cancellationToken: CancellationToken.None)).Replies)
            {
                if (reply.Value is { } stats)
                {
                    samples.Enqueue((reply.Worker, stats.Concurrency, stats.Prefetch, stats.Active, stats.Reserved));
                }
            }

            try
            {
                await Task.Delay(100, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private static string Describe(IEnumerable<(string Worker, int Concurrency, int Prefetch, int Active, int Reserved)> samples)
        => string.Join("; ", samples.GroupBy(s => s.Worker).Select(g => $"{g.Key}: most held {g.Max(s => s.Active + s.Reserved)} (concurrency {g.First().Concurrency}, prefetch {g.First().Prefetch}, {g.Count()} samples)"));

    private static int Number(string entry) => int.Parse(entry[(entry.IndexOf(':', StringComparison.Ordinal) + 1)..entry.IndexOf('@', StringComparison.Ordinal)], System.Globalization.CultureInfo.InvariantCulture);
}
