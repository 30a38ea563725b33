using System.Diagnostics;
using System.Globalization;
using Celeriac.Brokers;
using Celeriac.IntegrationTests.Deployments;
using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.Redis;
using Celeriac.TestTasks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;
using static Celeriac.IntegrationTests.FaultSuite.FaultHelpers;

namespace Celeriac.IntegrationTests.FaultSuite;

/// <summary>
/// Many suspects at once on one worker: a worker SIGKILLed while it ran many tasks leaves them all started without an
/// outcome. Each then runs alone on the next worker (a poison message among them takes no innocent run with it), which
/// must neither stall the worker nor stop the other tasks.
/// </summary>
[Collection(DeploymentFaultsCollection.Name)] // kills processes: never beside other such tests
public sealed class SuspectFaultTests(ITestOutputHelper output) : ProcessTestBase
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)] // the survivor is shrunk by 48 and grown back while the suspects run: the permits they wait for move
    public async Task Forty_suspects_left_by_a_SIGKILL_each_run_alone_on_the_next_worker_while_400_other_tasks_flow(bool resize)
    {
        const int SuspectCount = 40, Others = 400, VisibilityMs = 1500;
        ConnectionMultiplexer redis = await RedisFixture.GetAsync();
        var ledger = new RedisLedger(redis);
        string prefix = RedisFixture.NewPrefix();
        string run = prefix + "-suspects";
        WorkerProcess victim = await StartWorkerAsync(Workers, output, "victim", RedisFixture.Configuration, prefix, "slow", SuspectCount, VisibilityMs);
        Client = await CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = RedisFixture.Configuration, KeyPrefix = prefix });

        // Slow on the first delivery only: the victim runs all 40 at once and is killed running them.
        TaskHandle<int>[] suspects = await Suspects.SlowFirstTask.DelayManyAsync(Client, [.. Enumerable.Range(0, SuspectCount).Select(n => (run, n, 120_000))]);
        await Wait.UntilAsync(async () => (await ledger.ReadAsync(run)).Count(e => e.StartsWith("start:", StringComparison.Ordinal)) >= SuspectCount, TimeSpan.FromSeconds(30), "the victim to start every slow task");
        string victimPid = victim.Id.ToString(CultureInfo.InvariantCulture);
        await victim.KillAsync();

        TaskHandle<int>[] others = await Suspects.SlowFirstTask.DelayManyAsync(Client, [.. Enumerable.Range(1000, Others).Select(n => (run, n, 20))]);
        var clock = Stopwatch.StartNew();
        WorkerProcess survivor = await StartWorkerAsync(Workers, output, "survivor", RedisFixture.Configuration, prefix, "slow", 64, VisibilityMs);
        string[] ids = [.. suspects.Select(h => h.Id), .. others.Select(h => h.Id)];
        string survivorPid = survivor.Id.ToString(CultureInfo.InvariantCulture);
        string resized = "not resized";
        if (resize)
        {
            await Wait.UntilAsync(async () => (await ledger.ReadAsync(run)).Any(e => e.StartsWith("start:", StringComparison.Ordinal) && e.EndsWith("@" + survivorPid, StringComparison.Ordinal) && int.Parse(e[6..e.IndexOf('@', StringComparison.Ordinal)], CultureInfo.InvariantCulture) < SuspectCount), TimeSpan.FromSeconds(30), "the survivor to start a suspect");
            string worker = (await Client.Workers.ListAsync()).Single(w => w.ProcessId == survivor.Id).Id;
            int shrunk = Assert.Single((await Client.Control.ShrinkAsync(48, worker, TimeSpan.FromSeconds(10))).Replies).Value;
            int grown = Assert.Single((await Client.Control.GrowAsync(48, worker, TimeSpan.FromSeconds(10))).Replies).Value;
            resized = $"shrunk to {shrunk} at {clock.ElapsedMilliseconds} ms, grown back to {grown}";
            Assert.Equal((16, 64), (shrunk, grown));
        }

        await Wait.UntilAsync(async () => (await CountStatesAsync(Client, ids)).GetValueOrDefault(TaskState.Success) == ids.Length, TimeSpan.FromSeconds(90), "every task to succeed on the survivor");
        long drainedMs = clock.ElapsedMilliseconds;

        // Of the survivor's entries (ledger order is the order the runs wrote them), a suspect's start is followed at
        // once by its own done: nothing else ran on the survivor while it did.
        IReadOnlyList<string> final = await ledger.ReadAsync(run);
        List<string> onSurvivor = [.. final.Where(e => e.EndsWith("@" + survivorPid, StringComparison.Ordinal)).Select(e => e[..e.IndexOf('@', StringComparison.Ordinal)])];
        var notAlone = new List<string>();
        for (int n = 0; n < SuspectCount; n++)
        {
            int start = onSurvivor.IndexOf($"start:{n}");
            Assert.True(start >= 0, $"suspect {n} never started on the survivor");
            if (start + 1 >= onSurvivor.Count || onSurvivor[start + 1] != $"done:{n}")
            {
                notAlone.Add($"{n}: after its start came {(start + 1 < onSurvivor.Count ? onSurvivor[start + 1] : "nothing")}");
            }
        }

        Dictionary<string, int> counts = CountEntries(final);
        int victimStarts = final.Count(e => e.EndsWith("@" + victimPid, StringComparison.Ordinal));
        output.WriteLine($"OBSERVED: the victim started {victimStarts} slow tasks and was SIGKILLed; the survivor (concurrency 64) ran the {SuspectCount} suspects, each alone, and the {Others} other tasks in {drainedMs} ms ({resized}); {onSurvivor.Count} survivor entries");

        Assert.Equal(SuspectCount, victimStarts);
        Assert.Empty(notAlone);
        for (int n = 0; n < SuspectCount; n++)
        {
            Assert.Equal(1, counts.GetValueOrDefault($"start:{n}@{survivorPid}"));
            Assert.Equal(1, counts.GetValueOrDefault($"done:{n}@{survivorPid}"));
        }

        foreach (int n in Enumerable.Range(1000, Others))
        {
            Assert.Equal(1, counts.GetValueOrDefault($"done:{n}@{survivorPid}")); // never suspects: once each, on the survivor
        }

        Assert.Equal(0, await ActiveAsync(redis.GetDatabase(), prefix, "slow"));
    }

    [Fact]
    public async Task A_suspect_that_arrives_while_other_runs_flow_is_not_starved_of_the_permits_it_gathers()
    {
        // Seen after a Sentinel failover: suspects arrived while ordinary runs kept the worker busy. The first suspect
        // gathered every permit but the last, which each ending run handed to the next run already waiting (ahead of
        // the suspect's timed wait); the other suspects waited behind it, and the worker ran one task at a time until
        // the queue was empty. Now the runs that come after a suspect wait behind it.
        const int Concurrency = 4, SuspectCount = 2, Others = 120, TaskMs = 150, GhostLeaseMs = 1000;
        ConnectionMultiplexer redis = await RedisFixture.GetAsync();
        string prefix = RedisFixture.NewPrefix();
        string run = prefix + "-starved";
        var ledger = new MemoryLedger();
        Client = await CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = RedisFixture.Configuration, KeyPrefix = prefix });

        // A worker that died running the suspects: a fetch that counted their runs and never came back (no process to kill
        // here; the broker's own fetch, as a worker's). Their leases expire while the live worker drains the others.
        TaskHandle<int>[] suspects = await Work.SleepTask.DelayManyAsync(Client, [.. Enumerable.Range(0, SuspectCount).Select(n => (run, n, TaskMs))]);
        await using var ghost = new RedisBroker(redis, new CeleriacOptions { Redis = RedisFixture.Configuration, KeyPrefix = prefix }, NullLogger.Instance, TimeProvider.System);
        var leased = new List<Delivery>();
        await ghost.FetchAsync(new FetchRequest(["slow"], SuspectCount, TimeSpan.FromMilliseconds(GhostLeaseMs), TimeSpan.FromMilliseconds(200), "ghost", StartCount: SuspectCount), leased, default);
        var sinceLease = Stopwatch.StartNew();
        Assert.Equal(SuspectCount, leased.Count);

        TaskHandle<int>[] others = await Work.SleepTask.DelayManyAsync(Client, [.. Enumerable.Range(1000, Others).Select(n => (run, n, TaskMs))]);
        IHost host = await TestHost.StartAsync(output, "worker", RedisFixture.Configuration, prefix, ledger, worker: w => w.Concurrency = Concurrency);
        try
        {
            // The leases are gone from now on: the worker's next fetch reclaims the suspects (marked in the ledger's order).
            TimeSpan toExpiry = TimeSpan.FromMilliseconds(GhostLeaseMs + 50) - sinceLease.Elapsed;
            if (toExpiry > TimeSpan.Zero)
            {
                await Task.Delay(toExpiry); // a lease expires by the clock: nothing to wait on but time
            }

            await ledger.RecordAsync(run, "leases-expired");
            int startedBefore = (await ledger.ReadAsync(run)).Count(e => e.StartsWith("start:", StringComparison.Ordinal));
            Assert.True(startedBefore < Others / 2, $"{startedBefore} of the {Others} other tasks had started when the leases expired: the suspects must arrive mid-drain");

            string[] ids = [.. suspects.Select(h => h.Id), .. others.Select(h => h.Id)];
            await Wait.UntilAsync(async () => (await CountStatesAsync(Client, ids)).GetValueOrDefault(TaskState.Success) == ids.Length, TimeSpan.FromSeconds(60), "every task to succeed");

            List<string> entries = [.. await ledger.ReadAsync(run)];
            int expired = entries.IndexOf("leases-expired");
            var overtaken = new List<int>();
            var notAlone = new List<string>();
            for (int n = 0; n < SuspectCount; n++)
            {
                int start = entries.IndexOf($"start:{n}");
                Assert.True(start > expired, $"suspect {n} started at entry {start}, before its lease expired (entry {expired})");
                overtaken.Add(entries.Skip(expired).Take(start - expired).Count(e => e.StartsWith("start:", StringComparison.Ordinal) && int.Parse(e[6..], CultureInfo.InvariantCulture) >= 1000));
                if (entries[start + 1] != $"done:{n}")
                {
                    notAlone.Add($"{n}: after its start came {entries[start + 1]}");
                }
            }

            output.WriteLine($"OBSERVED: {startedBefore} other tasks had started when the ghost's leases expired; other tasks started after that and before each suspect: [{string.Join(", ", overtaken)}] (of {Others - startedBefore} left); suspects not alone: [{string.Join("; ", notAlone)}]");
            Assert.Empty(notAlone);
            // After the leases expire: the fetch that reclaims them comes within a run or two, the runs already fetched
            // start (the prefetch, Concurrency here), and a run already waiting for a permit may still take one. Starved,
            // the suspects start only when the queue is empty.
            const int Bound = 3 * Concurrency;
            Assert.All(overtaken, count => Assert.True(count <= Bound, $"{count} other tasks started before a suspect whose lease had expired (bound {Bound}): the suspect was starved"));
        }
        finally
        {
            await TestHost.StopAllAsync([host]);
        }
    }
}
