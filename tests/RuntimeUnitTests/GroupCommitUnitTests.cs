using Celeriac.Worker;
using Microsoft.Extensions.Time.Testing;

namespace Celeriac.RuntimeUnitTests;

/// <summary>The group commit of per-task writes: batching, per-item results, retry with backoff on the clock, giving up, and never stalling.</summary>
public sealed class GroupCommitUnitTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);
    private readonly FakeTimeProvider _time = new();

    [Fact]
    public async Task An_item_sent_to_an_idle_commit_goes_at_once_and_gets_its_own_result()
    {
        var calls = new List<int[]>();
        var commit = new GroupCommit<int>(
            (batch, results) =>
            {
                calls.Add([.. batch]);
                for (int i = 0; i < batch.Count; i++)
                {
                    results[i] = batch[i] * 10;
                }

                return Task.CompletedTask;
            },
            (_, _) => true,
            TimeSpan.FromSeconds(30),
            _time);

        Assert.Equal(70, await commit.SendAsync(7).AsTask().WaitAsync(Bound));
        Assert.Equal(80, await commit.SendAsync(8).AsTask().WaitAsync(Bound));
        Assert.Equal([[7], [8]], calls);
    }

    [Fact]
    public async Task Items_queued_while_a_send_is_in_flight_go_together_in_the_next_send()
    {
        var calls = new List<int[]>();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var commit = new GroupCommit<int>(
            async (batch, results) =>
            {
                calls.Add([.. batch]);
                if (calls.Count == 1)
                {
                    await gate.Task;
                }

                for (int i = 0; i < batch.Count; i++)
                {
                    results[i] = batch[i] + 100;
                }
            },
            (_, _) => true,
            TimeSpan.FromSeconds(30),
            _time);

        Task<int> first = commit.SendAsync(1).AsTask();
        Task<int>[] queued = [.. Enumerable.Range(2, 5).Select(i => commit.SendAsync(i).AsTask())];
        gate.SetResult();
        int[] results = await Task.WhenAll(queued).WaitAsync(Bound);
        output.WriteLine($"calls: {string.Join(" ", calls.Select(c => "[" + string.Join(",", c) + "]"))}");
        Assert.Equal(101, await first.WaitAsync(Bound));
        Assert.Equal([102, 103, 104, 105, 106], results);
        Assert.Equal(2, calls.Count);
        Assert.Equal([2, 3, 4, 5, 6], calls[1]);
    }

    [Fact]
    public async Task A_failed_send_is_retried_after_a_backoff_that_doubles_on_the_clock()
    {
        int attempts = 0;
        var backoffs = new List<int>();
        var commit = new GroupCommit<int>(
            (batch, results) =>
            {
                if (++attempts < 4)
                {
                    throw new TimeoutException("broker unreachable");
                }

                results[0] = 1;
                return Task.CompletedTask;
            },
            (_, backoffMs) =>
            {
                backoffs.Add(backoffMs);
                return true;
            },
            TimeSpan.FromSeconds(30),
            _time);

        Task<int> sent = commit.SendAsync(1).AsTask();
        await Task.Delay(50);
        Assert.False(sent.IsCompleted); // waits on the fake clock, not on real time
        Assert.Equal(1, attempts);
        await AdvanceUntilAsync(sent, TimeSpan.FromMilliseconds(10));
        output.WriteLine($"attempts {attempts}, backoffs [{string.Join(", ", backoffs)}] ms");
        Assert.Equal(1, await sent);
        Assert.Equal([50, 100, 200], backoffs);
    }

    [Fact]
    public async Task A_send_that_keeps_failing_fails_its_items_once_the_give_up_time_has_passed_on_the_clock()
    {
        int attempts = 0;
        var commit = new GroupCommit<int>(
            (_, _) =>
            {
                attempts++;
                throw new TimeoutException("broker unreachable");
            },
            (_, _) => true,
            TimeSpan.FromSeconds(3),
            _time);

        Task<int> sent = commit.SendAsync(1).AsTask();
        await AdvanceUntilAsync(sent, TimeSpan.FromMilliseconds(100));
        output.WriteLine($"gave up after {attempts} attempts, {_time.GetUtcNow() - _time.Start} on the clock");
        await Assert.ThrowsAsync<TimeoutException>(() => sent);
        Assert.InRange(_time.GetUtcNow() - _time.Start, TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task An_error_callback_that_says_stop_fails_the_batch_at_once()
    {
        var commit = new GroupCommit<int>(
            (_, _) => throw new ObjectDisposedException("broker"),
            (_, _) => false,
            TimeSpan.FromSeconds(30),
            _time);

        await Assert.ThrowsAsync<ObjectDisposedException>(() => commit.SendAsync(1).AsTask().WaitAsync(Bound));
    }

    [Fact]
    public async Task When_something_besides_the_send_throws_the_batch_fails_and_later_items_still_go()
    {
        bool failNext = true;
        var commit = new GroupCommit<int>(
            (batch, results) =>
            {
                if (failNext)
                {
                    failNext = false;
                    throw new TimeoutException("broker unreachable");
                }

                results[0] = batch[0];
                return Task.CompletedTask;
            },
            (_, _) => throw new InvalidOperationException("the error callback itself failed"),
            TimeSpan.FromSeconds(30),
            _time);

        Task<int> first = commit.SendAsync(1).AsTask();
        Exception error = await Assert.ThrowsAnyAsync<Exception>(() => first.WaitAsync(Bound));
        output.WriteLine($"the first item failed with {error.GetType().Name}: {error.Message}");
        Assert.IsNotType<TimeoutException>(error); // the flusher did not hang: the item's own await ended

        // The flusher is not stuck: the next item is sent.
        Assert.Equal(2, await commit.SendAsync(2).AsTask().WaitAsync(Bound));
    }

    [Fact]
    public async Task Many_concurrent_senders_each_get_their_own_result()
    {
        var commit = new GroupCommit<int>(
            async (batch, results) =>
            {
                await Task.Yield();
                for (int i = 0; i < batch.Count; i++)
                {
                    results[i] = -batch[i];
                }
            },
            (_, _) => true,
            TimeSpan.FromSeconds(30),
            _time);

        int[] results = await Task.WhenAll(Enumerable.Range(0, 2000).Select(i => Task.Run(async () => await commit.SendAsync(i)))).WaitAsync(Bound);
        Assert.Equal(Enumerable.Range(0, 2000).Select(i => -i), results);
    }

    /// <summary>Moves the fake clock on in small steps until <paramref name="task"/> ends (bounded in real time).</summary>
    private async Task AdvanceUntilAsync(Task task, TimeSpan step)
    {
        DateTime deadline = DateTime.UtcNow + Bound;
        while (!task.IsCompleted && DateTime.UtcNow < deadline)
        {
            _time.Advance(step);
            await Task.Delay(1);
        }

        Assert.True(task.IsCompleted, "the commit did not finish on the fake clock");
    }
}
