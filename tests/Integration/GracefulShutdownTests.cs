using Celeriac.IntegrationTests.Deployments;
using System.Diagnostics;
using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.TestTasks;
using StackExchange.Redis;

namespace Celeriac.IntegrationTests;

/// <summary>SIGTERM to a real worker process: it stops fetching, finishes the running task, and exits.</summary>
[Collection(DeploymentFaultsCollection.Name)] // kills or starts processes: never beside other such tests
public sealed class GracefulShutdownTests(ITestOutputHelper output) : ProcessTestBase
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    [Fact]
    public async Task SIGTERM_lets_the_running_task_finish_and_the_process_exits()
    {
        ConnectionMultiplexer redis = await RedisFixture.GetAsync();
        var ledger = new RedisLedger(redis);
        string prefix = RedisFixture.NewPrefix();
        string run = prefix + "-term";
        WorkerProcess worker = await WorkerProcess.StartAsync(output, "worker", RedisFixture.Configuration, prefix, "slow", concurrency: 1, visibilityMs: 2000);
        Workers.Add(worker);
        Client = await CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = RedisFixture.Configuration, KeyPrefix = prefix });
        TaskHandle<int> running = await Work.SleepTask.DelayAsync(Client, run, 1, 1500);
        await Wait.UntilAsync(async () => (await ledger.ReadAsync(run)).Contains("start:1"), Bound, "the worker to start the task");
        TaskHandle<int> queued = await Work.SleepTask.DelayAsync(Client, run, 2, 10);

        var clock = Stopwatch.StartNew();
        using (Process kill = Process.Start("kill", ["-TERM", worker.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }

        await Wait.UntilAsync(() => Task.FromResult(worker.HasExited), Bound, "the worker process to exit after SIGTERM");
        long exitedMs = clock.ElapsedMilliseconds;
        TaskResult first = await running.GetResultAsync();
        TaskResult second = await queued.GetResultAsync();
        IReadOnlyList<string> entries = await ledger.ReadAsync(run);
        long waiting = await Client.GetQueueLengthAsync("slow");
        output.WriteLine($"exited {exitedMs} ms after SIGTERM; running task {first.State}, queued task {second.State}; 'slow' queue length {waiting}; ledger [{string.Join(", ", entries)}]; last lines: {string.Join(" | ", worker.Lines.TakeLast(3))}");

        Assert.Equal(TaskState.Success, first.State);
        Assert.Contains("done:1", entries);
        Assert.Contains(worker.Lines, l => l.StartsWith("STOPPED", StringComparison.Ordinal));

        // The second task was either run before the stop or handed back to the queue; never lost or left leased.
        Assert.True(second.State == TaskState.Success || waiting == 1, $"the queued task is {second.State} and the queue holds {waiting}: it was neither run nor handed back");
    }

    [Fact]
    public async Task A_worker_stopped_while_Redis_is_down_exits_0_and_logs_no_failure()
    {
        var server = await RedisServer.StartAsync(output, aof: false);
        try
        {
            string prefix = RedisFixture.NewPrefix();
            WorkerProcess worker = await WorkerProcess.StartAsync(output, "worker", server.Configuration, prefix, "default", concurrency: 2, visibilityMs: 2000);
            Workers.Add(worker);
            await Task.Delay(1000); // running: fetching, subscribed, renewing
            server.Dispose(); // SIGKILL: Redis is gone for the rest of the test
            await Wait.UntilAsync(() => Task.FromResult(worker.Lines.Any(l => l.Contains("Redis connection failed", StringComparison.Ordinal))), Bound, "the worker to see the outage");
            await Task.Delay(1000); // its calls now wait for a connection (up to the 5 s timeout) or fail: stop it meanwhile

            await worker.SignalAsync("TERM");
            await worker.WaitForExitAsync(Bound);
            string[] alarming = [.. worker.Lines.Where(l => l.StartsWith("fail:", StringComparison.Ordinal) || l.StartsWith("crit:", StringComparison.Ordinal))];
            output.WriteLine($"exit code {worker.ExitCode}; fail/crit lines: {alarming.Length}");
            Assert.Empty(alarming);
            Assert.Equal(0, worker.ExitCode);
            Assert.Contains(worker.Lines, l => l.StartsWith("STOPPED", StringComparison.Ordinal));
        }
        finally
        {
            server.Dispose();
        }
    }

    [Fact]
    public async Task An_idle_worker_stopped_with_SIGTERM_logs_no_warning_or_error()
    {
        const int Stops = 6;
        string prefix = RedisFixture.NewPrefix();
        _ = await RedisFixture.GetAsync();
        var alarming = new List<string>();
        for (int i = 0; i < Stops; i++)
        {
            using WorkerProcess worker = await WorkerProcess.StartAsync(output, $"idle-{i}", RedisFixture.Configuration, prefix, i % 2 == 0 ? "default" : "default,slow", concurrency: 2, visibilityMs: 2000);
            await Task.Delay(300 + (i * 150)); // blocked in its fetch wait (500 ms) at various points when the signal comes
            await worker.SignalAsync("TERM");
            await worker.WaitForExitAsync(Bound);
            alarming.AddRange(worker.Lines.Where(l => l.StartsWith("warn:", StringComparison.Ordinal) || l.StartsWith("fail:", StringComparison.Ordinal) || l.StartsWith("crit:", StringComparison.Ordinal) || l.Contains("Exception", StringComparison.Ordinal)));
        }

        output.WriteLine($"{Stops} stops of an idle worker; warning or error lines: {alarming.Count}");
        Assert.Empty(alarming);
    }
}
