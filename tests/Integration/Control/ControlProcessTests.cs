using Celeriac.Control;
using Celeriac.IntegrationTests.Deployments;
using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.TestTasks;
using StackExchange.Redis;

namespace Celeriac.IntegrationTests.Control;

/// <summary>Control of real worker processes: a warm shutdown by command, and a SIGKILLed worker leaving the registry.</summary>
[Collection(DeploymentFaultsCollection.Name)] // kills or stops processes: never beside other such tests
public sealed class ControlProcessTests(ITestOutputHelper output) : ProcessTestBase
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Shutdown_by_command_stops_one_worker_after_its_task_finished_and_the_other_keeps_running()
    {
        ConnectionMultiplexer redis = await RedisFixture.GetAsync();
        var ledger = new RedisLedger(redis);
        string prefix = RedisFixture.NewPrefix();
        string run = prefix + "-shutdown";
        WorkerProcess a = await WorkerProcess.StartAsync(output, "worker-a", RedisFixture.Configuration, prefix, "slow", concurrency: 1, visibilityMs: 2000, "--registry-ms", "300");
        Workers.Add(a);
        WorkerProcess b = await WorkerProcess.StartAsync(output, "worker-b", RedisFixture.Configuration, prefix, "slow", concurrency: 1, visibilityMs: 2000, "--registry-ms", "300");
        Workers.Add(b);
        Client = await CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = RedisFixture.Configuration, KeyPrefix = prefix });
        IReadOnlyList<WorkerInfo> workers = [];
        await Wait.UntilAsync(async () => (workers = await Client.Workers.ListAsync()).Count == 2, Bound, "both workers to register");
        string idA = workers.Single(w => w.ProcessId == a.Id).Id;
        string idB = workers.Single(w => w.ProcessId == b.Id).Id;

        // One long task on each worker (each runs one at a time).
        TaskHandle<int> first = await Work.SleepOnTask.DelayAsync(Client, run, 1, 2000);
        TaskHandle<int> second = await Work.SleepOnTask.DelayAsync(Client, run, 2, 2000);
        await Wait.UntilAsync(async () => (await ledger.ReadAsync(run)).Count(e => e.StartsWith("start:", StringComparison.Ordinal)) == 2, Bound, "both tasks to start");
        string onA = (await ledger.ReadAsync(run)).Single(e => e.StartsWith("start:", StringComparison.Ordinal) && e.EndsWith("@" + a.Id, StringComparison.Ordinal));

        ControlReplies<string> reply = await Client.Control.ShutdownAsync(idA, TimeSpan.FromSeconds(5));
        Assert.Equal("stopping", Assert.Single(reply.Replies).Value);
        await a.WaitForExitAsync(Bound);
        IReadOnlyList<string> entries = await ledger.ReadAsync(run);
        IReadOnlyList<WorkerInfo> after = await Client.Workers.ListAsync();
        output.WriteLine($"worker A ({idA}) exited with {a.ExitCode}; it ran {onA}; ledger [{string.Join(", ", entries)}]; registry now [{string.Join(", ", after.Select(w => w.Id))}]");
        Assert.Equal(0, a.ExitCode);
        Assert.Contains(a.Lines, l => l.StartsWith("STOPPED", StringComparison.Ordinal));
        Assert.Contains(onA.Replace("start:", "done:", StringComparison.Ordinal), entries); // its running task finished before the stop
        Assert.Equal([idB], after.Select(w => w.Id)); // gone at once, not after its entry expired
        Assert.Equal(TaskState.Success, (await first.GetResultAsync()).State);
        Assert.Equal(TaskState.Success, (await second.GetResultAsync()).State);

        // The other worker still answers and runs tasks.
        Assert.Equal(idB, Assert.Single((await Client.Inspect.PingAsync(timeout: TimeSpan.FromSeconds(5))).Replies).Worker);
        TaskHandle<int> third = await Work.SleepOnTask.DelayAsync(Client, run, 3, 10);
        Assert.Equal(3, await third.GetAsync(Bound));
        Assert.Contains($"done:3@{b.Id}", await ledger.ReadAsync(run));
        Assert.False(b.HasExited);
    }

    [Fact]
    public async Task A_SIGKILLed_worker_is_missing_from_replies_and_leaves_the_registry_when_its_entry_expires()
    {
        _ = await RedisFixture.GetAsync();
        string prefix = RedisFixture.NewPrefix();
        WorkerProcess worker = await WorkerProcess.StartAsync(output, "victim", RedisFixture.Configuration, prefix, "default", concurrency: 1, visibilityMs: 2000, "--registry-ms", "300");
        Workers.Add(worker);
        Client = await CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = RedisFixture.Configuration, KeyPrefix = prefix });
        WorkerInfo? listed = null;
        await Wait.UntilAsync(async () => (listed = (await Client.Workers.ListAsync()).SingleOrDefault()) is not null, Bound, "the worker to register");
        Assert.Equal(worker.Id, listed!.ProcessId);
        Assert.Equal("pong", Assert.Single((await Client.Inspect.PingAsync(listed.Id, TimeSpan.FromSeconds(5))).Replies).Value);

        await worker.KillAsync();
        DateTimeOffset killedAt = DateTimeOffset.UtcNow;

        // Dead but not expired yet (its last heartbeat is at most one interval old): listed, and silent.
        WorkerInfo? stillListed = await Client.Workers.GetAsync(listed.Id);
        ControlReplies<string> ping = await Client.Inspect.PingAsync(listed.Id, TimeSpan.FromMilliseconds(300));
        output.WriteLine($"right after SIGKILL: listed {stillListed is not null} (expires {stillListed?.ExpiresAt:O}), ping replies {ping.Replies.Count}, missing [{string.Join(",", ping.Missing)}]");
        Assert.Empty(ping.Replies);

        // Gone once its entry expired: three heartbeat intervals (900 ms) after its last heartbeat, at most.
        TimeSpan gone = await Wait.UntilAsync(async () => await Client.Workers.GetAsync(listed.Id) is null, Bound, "the killed worker to leave the registry");
        DateTimeOffset expiredBy = (stillListed?.ExpiresAt ?? killedAt);
        output.WriteLine($"gone from the registry {gone.TotalMilliseconds:0} ms after the kill; its entry expired at {expiredBy:O} (the kill at {killedAt:O})");
        Assert.True(DateTimeOffset.UtcNow >= expiredBy, "the entry is never dropped before it expires");
        Assert.True(expiredBy - killedAt <= TimeSpan.FromMilliseconds(900) + TimeSpan.FromSeconds(1), "an entry expires within three intervals of its last heartbeat (plus clock slack)");
        Assert.Empty(await Client.Workers.ListAsync());
        Assert.Equal([listed.Id], (await Client.Inspect.PingAsync(listed.Id, TimeSpan.FromMilliseconds(300))).Missing);
    }
}
