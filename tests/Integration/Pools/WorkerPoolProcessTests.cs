using Celeriac.IntegrationTests.Deployments;
using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.TestTasks;
using StackExchange.Redis;

namespace Celeriac.IntegrationTests.Pools;

/// <summary>
/// A real worker process with a pool set from its configuration (environment variables): each pool runs and holds as
/// configured, and SIGTERM stops both pools and hands back every task either held.
/// </summary>
[Collection(DeploymentFaultsCollection.Name)] // starts and stops processes: never beside other such tests
public sealed class WorkerPoolProcessTests(ITestOutputHelper output) : ProcessTestBase
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task SIGTERM_hands_back_the_tasks_both_pools_held_and_another_worker_runs_them()
    {
        ConnectionMultiplexer redis = await RedisFixture.GetAsync();
        var ledger = new RedisLedger(redis);
        string prefix = RedisFixture.NewPrefix();
        string run = prefix + "-pools";
        // default: 2 running, 4 held; reports (from configuration): 1 running, 3 held. A stop gives running tasks 500 ms.
        WorkerProcess worker = await WorkerProcess.StartAsync(output, "pooled", RedisFixture.Configuration, prefix, "default", concurrency: 2, visibilityMs: 2000,
            "--prefetch", "4", "--shutdown-ms", "500",
            "env:Celeriac__Worker__Pools__reports__Concurrency=1", "env:Celeriac__Worker__Pools__reports__Prefetch=3");
        Workers.Add(worker);
        Client = await CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = RedisFixture.Configuration, KeyPrefix = prefix });

        var sent = new List<TaskHandle<int>>();
        for (int i = 0; i < 3; i++)
        {
            sent.Add(await Pooled.ReportTask.DelayAsync(Client, run, i, 8000));
        }

        for (int i = 10; i < 14; i++)
        {
            sent.Add(await Pooled.TimedTask.DelayAsync(Client, run, i, 8000));
        }

        // Everything is fetched (both queues empty) and three runs started: one report, two default tasks.
        await Wait.UntilAsync(async () => await Client.GetQueueLengthAsync("reports") == 0 && await Client.GetQueueLengthAsync("default") == 0
            && (await ledger.ReadAsync(run)).Count == 3, Bound, "both pools to hold all their tasks and start three");
        await Task.Delay(300); // a fourth start, if a pool ran more than its concurrency, would show by now
        IReadOnlyList<(string Kind, int N, long AtMs)> started = Pooled.Parse(await ledger.ReadAsync(run));
        output.WriteLine($"started before the stop: {string.Join(", ", started.Select(e => e.N))}");
        Assert.Equal(1, started.Count(e => e.N < 10));
        Assert.Equal(2, started.Count(e => e.N >= 10));

        await worker.SignalAsync("TERM");
        await worker.WaitForExitAsync(Bound);
        long reports = await Client.GetQueueLengthAsync("reports");
        long defaults = await Client.GetQueueLengthAsync("default");
        TaskState[] states = await Task.WhenAll(sent.Select(async h => (await h.GetResultAsync()).State));
        output.WriteLine($"after SIGTERM: exit code {worker.ExitCode}; queued: reports {reports}, default {defaults}; states {string.Join(", ", states)}; last lines: {string.Join(" | ", worker.Lines.TakeLast(3))}");
        Assert.Equal(0, worker.ExitCode);
        Assert.Contains(worker.Lines, l => l.StartsWith("STOPPED", StringComparison.Ordinal));
        Assert.Equal(3, reports);
        Assert.Equal(4, defaults);
        Assert.All(states, s => Assert.True(s is TaskState.Pending or TaskState.Started, $"a task handed back is {s}")); // STARTED: the test worker tracks it

        // Nothing was lost: a worker without pools runs all seven.
        WorkerProcess second = await WorkerProcess.StartAsync(output, "second", RedisFixture.Configuration, prefix, "default,reports", concurrency: 8, visibilityMs: 2000);
        Workers.Add(second);
        int[] values = await Task.WhenAll(sent.Select(h => h.GetAsync(Bound)));
        Assert.Equal([0, 1, 2, 10, 11, 12, 13], values);
        Assert.Equal(7, Pooled.Parse(await ledger.ReadAsync(run)).Count(e => e.Kind == "done"));
    }
}
