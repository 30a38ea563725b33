using System.Diagnostics;
using Celeriac.Brokers;
using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.TestTasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Celeriac.IntegrationTests.EndToEnd;

/// <summary>
/// A client and a worker in one host, through the generated stubs, the way the Quickstart uses them. Run against Redis
/// (<see cref="EndToEndTests"/>) and the in-process broker (<see cref="InProcessEndToEndUnitTests"/>).
/// </summary>
public abstract class EndToEndContract(ITestOutputHelper output) : IAsyncLifetime
{
    protected static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    protected readonly ITestOutputHelper Output = output;
    protected readonly MemoryLedger Ledger = new();
    protected readonly string Prefix = RedisFixture.NewPrefix();
    protected readonly List<IHost> Hosts = [];
    private IHost? _host;

    /// <summary>The Redis configuration string, or null for the in-process broker.</summary>
    protected abstract string? Redis { get; }

    protected IHost Host => _host ?? throw new InvalidOperationException("The host was not started.");

    protected ITaskClient Client => Host.Services.GetRequiredService<ITaskClient>();

    public virtual async Task InitializeAsync()
    {
        Output.WriteLine($"broker: {Redis ?? "in-process"}, key prefix {Prefix}, catalog has {TaskCatalog.Global.Count} tasks");
        _host = await StartHostAsync("worker-1");
    }

    public Task DisposeAsync() => TestHost.StopAllAsync(Hosts);

    protected async Task<IHost> StartHostAsync(string name, Action<CeleriacOptions>? celeriac = null, Action<WorkerOptions>? worker = null, string? prefix = null)
    {
        IHost host = await TestHost.StartAsync(Output, name, Redis, prefix ?? Prefix, Ledger, celeriac, worker);
        Hosts.Add(host);
        return host;
    }

    [Fact]
    public async Task Add_returns_the_sum()
    {
        var clock = Stopwatch.StartNew();
        TaskHandle<int> handle = await Calc.AddTask.DelayAsync(Client, 4, 5);
        int sum = await handle.GetAsync(Timeout);
        TaskResult record = await handle.GetResultAsync();
        Output.WriteLine($"Add(4, 5) = {sum} in {clock.ElapsedMilliseconds} ms; task {handle.Id}, state {record.State}, worker {record.Worker}, name {record.TaskName}");
        Assert.Equal(9, sum);
        Assert.Equal(TaskState.Success, record.State);
        Assert.Equal(Calc.AddTask.Name, record.TaskName);
        Assert.Equal("Celeriac.TestTasks.Calc.Add", Calc.AddTask.Name);
    }

    [Fact]
    public async Task A_handle_made_from_the_id_alone_reads_the_result()
    {
        TaskHandle<int> sent = await Calc.AddTask.ApplyAsync(Client, 20, 3, new TaskOptions { Queue = "slow" });
        Assert.Equal("slow", sent.Queue);
        Assert.Equal(23, await sent.GetAsync(Timeout));

        // Only the id is known (another process, a stored id): the result is found in whichever queue it was sent to.
        TaskHandle<int> byId = Calc.AddTask.Handle(Client, sent.Id);
        TaskResult record = await byId.GetResultAsync();
        int value = await byId.GetAsync(Timeout);
        Output.WriteLine($"id {sent.Id} sent to '{sent.Queue}': by id alone {record.State}, value {value}; never sent: {(await Calc.AddTask.Handle(Client, "never-sent").GetStateAsync())}");
        Assert.Null(byId.Queue);
        Assert.Equal(TaskState.Success, record.State);
        Assert.Equal(23, value);
        Assert.Equal(TaskState.Pending, await Calc.AddTask.Handle(Client, "never-sent").GetStateAsync());
    }

    [Fact]
    public async Task Each_run_gets_its_own_DI_scope()
    {
        int first = await (await Calc.ScopeIdentityTask.DelayAsync(Client)).GetAsync(Timeout);
        int second = await (await Calc.ScopeIdentityTask.DelayAsync(Client)).GetAsync(Timeout);
        int root = System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(Host.Services);
        Output.WriteLine($"scope of run 1: {first:x8}, run 2: {second:x8}, root provider {root:x8}");
        Assert.NotEqual(first, second);
        Assert.NotEqual(root, first);
        Assert.NotEqual(root, second);
    }

    [Fact]
    public async Task A_task_that_takes_its_context_gets_one_of_its_own_each_run()
    {
        TaskHandle<string> first = await Calc.ContextOfTask.DelayAsync(Client);
        TaskHandle<string> second = await Calc.ContextOfTask.DelayAsync(Client);
        string[] a = (await first.GetAsync(Timeout)).Split('|');
        string[] b = (await second.GetAsync(Timeout)).Split('|');
        Output.WriteLine($"run 1: {string.Join(" ", a)}; run 2: {string.Join(" ", b)}");
        Assert.Equal([first.Id, Calc.ContextOfTask.Name, "1"], a[..3]);
        Assert.Equal([second.Id, Calc.ContextOfTask.Name, "1"], b[..3]);
        Assert.NotEqual(a[3], b[3]);
    }

    [Fact]
    public async Task After_a_run_is_revoked_the_next_runs_of_its_consumer_are_not_cancelled()
    {
        // A worker of its own (two consumers, STARTED tracked) on its own keys.
        IHost host = await StartHostAsync("revoker", worker: w =>
        {
            w.Concurrency = 2;
            w.TrackStarted = true;
        }, prefix: Prefix + "-rc");
        ITaskClient taskClient = host.Services.GetRequiredService<ITaskClient>();
        var client = (CeleriacClient)taskClient;
        TaskHandle<int> held = await Calc.HoldTask.DelayAsync(taskClient, 30_000);
        await Wait.UntilAsync(async () => await held.GetStateAsync() == TaskState.Started, Timeout, "the held task to start");
        await client.RevokeAsync(held.Id);
        await Assert.ThrowsAsync<TaskRevokedException>(() => held.GetAsync(Timeout));

        // The revoked run's consumer (the last to go idle, so the first to be handed work) runs some of these: its
        // reused cancellation must start each of them uncancelled.
        var next = new List<TaskHandle<int>>();
        for (int i = 0; i < 12; i++)
        {
            next.Add(await Calc.HoldTask.DelayAsync(taskClient, 5 + i));
        }

        int[] values = await Task.WhenAll(next.Select(h => h.GetAsync(Timeout)));
        Output.WriteLine($"after the revoke: {string.Join(", ", values)}");
        Assert.Equal(Enumerable.Range(0, 12).Select(i => 5 + i), values);
    }

    [Fact]
    public async Task An_exception_in_the_task_surfaces_as_TaskFailedException()
    {
        TaskHandle<int> handle = await Calc.FailTask.DelayAsync(Client, "boom 42");
        TaskFailedException failure = await Assert.ThrowsAsync<TaskFailedException>(() => handle.GetAsync(Timeout));
        Output.WriteLine($"{failure.Message}\nremote type: {failure.RemoteType}\nremote message: {failure.RemoteMessage}\nremote stack: {failure.RemoteStackTrace}");
        Assert.Equal(handle.Id, failure.TaskId);
        Assert.Equal("System.InvalidOperationException", failure.RemoteType);
        Assert.Equal("boom 42", failure.RemoteMessage);
        Assert.Contains("Calc.Fail", failure.RemoteStackTrace ?? string.Empty, StringComparison.Ordinal);
        Assert.Equal(TaskState.Failure, await handle.GetStateAsync());
    }

    [Fact]
    public async Task An_instance_task_gets_its_dependencies_from_DI()
    {
        string run = "di-" + Guid.NewGuid().ToString("N")[..8];
        TaskHandle<int> handle = await Work.RecordTask.DelayAsync(Client, run, 7);
        int value = await handle.GetAsync(Timeout);
        IReadOnlyList<string> entries = await Ledger.ReadAsync(run);
        Output.WriteLine($"Work.Record returned {value}; ledger[{run}] = [{string.Join(", ", entries)}]");
        Assert.Equal(7, value);
        Assert.Equal(["7"], entries);
    }

    [Fact]
    public async Task A_task_sent_from_inside_a_running_task_records_its_parent_and_root()
    {
        TaskHandle<string> top = await Lineage.SpawnTask.DelayAsync(Client, 1);
        string middleId = await top.GetAsync(Timeout);
        string leafId = await Lineage.SpawnTask.Handle(Client, middleId).GetAsync(Timeout);
        string[] leaf = (await Lineage.IdsTask.Handle(Client, leafId).GetAsync(Timeout)).Split('|');
        TaskHandle<string> alone = await Lineage.IdsTask.DelayAsync(Client);
        string[] sentFromOutside = (await alone.GetAsync(Timeout)).Split('|');
        Output.WriteLine($"top {top.Id} -> middle {middleId} -> leaf {leafId}; the leaf saw id|parent|root = {string.Join("|", leaf)}; sent from the test: {string.Join("|", sentFromOutside)}");
        Assert.Equal([leafId, middleId, top.Id], leaf);
        Assert.Equal([alone.Id, string.Empty, alone.Id], sentFromOutside);
    }

    [Fact]
    public async Task Records_enums_lists_and_nullables_round_trip()
    {
        var order = new Order("ada", Tier.Silver, [1, 2, 3], 0.15m, null);
        TaskHandle<Quote> handle = await Shapes.PriceTask.DelayAsync(Client, order, Tier.Gold, ["x", "y"], null);
        Quote quote = await handle.GetAsync(Timeout);
        Output.WriteLine($"Price -> {quote} tags=[{string.Join(",", quote.Tags)}]");
        Assert.Equal("ada", quote.Customer);
        Assert.Equal(Tier.Gold, quote.Tier);
        Assert.Equal(6, quote.Items);
        Assert.Equal(0.15m, quote.Discount);
        Assert.Null(quote.Note);
        Assert.Equal(["x", "y"], quote.Tags);
        Assert.Null(quote.Extra);

        var other = new Order("bob", Tier.Gold, [], null, "rush");
        Quote second = await (await Shapes.PriceTask.DelayAsync(Client, other, Tier.Bronze, [], 5)).GetAsync(Timeout);
        Output.WriteLine($"Price -> {second} tags=[{string.Join(",", second.Tags)}]");
        Assert.Equal(Tier.Gold, second.Tier);
        Assert.Equal(0, second.Items);
        Assert.Null(second.Discount);
        Assert.Equal("rush", second.Note);
        Assert.Empty(second.Tags);
        Assert.Equal(5, second.Extra);
    }

    [Fact]
    public async Task A_countdown_task_does_not_run_before_it_is_due()
    {
        TimeSpan countdown = TimeSpan.FromMilliseconds(1200);
        DateTimeOffset sent = DateTimeOffset.UtcNow;
        var clock = Stopwatch.StartNew();
        TaskHandle<int> handle = await Calc.AddTask.ApplyAsync(Client, 20, 22, new TaskOptions { Countdown = countdown });
        await Task.Delay(400);
        TaskState early = await handle.GetStateAsync();
        int value = await handle.GetAsync(Timeout);
        long tookMs = clock.ElapsedMilliseconds;
        TaskResult record = await handle.GetResultAsync();
        double ranAfterMs = ((record.Timestamp ?? DateTimeOffset.MinValue) - sent).TotalMilliseconds;
        Output.WriteLine($"state at 400 ms: {early}; value {value} after {tookMs} ms; worker recorded completion {ranAfterMs:0} ms after sending (countdown {countdown.TotalMilliseconds} ms)");
        Assert.Equal(TaskState.Pending, early);
        Assert.Equal(42, value);
        Assert.True(tookMs >= countdown.TotalMilliseconds - 50, $"the result came {tookMs} ms after sending, before the {countdown.TotalMilliseconds} ms countdown");
        Assert.True(ranAfterMs >= countdown.TotalMilliseconds - 50, $"the worker completed the task {ranAfterMs:0} ms after sending, before its countdown");
        Assert.True(tookMs < countdown.TotalMilliseconds + 3000, $"the result came {tookMs} ms after sending: far later than the countdown");
    }

    [Fact]
    public async Task A_task_that_expires_before_it_is_due_ends_revoked()
    {
        TaskHandle<int> handle = await Calc.AddTask.ApplyAsync(Client, 1, 1, new TaskOptions { Countdown = TimeSpan.FromMilliseconds(600), ExpiresIn = TimeSpan.FromMilliseconds(50) });
        TaskRevokedException revoked = await Assert.ThrowsAsync<TaskRevokedException>(() => handle.GetAsync(Timeout));
        TaskResult record = await handle.GetResultAsync();
        Output.WriteLine($"{revoked.Message}; reason {revoked.Reason}; state {record.State}, error {record.Error}");
        Assert.Equal(TaskState.Revoked, record.State);
        Assert.Equal(handle.Id, revoked.TaskId);
        Assert.Equal("expired", revoked.Reason);
    }

    [Fact]
    public async Task A_handle_recreated_from_the_id_returns_the_value()
    {
        TaskHandle<int> sent = await Calc.AddTask.DelayAsync(Client, 100, 23);
        string id = sent.Id;
        TaskHandle<int> again = Calc.AddTask.Handle(Client, id);
        int value = await again.GetAsync(Timeout);
        TaskState state = await again.GetStateAsync();
        Output.WriteLine($"re-created handle {again.Id}: state {state}, value {value}");
        Assert.Equal(id, again.Id);
        Assert.Equal(123, value);
        Assert.Equal(TaskState.Success, state);
        Assert.Equal(123, await sent.GetAsync(Timeout));
    }

    [Fact]
    public async Task A_task_longer_than_the_visibility_timeout_runs_once()
    {
        // The lease is renewed by the heartbeat (every third of the visibility timeout), so no second delivery happens.
        IHost host = await StartHostAsync("short-lease", o => o.VisibilityTimeout = TimeSpan.FromSeconds(1), prefix: RedisFixture.NewPrefix());
        ITaskClient client = host.Services.GetRequiredService<ITaskClient>();
        string run = "long-" + Guid.NewGuid().ToString("N")[..8];
        var clock = Stopwatch.StartNew();
        TaskHandle<int> handle = await Work.SleepTask.DelayAsync(client, run, 5, 2500);
        int value = await handle.GetAsync(Timeout);
        IReadOnlyList<string> entries = await Ledger.ReadAsync(run);
        Output.WriteLine($"Work.Sleep(2500 ms) with a 1 s visibility timeout: {value} after {clock.ElapsedMilliseconds} ms; ledger [{string.Join(", ", entries)}]");
        Assert.Equal(5, value);
        Assert.Equal(["start:5", "done:5"], entries);
    }

    [Fact]
    public async Task A_stop_hands_back_the_prefetched_task_at_once_lets_a_running_one_finish_and_releases_an_uncooperative_one_at_the_deadline_without_a_retry()
    {
        IHost host = await StartHostAsync("stopping", prefix: RedisFixture.NewPrefix(), worker: w =>
        {
            w.Queues = ["slow"];
            w.Concurrency = 2;
            w.Prefetch = 3;
            w.ShutdownTimeout = TimeSpan.FromSeconds(3);
        });
        var client = host.Services.GetRequiredService<CeleriacClient>();
        string run = "stop-" + Guid.NewGuid().ToString("N")[..8], late = run + "-late";
        try
        {
            // Two slots, each held by a run that ignores its token: one waits at a gate the test opens during the stop,
            // the other at a gate opened only after it. A third task is prefetched and waits for a slot.
            TaskHandle<int> finishing = await Overrun.GatedTask.DelayAsync(client, run, 1);
            TaskHandle<int> overdue = await Overrun.GatedTask.DelayAsync(client, late, 2);
            await Wait.UntilAsync(async () => (await Ledger.ReadAsync(run)).Contains("start:1") && (await Ledger.ReadAsync(late)).Contains("start:2"), Timeout, "both slots to be busy");
            TaskHandle<int> waiting = await Work.SleepTask.DelayAsync(client, run, 3, 10);
            await Wait.UntilAsync(async () => (await client.FindTaskAsync(waiting.Id))?.Place == Inspection.TaskPlace.Active, Timeout, "the third task to be prefetched");

            Task stopping = host.StopAsync(CancellationToken.None);
            await Wait.UntilAsync(async () => (await client.FindTaskAsync(waiting.Id))?.Place == Inspection.TaskPlace.Pending, Timeout, "the prefetched task to be handed back");
            IReadOnlyList<string> atHandBack = await Ledger.ReadAsync(run);
            Assert.DoesNotContain("done:1", atHandBack); // handed back while the running ones still run
            Overrun.Open(run);
            await Wait.WithinAsync(stopping.ContinueWith(_ => 0, TaskScheduler.Default), TimeSpan.FromSeconds(30), "the stop");

            IReadOnlyList<string> entries = [.. await Ledger.ReadAsync(run), .. await Ledger.ReadAsync(late)];
            TaskResult finished = await finishing.GetResultAsync(), interrupted = await overdue.GetResultAsync();
            Inspection.TaskLocation? overdueAt = await client.FindTaskAsync(overdue.Id), waitingAt = await client.FindTaskAsync(waiting.Id);
            Output.WriteLine($"OBSERVED: ledger [{string.Join(", ", entries)}]; finishing {finished.State}; overdue {interrupted.State} (retries {interrupted.Retries}) at {overdueAt?.Place}; waiting at {waitingAt?.Place}");
            Assert.Equal(TaskState.Success, finished.State);
            Assert.Equal(1, entries.Count(e => e == "start:1"));
            Assert.Equal(1, entries.Count(e => e == "done:1"));
            Assert.Equal(1, entries.Count(e => e == "start:2"));
            Assert.Contains("cancelled:2", entries); // its token was cancelled at the deadline; it went on regardless
            Assert.DoesNotContain("done:2", entries);
            Assert.Equal(Inspection.TaskPlace.Pending, overdueAt?.Place); // handed back at the deadline, not left leased
            Assert.True(interrupted.State is TaskState.Started or TaskState.Pending, $"the interrupted task's record is {interrupted.State}: an interrupted run is neither a failure nor a retry");
            Assert.Equal(0, interrupted.Retries);
            Assert.DoesNotContain("start:3", entries);
            Assert.Equal(Inspection.TaskPlace.Pending, waitingAt?.Place);
        }
        finally
        {
            Overrun.Open(run);
            Overrun.Open(late);
        }
    }

    [Fact]
    public async Task Priority_from_the_attribute_and_per_call_decides_which_waiting_task_runs_first()
    {
        // One slot (and a prefetch of one): while the gated holder keeps it, the others wait in the queue in their
        // priorities' order, not in the order they were sent.
        IHost host = await StartHostAsync("one-slot", prefix: RedisFixture.NewPrefix(), worker: w =>
        {
            w.Queues = ["slow"];
            w.Concurrency = 1;
        });
        ITaskClient client = host.Services.GetRequiredService<ITaskClient>();
        string run = "prio-" + Guid.NewGuid().ToString("N")[..8];
        try
        {
            TaskHandle<int> holder = await Overrun.GatedTask.DelayAsync(client, run, 0);
            await Wait.UntilAsync(async () => (await Ledger.ReadAsync(run)).Contains("start:0"), Timeout, "the holder to start");
            TaskHandle<int> plain = await Work.SleepTask.DelayAsync(client, run, 1, 0);
            TaskHandle<int> byAttribute = await Overrun.UrgentTask.DelayAsync(client, run, 2); // [Task(Priority = 7)]
            TaskHandle<int> perCall = await Work.SleepTask.ApplyAsync(client, run, 3, 0, new TaskOptions { Priority = 9 });
            Overrun.Open(run);
            int[] values = await Task.WhenAll(holder.GetAsync(Timeout), plain.GetAsync(Timeout), byAttribute.GetAsync(Timeout), perCall.GetAsync(Timeout));
            Assert.Equal([0, 1, 2, 3], values);
            string[] starts = [.. (await Ledger.ReadAsync(run)).Where(e => e.StartsWith("start:", StringComparison.Ordinal))];
            Output.WriteLine($"OBSERVED: started in the order [{string.Join(", ", starts)}]");
            Assert.Equal(["start:0", "start:3", "start:2", "start:1"], starts);
        }
        finally
        {
            Overrun.Open(run);
        }
    }

    [Fact]
    public async Task A_result_is_kept_for_ResultTtl_then_forgotten()
    {
        IHost host = await StartHostAsync("short-results", o => o.ResultTtl = TimeSpan.FromSeconds(1), prefix: RedisFixture.NewPrefix());
        ITaskClient client = host.Services.GetRequiredService<ITaskClient>();
        TaskHandle<int> handle = await Calc.AddTask.DelayAsync(client, 2, 2);
        Assert.Equal(4, await handle.GetAsync(Timeout));
        TimeSpan gone = await Wait.UntilAsync(async () => await handle.GetStateAsync() == TaskState.Pending, Timeout, "the result to expire (ResultTtl 1 s; the default keeps it a day)");
        Output.WriteLine($"OBSERVED: the SUCCESS record was gone {gone.TotalMilliseconds:0} ms after the wait returned it");
    }

    [Fact]
    public async Task A_revocation_is_kept_for_RevokeTtl_then_forgotten()
    {
        TimeSpan ttl = TimeSpan.FromSeconds(2);
        IHost host = await StartHostAsync("short-revokes", o => o.RevokeTtl = ttl, prefix: RedisFixture.NewPrefix());
        var client = host.Services.GetRequiredService<CeleriacClient>();
        string kept = "kept-" + Guid.NewGuid().ToString("N"), forgotten = "forgotten-" + Guid.NewGuid().ToString("N");
        await client.RevokeAsync(kept);
        await client.RevokeAsync(forgotten);

        // Within the TTL, a task sent under a revoked id ends REVOKED without running.
        TaskHandle<int> early = await Calc.AddTask.ApplyAsync(client, 1, 1, new TaskOptions { TaskId = kept });
        await Assert.ThrowsAsync<TaskRevokedException>(() => early.GetAsync(Timeout));

        // Past it, the revocation is forgotten: the id runs (the default RevokeTtl keeps it a week).
        await Task.Delay(ttl + TimeSpan.FromMilliseconds(500)); // a TTL: time has to pass
        TaskHandle<int> late = await Calc.AddTask.ApplyAsync(client, 2, 3, new TaskOptions { TaskId = forgotten });
        Assert.Equal(5, await late.GetAsync(Timeout));
    }

    [Fact]
    public async Task A_null_for_a_non_nullable_argument_is_refused_at_send_and_nothing_is_sent()
    {
        string queue = "nulls-" + Guid.NewGuid().ToString("N")[..8];
        ArgumentNullException single = await Assert.ThrowsAsync<ArgumentNullException>(async () => await Calc.FailTask.ApplyAsync(Client, null!, new TaskOptions { Queue = queue }));
        ArgumentNullException bulk = await Assert.ThrowsAsync<ArgumentNullException>(async () => await Calc.FailTask.DelayManyAsync(Client, ["fine", null!]));
        Output.WriteLine($"single: {single.Message}\nbulk: {bulk.Message}");
        Assert.Equal("message", single.ParamName);
        Assert.Equal("calls", bulk.ParamName);
        Assert.Contains("calls[1]: message is null", bulk.Message, StringComparison.Ordinal);
        Assert.Equal(0, await ((CeleriacClient)Client).GetQueueLengthAsync(queue));
    }

    [Fact]
    public async Task A_task_revoked_through_its_handle_or_the_ITaskClient_ends_REVOKED_without_running()
    {
        var later = new TaskOptions { Countdown = TimeSpan.FromMilliseconds(300) };
        TaskHandle<int> byHandle = await Calc.AddTask.ApplyAsync(Client, 1, 1, later);
        TaskHandle<int> byClient = await Calc.AddTask.ApplyAsync(Client, 2, 2, later);
        await byHandle.RevokeAsync();
        await Client.RevokeAsync(byClient.Id, null, default);
        TaskRevokedException first = await Assert.ThrowsAsync<TaskRevokedException>(() => byHandle.GetAsync(Timeout));
        TaskRevokedException second = await Assert.ThrowsAsync<TaskRevokedException>(() => byClient.GetAsync(Timeout));
        Output.WriteLine($"handle: {first.Reason}; client: {second.Reason}");
        Assert.Equal(TaskState.Revoked, await byHandle.GetStateAsync());
        Assert.Equal(TaskState.Revoked, await byClient.GetStateAsync());
    }

    [Fact]
    public async Task A_task_id_given_in_the_options_is_used_and_a_duplicate_is_refused()
    {
        string id = "fixed-" + Guid.NewGuid().ToString("N");
        TaskHandle<int> handle = await Calc.AddTask.ApplyAsync(Client, 2, 3, new TaskOptions { TaskId = id, Countdown = TimeSpan.FromSeconds(2) });
        // Other arguments: had the duplicate overwritten the original, the result would be 40, not 5.
        InvalidOperationException duplicate = await Assert.ThrowsAsync<InvalidOperationException>(async () => await Calc.AddTask.ApplyAsync(Client, 20, 20, new TaskOptions { TaskId = id }));
        Output.WriteLine($"handle id {handle.Id}; duplicate send: {duplicate.GetType().Name}: {duplicate.Message}");
        Assert.Contains(id, duplicate.Message, StringComparison.Ordinal);
        Assert.Equal(id, handle.Id);
        Assert.Equal(5, await handle.GetAsync(Timeout));
    }

    [Theory]
    [InlineData("eta_ms", long.MaxValue)]
    [InlineData("eta_ms", 253_402_300_800_000)]
    [InlineData("eta_ms", -62_135_596_800_001)]
    [InlineData("expires_ms", 253_402_300_800_000)]
    [InlineData("expires_ms", long.MinValue)]
    [InlineData("created_ms", long.MaxValue)]
    [InlineData("retries", -1)]
    [InlineData("priority", 10)]
    public async Task An_envelope_with_a_number_out_of_range_is_set_aside_at_once_naming_the_field(string field, long value)
    {
        // Written straight into the queue (a client never sends these): one for a task with a hard time limit, one for a
        // task that takes its context, next to a valid task.
        ITaskBroker broker = await Host.Services.GetRequiredService<BrokerProvider>().GetAsync(default);
        string limited = "limited-" + Guid.NewGuid().ToString("N"), context = "context-" + Guid.NewGuid().ToString("N");
        await broker.EnqueueAsync(
        [
            new EnqueueItem(limited, "default", OutOfRange(limited, Calc.LimitedTask.Name, [0x91, 0x07], field, value), 0),
            new EnqueueItem(context, "default", OutOfRange(context, Calc.ContextOfTask.Name, [0x90], field, value), 0),
        ], default);
        TaskHandle<int> valid = await Calc.AddTask.DelayAsync(Client, 1, 2);

        var clock = Stopwatch.StartNew();
        foreach (string id in new[] { limited, context })
        {
            TaskFailedException failure = await Assert.ThrowsAsync<TaskFailedException>(() => new TaskHandle(Client, id).WaitAsync(Timeout));
            Output.WriteLine($"{field}={value}: {id} after {clock.ElapsedMilliseconds} ms: {failure.RemoteType}: {failure.RemoteMessage}");
            Assert.Equal("Celeriac.UndecodableMessage", failure.RemoteType);
            Assert.Contains($"{field} is {value}", failure.RemoteMessage, StringComparison.Ordinal);
        }

        Assert.Equal(3, await valid.GetAsync(Timeout));
        IReadOnlyList<DeadLetter> letters = await broker.GetDeadLettersAsync("default", 10, default);
        Assert.Equal([context, limited], letters.Select(l => l.Id).Order(StringComparer.Ordinal));
        Assert.All(letters, l => Assert.StartsWith($"undecodable: The envelope's {field} is {value}, out of range", l.Reason, StringComparison.Ordinal));
    }

    private static byte[] OutOfRange(string id, string task, byte[] args, string field, long value) => Celeriac.Protocol.EnvelopeCodec.Encode(new Celeriac.Protocol.Envelope
    {
        Id = id,
        Task = task,
        Args = args,
        Queue = "default",
        RootId = id,
        Retries = field == "retries" ? (int)value : 0,
        Priority = field == "priority" ? (int)value : 0,
        EtaMs = field == "eta_ms" ? value : null,
        ExpiresMs = field == "expires_ms" ? value : null,
        CreatedMs = field == "created_ms" ? value : DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
    });
}

/// <summary>The end-to-end contract over Redis, plus what needs several processes' worth of workers.</summary>
public sealed class EndToEndTests(ITestOutputHelper output) : EndToEndContract(output)
{
    protected override string? Redis => RedisFixture.Configuration;

    public override async Task InitializeAsync()
    {
        _ = await RedisFixture.GetAsync();
        await base.InitializeAsync();
    }

    [Fact]
    public async Task A_wait_that_starts_after_its_reply_came_is_answered_by_the_reply_kept_in_the_process()
    {
        TaskHandle<int> warm = await Calc.AddTask.DelayAsync(Client, 1, 1);
        Assert.Equal(2, await warm.GetAsync(Timeout)); // the reply channel is subscribed from here on

        // Not waited for yet: its reply arrives with nobody waiting. Then its stored result goes (as if expired), so
        // only the reply the client kept can answer the wait.
        TaskHandle<int> late = await Calc.AddTask.DelayAsync(Client, 20, 22);
        StackExchange.Redis.IDatabase db = (await RedisFixture.GetAsync()).GetDatabase();
        string key = $"{Prefix}:{{{late.Queue}}}:r:{late.Id}";
        await Wait.UntilAsync(async () => await db.KeyExistsAsync(key), Timeout, "the result to be stored");
        Assert.True(await db.KeyDeleteAsync(key));
        Assert.Equal(42, await late.GetAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task A_message_over_the_workers_size_limit_fails_its_senders_wait_at_once()
    {
        // A worker whose limit is below the client's (a configuration mismatch): it dead-letters the message unread,
        // and must still tell the sender, whose wait reads nothing first.
        string prefix = Prefix + "-size";
        IHost sender = await StartHostAsync("sender", worker: w => w.Queues = ["slow"], prefix: prefix);
        await StartHostAsync("small", celeriac: o => o.MaxMessageBytes = 40, worker: w => w.Queues = ["default"], prefix: prefix);
        ITaskClient client = sender.Services.GetRequiredService<ITaskClient>();
        Assert.Equal(2, await (await Calc.NapTask.DelayAsync(client, 2, 1)).GetAsync(Timeout)); // subscribes the reply channel

        TaskHandle<int> big = await Calc.AddTask.DelayAsync(client, 1, 2);
        var clock = Stopwatch.StartNew();
        TaskFailedException failure = await Assert.ThrowsAsync<TaskFailedException>(() => big.GetAsync(TimeSpan.FromSeconds(20)));
        Output.WriteLine($"failed after {clock.ElapsedMilliseconds} ms: {failure.RemoteType}: {failure.RemoteMessage}");
        Assert.Equal("Celeriac.OversizedMessage", failure.RemoteType);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"the wait took {clock.ElapsedMilliseconds} ms: it heard of the dead letter only at its timeout");
    }

    [Fact]
    public async Task Waits_after_more_unclaimed_replies_than_are_kept_still_get_their_results()
    {
        TaskHandle<int> warm = await Calc.AddTask.DelayAsync(Client, 1, 1);
        Assert.Equal(2, await warm.GetAsync(Timeout));

        // 1,100 tasks nobody waits for while they run: past the 1,024 replies kept, the oldest are dropped and their
        // waits must read the stored results instead of waiting for a reply that already came.
        var handles = new List<TaskHandle<int>>();
        for (int i = 0; i < 1100; i++)
        {
            handles.Add(await Calc.AddTask.DelayAsync(Client, i, 1));
        }

        StackExchange.Redis.IDatabase db = (await RedisFixture.GetAsync()).GetDatabase();
        await Wait.UntilAsync(async () => await db.KeyExistsAsync($"{Prefix}:{{{handles[^1].Queue}}}:r:{handles[^1].Id}"), Timeout, "the last result to be stored");
        await Task.Delay(500); // the last replies reach the client
        int[] values = await Task.WhenAll(handles.Select(h => h.GetAsync(TimeSpan.FromSeconds(10))));
        Assert.Equal(Enumerable.Range(0, 1100).Select(i => i + 1), values);
    }

    [Fact]
    public async Task A_thousand_tasks_through_two_workers_each_run_exactly_once()
    {
        const int count = 1000;
        IHost second = await StartHostAsync("worker-2");
        string run = "many-" + Guid.NewGuid().ToString("N")[..8];
        var clock = Stopwatch.StartNew();
        ITaskClient client = second.Services.GetRequiredService<ITaskClient>();
        var handles = new TaskHandle<int>[count];
        for (int start = 0; start < count; start += 100)
        {
            Task<TaskHandle<int>>[] batch = [.. Enumerable.Range(start, Math.Min(100, count - start)).Select(n => Work.RecordTask.DelayAsync(client, run, n).AsTask())];
            (await Task.WhenAll(batch)).CopyTo(handles, start);
        }

        long sentMs = clock.ElapsedMilliseconds;
        int[] values = await Wait.WithinAsync(Task.WhenAll(handles.Select(h => h.GetAsync(TimeSpan.FromSeconds(60)))), TimeSpan.FromSeconds(90), $"{count} results");
        long doneMs = clock.ElapsedMilliseconds;

        TaskResult[] records = await Task.WhenAll(handles.Select(h => h.GetResultAsync().AsTask()));
        var byWorker = records.GroupBy(r => r.Worker ?? "?").ToDictionary(g => g.Key, g => g.Count());
        IReadOnlyList<string> ledger = await Ledger.ReadAsync(run);
        var perN = ledger.GroupBy(e => e).ToDictionary(g => g.Key, g => g.Count());
        int[] missing = [.. Enumerable.Range(0, count).Where(n => !perN.ContainsKey(n.ToString(System.Globalization.CultureInfo.InvariantCulture)))];
        string[] duplicated = [.. perN.Where(p => p.Value > 1).Select(p => $"{p.Key}x{p.Value}")];
        Output.WriteLine($"sent {count} in {sentMs} ms, all results in {doneMs} ms; per worker: {string.Join(", ", byWorker.Select(p => $"{p.Key}={p.Value}"))}");
        Output.WriteLine($"ledger: {ledger.Count} entries, {perN.Count} distinct, missing [{string.Join(",", missing)}], duplicated [{string.Join(",", duplicated)}]");

        Assert.Equal(Enumerable.Range(0, count), values);
        Assert.All(records, r => Assert.Equal(TaskState.Success, r.State));
        Assert.Empty(missing);
        Assert.Empty(duplicated);
        Assert.Equal(count, ledger.Count);
        Assert.True(byWorker.Count == 2, $"expected both workers to run tasks; got {string.Join(", ", byWorker.Select(p => $"{p.Key}={p.Value}"))}");
    }
}

/// <summary>The end-to-end contract with the in-process broker (no Redis).</summary>
public sealed class InProcessEndToEndUnitTests(ITestOutputHelper output) : EndToEndContract(output)
{
    protected override string? Redis => null;
}
