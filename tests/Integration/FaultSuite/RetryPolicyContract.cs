using System.Diagnostics;
using System.Globalization;
using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.TestTasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Celeriac.IntegrationTests.FaultSuite;

/// <summary>
/// Retry policies declared on [Task] (generated TaskPolicy), soft and hard time limits (the abandoned run's slot, late
/// value and DI scope) and the revoke of a running task, end to end in one process, run against each broker.
/// </summary>
public abstract class RetryPolicyContract(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);
    private readonly MemoryLedger _ledger = new();
    private readonly List<IHost> _hosts = [];
    private IHost? _host;
    private string? _redis;

    protected ITestOutputHelper Output { get; } = output;

    protected abstract Task<string?> RedisAsync();

    private ITaskClient Client => _host!.Services.GetRequiredService<ITaskClient>();

    public async Task InitializeAsync()
    {
        _redis = await RedisAsync();
        _host = await TestHost.StartAsync(Output, "worker", _redis, RedisFixture.NewPrefix(), _ledger);
        _hosts.Add(_host);
    }

    public Task DisposeAsync() => TestHost.StopAllAsync(_hosts);

    [Fact]
    public async Task A_retried_exception_is_retried_until_it_succeeds()
    {
        string run = Guid.NewGuid().ToString("N");
        TaskHandle<int> handle = await Faults.FlakyTask.DelayAsync(Client, run, 2);
        int value = await handle.GetAsync(Bound);
        TaskResult result = await handle.GetResultAsync();
        IReadOnlyList<string> tries = await _ledger.ReadAsync(run);
        Output.WriteLine($"OBSERVED: value {value}, retries {result.Retries}, tries [{string.Join(", ", tries)}]");
        Assert.Equal(2, value);
        Assert.Equal(2, result.Retries);
        Assert.Equal(["try:0", "try:1", "try:2"], tries);
    }

    [Fact]
    public async Task An_explicit_retry_waits_its_countdown_in_state_RETRY()
    {
        const int CountdownMs = 1200;
        string run = Guid.NewGuid().ToString("N");
        TaskHandle<int> handle = await Faults.AskRetryTask.DelayAsync(Client, run, CountdownMs);
        await Wait.UntilAsync(async () => await handle.GetStateAsync() == TaskState.Retry, Bound, "state RETRY");
        TaskResult retry = await handle.GetResultAsync();
        int value = await handle.GetAsync(Bound);
        long[] at = [.. (await _ledger.ReadAsync(run)).Select(e => long.Parse(e.Split(':')[2], CultureInfo.InvariantCulture))];
        Output.WriteLine($"OBSERVED: RETRY with {retry.Error?.Type}: {retry.Error?.Message}; then value {value}; second run {at[1] - at[0]} ms after the first (countdown {CountdownMs} ms)");
        Assert.Equal("System.TimeoutException", retry.Error?.Type);
        Assert.Equal("upstream timed out", retry.Error?.Message);
        Assert.Equal(1, value);
        Assert.Equal(2, at.Length);
        Assert.True(at[1] - at[0] >= CountdownMs - 5, $"the retry ran {at[1] - at[0]} ms after the first run, before its {CountdownMs} ms countdown");
    }

    [Fact]
    public async Task Exhausted_retries_end_in_FAILURE_with_the_last_error_and_a_dead_letter()
    {
        string run = Guid.NewGuid().ToString("N");
        TaskHandle<int> handle = await Faults.AlwaysFailsTask.DelayAsync(Client, run);
        TaskFailedException failure = await Assert.ThrowsAsync<TaskFailedException>(() => handle.GetAsync(Bound));
        IReadOnlyList<string> tries = await _ledger.ReadAsync(run);
        IReadOnlyList<Celeriac.Brokers.DeadLetter> dead = await _host!.Services.GetRequiredService<CeleriacClient>().GetDeadLettersAsync("default");
        Output.WriteLine($"OBSERVED: {failure.RemoteType}: {failure.RemoteMessage}; tries [{string.Join(", ", tries)}]; dead letters [{string.Join("; ", dead.Select(d => d.Id + " " + d.Reason))}]");
        Assert.Equal("System.InvalidOperationException", failure.RemoteType);
        Assert.Equal("attempt 2 fails", failure.RemoteMessage);
        Assert.Equal(["try:0", "try:1", "try:2"], tries);
        Celeriac.Brokers.DeadLetter letter = Assert.Single(dead, d => d.Id == handle.Id);
        Assert.StartsWith("failed: System.InvalidOperationException", letter.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_requeued_dead_letter_gets_a_fresh_start_with_all_its_retries()
    {
        string run = Guid.NewGuid().ToString("N");
        CeleriacClient client = _host!.Services.GetRequiredService<CeleriacClient>();
        TaskHandle<int> handle = await Faults.AlwaysFailsTask.DelayAsync(Client, run);
        await Assert.ThrowsAsync<TaskFailedException>(() => handle.GetAsync(Bound));
        await Wait.UntilAsync(async () => (await client.GetDeadLettersAsync("default", 1000)).Any(d => d.Id == handle.Id), Bound, "the dead letter");

        Assert.Equal(1, await client.RequeueDeadLettersAsync("default", [handle.Id]));
        TaskFailedException again = await Assert.ThrowsAsync<TaskFailedException>(() => handle.GetAsync(Bound));
        await Wait.UntilAsync(async () => (await client.GetDeadLettersAsync("default", 1000)).Any(d => d.Id == handle.Id), Bound, "the dead letter again");
        IReadOnlyList<string> tries = await _ledger.ReadAsync(run);
        TaskResult result = await handle.GetResultAsync();
        Output.WriteLine($"OBSERVED: tries [{string.Join(", ", tries)}]; then {again.RemoteMessage}, retries {result.Retries}");
        Assert.Equal(["try:0", "try:1", "try:2", "try:0", "try:1", "try:2"], tries);
        Assert.Equal(2, result.Retries);
    }

    [Fact]
    public async Task Dead_letters_of_every_known_queue_are_listed_at_once_with_their_task_name_and_retries()
    {
        string run = Guid.NewGuid().ToString("N");
        CeleriacClient client = _host!.Services.GetRequiredService<CeleriacClient>();
        TaskHandle<int> onDefault = await Faults.AlwaysFailsTask.DelayAsync(Client, run);
        TaskHandle<int> onSlow = await Faults.AlwaysFailsTask.ApplyAsync(Client, run, new TaskOptions { Queue = "slow" });
        await Assert.ThrowsAsync<TaskFailedException>(() => onDefault.GetAsync(Bound));
        await Assert.ThrowsAsync<TaskFailedException>(() => onSlow.GetAsync(Bound));

        IReadOnlyList<Celeriac.Brokers.DeadLetter> all = [];
        await Wait.UntilAsync(async () => (all = await client.GetAllDeadLettersAsync()).Count(d => d.Id == onDefault.Id || d.Id == onSlow.Id) == 2, Bound, "both dead letters");
        Output.WriteLine($"OBSERVED: {string.Join("; ", all.Select(d => $"{d.Queue}/{d.Id} {d.TaskName} retries {d.Retries}: {d.Reason}"))}");
        Celeriac.Brokers.DeadLetter first = Assert.Single(all, d => d.Id == onDefault.Id);
        Celeriac.Brokers.DeadLetter second = Assert.Single(all, d => d.Id == onSlow.Id);
        Assert.Equal(("default", "slow"), (first.Queue, second.Queue));
        Assert.Equal(Faults.AlwaysFailsTask.Name, first.TaskName);
        Assert.Equal(Faults.AlwaysFailsTask.Name, second.TaskName);
        Assert.Equal(2, first.Retries);
        Assert.Equal([.. all.OrderBy(d => d.At)], all);
        Assert.Single(await client.GetAllDeadLettersAsync(["slow"]), d => d.Id == onSlow.Id);
    }

    [Fact]
    public async Task An_exception_the_policy_never_retries_fails_at_once()
    {
        string run = Guid.NewGuid().ToString("N");
        TaskHandle<int> handle = await Faults.NeverRetriedTask.DelayAsync(Client, run);
        TaskFailedException failure = await Assert.ThrowsAsync<TaskFailedException>(() => handle.GetAsync(Bound));
        Assert.Equal("System.ArgumentException", failure.RemoteType);
        Assert.Equal(["try:0"], await _ledger.ReadAsync(run));
    }

    [Fact]
    public async Task Time_limit_failures_are_not_retried_even_when_retries_are_allowed()
    {
        string soft = Guid.NewGuid().ToString("N"), hard = Guid.NewGuid().ToString("N");
        TaskHandle<int> softHandle = await Faults.SoftLimitedWithRetriesTask.DelayAsync(Client, soft);
        TaskHandle<int> hardHandle = await Faults.HardLimitedWithRetriesTask.DelayAsync(Client, hard);
        TaskFailedException softFailure = await Assert.ThrowsAsync<TaskFailedException>(() => softHandle.GetAsync(Bound));
        TaskFailedException hardFailure = await Assert.ThrowsAsync<TaskFailedException>(() => hardHandle.GetAsync(Bound));
        // FAILURE is final: a retry would have recorded RETRY instead, and the waits would have ended only after the last
        // of three more runs. So the ledgers below are complete once the waits have ended; no time needs to pass.
        Output.WriteLine($"OBSERVED: soft {softFailure.RemoteMessage}; hard {hardFailure.RemoteMessage}; tries {(await _ledger.ReadAsync(soft)).Count} and {(await _ledger.ReadAsync(hard)).Count}");
        Assert.Equal("Celeriac.TimeLimitExceeded", softFailure.RemoteType);
        Assert.Equal("Celeriac.TimeLimitExceeded", hardFailure.RemoteType);
        Assert.Equal(["try"], await _ledger.ReadAsync(soft));
        Assert.Equal(["try"], await _ledger.ReadAsync(hard));
        Assert.Equal(0, (await softHandle.GetResultAsync()).Retries);
        Assert.Equal(0, (await hardHandle.GetResultAsync()).Retries);
    }

    [Fact]
    public async Task A_hard_time_limit_frees_the_slot_ignores_the_late_outcome_and_disposes_the_scope_when_the_run_ends()
    {
        string run = Guid.NewGuid().ToString("N");
        try
        {
            // One run per slot (concurrency 4), each blocking its thread past its 300 ms hard limit until the gate opens.
            TaskHandle<int>[] hung = await Overrun.BlockedTask.DelayManyAsync(Client, [.. Enumerable.Range(1, 4).Select(n => (run, n))]);
            foreach (TaskHandle<int> h in hung)
            {
                TaskFailedException failure = await Assert.ThrowsAsync<TaskFailedException>(() => h.GetAsync(Bound));
                Assert.Equal("Celeriac.TimeLimitExceeded", failure.RemoteType);
            }

            // Every slot is free although all four runs still block: a new task runs; and no abandoned run's DI scope
            // was disposed under it.
            Assert.Equal(99, await (await Work.RecordTask.DelayAsync(Client, run, 99)).GetAsync(Bound));
            IReadOnlyList<string> whileBlocked = await _ledger.ReadAsync(run);
            Output.WriteLine($"OBSERVED while the abandoned runs block: [{string.Join(", ", whileBlocked)}]");
            Assert.Contains("99", whileBlocked);
            Assert.DoesNotContain(whileBlocked, e => e.StartsWith("late:", StringComparison.Ordinal) || e.StartsWith("disposed:", StringComparison.Ordinal));

            Overrun.Open(run);
            await Wait.UntilAsync(async () => (await _ledger.ReadAsync(run)).Count(e => e.StartsWith("disposed:", StringComparison.Ordinal)) == 4, Bound, "the four abandoned runs' scopes to be disposed");
            IReadOnlyList<string> entries = await _ledger.ReadAsync(run);
            Output.WriteLine($"OBSERVED after the gate opened: [{string.Join(", ", entries)}]");
            for (int n = 1; n <= 4; n++)
            {
                string id = n.ToString(CultureInfo.InvariantCulture);
                Assert.Single(entries, e => e == "start:" + id); // not retried
                int late = IndexOf(entries, "late:" + id), disposed = IndexOf(entries, "disposed:" + id);
                Assert.True(late < disposed, $"run {n}'s scope was disposed before the abandoned run returned");
                Assert.Equal(TaskState.Failure, (await hung[n - 1].GetResultAsync()).State); // its late value is not recorded
            }
        }
        finally
        {
            Overrun.Open(run);
        }
    }

    [Fact]
    public async Task The_soft_time_limit_cancels_the_token_and_fails_with_a_time_limit_error()
    {
        var clock = Stopwatch.StartNew();
        string run = Guid.NewGuid().ToString("N");
        TaskHandle<int> handle = await Faults.CooperativeTask.DelayAsync(Client, run);
        TaskFailedException failure = await Assert.ThrowsAsync<TaskFailedException>(() => handle.GetAsync(Bound));
        long ms = clock.ElapsedMilliseconds;
        Output.WriteLine($"OBSERVED: {failure.RemoteType}: {failure.RemoteMessage} after {ms} ms (soft limit 300 ms; the task waits 20 s unless its token is cancelled)");
        Assert.Equal("Celeriac.TimeLimitExceeded", failure.RemoteType);
        Assert.Contains("soft time limit of 300 ms", failure.RemoteMessage, StringComparison.Ordinal);
        Assert.Equal(["start"], await _ledger.ReadAsync(run)); // it ran, once; not retried (time-limit failures are not)
        Assert.True(ms >= 250, $"failed after {ms} ms, well before its 300 ms soft limit"); // timers may fire a millisecond or two early
        Assert.True(ms < 15_000, $"failed after {ms} ms: the token was not cancelled at the soft limit (the task waits 20 s otherwise)");
    }

    [Fact]
    public async Task A_revoked_task_waiting_in_the_queue_behind_busy_slots_never_runs()
    {
        string run = Guid.NewGuid().ToString("N");
        CeleriacClient client = _host!.Services.GetRequiredService<CeleriacClient>();
        TaskHandle<int>[] busy = await Work.SleepTask.DelayManyAsync(Client, [.. Enumerable.Range(1, 4).Select(n => (run, n, 1500))]);
        await Wait.UntilAsync(async () => (await _ledger.ReadAsync(run)).Count == 4, Bound, "the four slots to be busy");
        TaskHandle<int> waiting = await Work.RecordTask.DelayAsync(Client, run, 99);
        // Prefetch = concurrency here: the task waits in the queue and the fetch script flags it revoked. The worker's
        // own path (a task already leased into a prefetch larger than the concurrency) is EndToEnd/HeldTaskTests.
        await client.RevokeAsync(waiting.Id);
        TaskRevokedException revoked = await Assert.ThrowsAsync<TaskRevokedException>(() => waiting.GetAsync(Bound));
        foreach (TaskHandle<int> h in busy)
        {
            await h.GetAsync(Bound);
        }

        IReadOnlyList<string> entries = await _ledger.ReadAsync(run);
        Output.WriteLine($"OBSERVED: queued task {revoked.Reason}; ledger [{string.Join(", ", entries)}]");
        Assert.DoesNotContain("99", entries);
    }

    [Fact]
    public async Task A_running_task_is_revoked_by_the_announcement_long_before_the_heartbeat_would_see_it()
    {
        // A 60 s visibility timeout: the heartbeat re-checks revocations every 20 s, so an end within 5 s is the
        // announcement's doing (Redis pub/sub; the in-process broker's subscribers), not the re-check's.
        IHost host = await TestHost.StartAsync(Output, "long-lease", _redis, RedisFixture.NewPrefix(), _ledger, celeriac: o => o.VisibilityTimeout = TimeSpan.FromSeconds(60));
        _hosts.Add(host);
        CeleriacClient client = host.Services.GetRequiredService<CeleriacClient>();
        string run = Guid.NewGuid().ToString("N");
        TaskHandle<int> handle = await Work.SleepTask.DelayAsync(client, run, 1, 50_000);
        await Wait.UntilAsync(async () => (await _ledger.ReadAsync(run)).Contains("start:1"), Bound, "the task to start");
        var clock = Stopwatch.StartNew();
        await client.RevokeAsync(handle.Id);
        TaskRevokedException revoked = await Assert.ThrowsAsync<TaskRevokedException>(() => handle.GetAsync(TimeSpan.FromSeconds(15)));
        Output.WriteLine($"OBSERVED: REVOKED ({revoked.Reason}) {clock.ElapsedMilliseconds} ms after RevokeAsync (heartbeat every 20 s)");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"revoked after {clock.ElapsedMilliseconds} ms: the announcement did not reach the worker");
        Assert.DoesNotContain("done:1", await _ledger.ReadAsync(run));
        Assert.Equal(TaskState.Revoked, (await handle.GetResultAsync()).State);
    }

    [Fact]
    public async Task A_revoked_running_task_that_still_returns_its_value_ends_SUCCESS()
    {
        // docs/protocol.md: a revoked running task ends REVOKED unless it still returns successfully (its work was done).
        string run = Guid.NewGuid().ToString("N");
        try
        {
            TaskHandle<int> handle = await Overrun.GatedTask.DelayAsync(Client, run, 7);
            await Wait.UntilAsync(async () => (await _ledger.ReadAsync(run)).Contains("start:7"), Bound, "the task to start");
            await _host!.Services.GetRequiredService<CeleriacClient>().RevokeAsync(handle.Id);
            await Wait.UntilAsync(async () => (await _ledger.ReadAsync(run)).Contains("cancelled:7"), Bound, "the revoke to cancel the running task's token");
            Overrun.Open(run); // the task ignores its token and returns its value
            int value = await handle.GetAsync(Bound);
            TaskResult result = await handle.GetResultAsync();
            Output.WriteLine($"OBSERVED: {result.State} with {value}; ledger [{string.Join(", ", await _ledger.ReadAsync(run))}]");
            Assert.Equal(7, value);
            Assert.Equal(TaskState.Success, result.State);
        }
        finally
        {
            Overrun.Open(run);
        }
    }

    private static int IndexOf(IReadOnlyList<string> entries, string entry)
    {
        int index = entries.ToList().IndexOf(entry);
        Assert.True(index >= 0, $"'{entry}' is not in the ledger [{string.Join(", ", entries)}]");
        return index;
    }
}

/// <summary>The retry, time-limit and revoke behaviour against Redis.</summary>
public sealed class RetryPolicyTests(ITestOutputHelper output) : RetryPolicyContract(output)
{
    protected override async Task<string?> RedisAsync()
    {
        _ = await RedisFixture.GetAsync();
        return RedisFixture.Configuration;
    }
}

/// <summary>The retry, time-limit and revoke behaviour against the in-process broker.</summary>
public sealed class RetryPolicyUnitTests(ITestOutputHelper output) : RetryPolicyContract(output)
{
    protected override Task<string?> RedisAsync() => Task.FromResult<string?>(null);
}
