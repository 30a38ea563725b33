using System.Diagnostics;
using System.Globalization;
using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.TestTasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Celeriac.IntegrationTests.FaultSuite;

/// <summary>
/// Retry policies declared on [Task] (generated TaskPolicy), soft time limits and revoke, end to end in one process,
/// run against each broker.
/// </summary>
public abstract class RetryPolicyContract(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);
    private readonly MemoryLedger _ledger = new();
    private IHost? _host;

    protected ITestOutputHelper Output { get; } = output;

    protected abstract Task<string?> RedisAsync();

    private ITaskClient Client => _host!.Services.GetRequiredService<ITaskClient>();

    public async Task InitializeAsync()
    {
        string? redis = await RedisAsync();
        _host = await TestHost.StartAsync(Output, "worker", redis, RedisFixture.NewPrefix(), _ledger);
    }

    public Task DisposeAsync() => _host is null ? Task.CompletedTask : TestHost.StopAllAsync([_host]);

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
        await Task.Delay(500); // 50 retry backoffs of 10 ms: a retry would have started by now
        Output.WriteLine($"OBSERVED: soft {softFailure.RemoteMessage}; hard {hardFailure.RemoteMessage}; tries {(await _ledger.ReadAsync(soft)).Count} and {(await _ledger.ReadAsync(hard)).Count}");
        Assert.Equal("Celeriac.TimeLimitExceeded", softFailure.RemoteType);
        Assert.Equal("Celeriac.TimeLimitExceeded", hardFailure.RemoteType);
        Assert.Equal(["try"], await _ledger.ReadAsync(soft));
        Assert.Equal(["try"], await _ledger.ReadAsync(hard));
        Assert.Equal(0, (await softHandle.GetResultAsync()).Retries);
        Assert.Equal(0, (await hardHandle.GetResultAsync()).Retries);
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
        await Task.Delay(200);
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
    public async Task Revoking_a_running_task_cancels_its_token_and_ends_it_REVOKED()
    {
        string run = Guid.NewGuid().ToString("N");
        TaskHandle<int> handle = await Work.SleepTask.DelayAsync(Client, run, 1, 20_000);
        await Wait.UntilAsync(async () => (await _ledger.ReadAsync(run)).Contains("start:1"), Bound, "the task to start");
        var clock = Stopwatch.StartNew();
        await _host!.Services.GetRequiredService<CeleriacClient>().RevokeAsync(handle.Id);
        TaskRevokedException revoked = await Assert.ThrowsAsync<TaskRevokedException>(() => handle.GetAsync(Bound));
        Output.WriteLine($"OBSERVED: REVOKED ({revoked.Reason}) {clock.ElapsedMilliseconds} ms after RevokeAsync");
        Assert.DoesNotContain("done:1", await _ledger.ReadAsync(run));
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
