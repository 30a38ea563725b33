using Celeriac.IntegrationTests.Deployments;
using System.Diagnostics;
using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.TestTasks;
using StackExchange.Redis;

namespace Celeriac.IntegrationTests;

/// <summary>At-least-once with real processes: a worker killed with SIGKILL mid-task loses nothing.</summary>
[Collection(DeploymentFaultsCollection.Name)] // kills or starts processes: never beside other such tests
public sealed class WorkerKillTests(ITestOutputHelper output) : ProcessTestBase
{
    private const int VisibilityMs = 2000;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    [Fact]
    public async Task A_task_whose_worker_is_killed_is_redelivered_and_completes_once()
    {
        ConnectionMultiplexer redis = await RedisFixture.GetAsync();
        var ledger = new RedisLedger(redis);
        string prefix = RedisFixture.NewPrefix();
        string run = prefix + "-sleep";
        output.WriteLine($"redis {RedisFixture.Configuration}, prefix {prefix}, visibility {VisibilityMs} ms, worker {WorkerProcess.WorkerDll}");

        WorkerProcess first = await StartWorkerAsync("worker-A", prefix);
        Client = await CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = RedisFixture.Configuration, KeyPrefix = prefix });
        TaskHandle<int> handle = await Work.SleepTask.DelayAsync(Client, run, 1, 3000);
        output.WriteLine($"sent Work.Sleep(3000 ms) as {handle.Id}");

        await Wait.UntilAsync(async () => (await ledger.ReadAsync(run)).Contains("start:1"), Bound, "worker-A to start the task (ledger 'start:1')");
        TaskState beforeKill = await handle.GetStateAsync();
        var sinceKill = Stopwatch.StartNew();
        await first.KillAsync();
        output.WriteLine($"SIGKILLed worker-A (pid {first.Id}) while the task was {beforeKill}");

        WorkerProcess second = await StartWorkerAsync("worker-B", prefix);
        long secondReadyMs = sinceKill.ElapsedMilliseconds;
        _ = await Wait.UntilAsync(
            async () => (await ledger.ReadAsync(run)).Count(e => e == "start:1") >= 2, Bound, "the task to be redelivered to worker-B (a second 'start:1')");
        long redeliveredMs = sinceKill.ElapsedMilliseconds;
        output.WriteLine($"redelivery time: the task started again {redeliveredMs} ms after the kill (visibility timeout {VisibilityMs} ms; worker-B was ready {secondReadyMs} ms after the kill)");

        int value = await handle.GetAsync(Bound);
        TaskResult record = await handle.GetResultAsync();
        IReadOnlyList<string> entries = await ledger.ReadAsync(run);
        output.WriteLine($"result {record.State} value {value} by {record.Worker} {sinceKill.ElapsedMilliseconds} ms after the kill; ledger [{string.Join(", ", entries)}]");

        Assert.Equal(TaskState.Started, beforeKill);
        Assert.Equal(1, value);
        Assert.Equal(TaskState.Success, record.State);
        Assert.Equal(2, entries.Count(e => e == "start:1"));
        Assert.Equal(1, entries.Count(e => e == "done:1"));
        Assert.False(second.HasExited, "worker-B must still be running");
        Assert.True(redeliveredMs < secondReadyMs + VisibilityMs + 5000, $"redelivery took {redeliveredMs} ms after the kill, far beyond the {VisibilityMs} ms visibility timeout");
    }

    private async Task<WorkerProcess> StartWorkerAsync(string name, string prefix)
    {
        WorkerProcess worker = await WorkerProcess.StartAsync(output, name, RedisFixture.Configuration, prefix, "slow,default", concurrency: 2, VisibilityMs);
        Workers.Add(worker);
        return worker;
    }
}
