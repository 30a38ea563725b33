using System.Text;
using Celeriac.Brokers;
using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.Redis;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace Celeriac.IntegrationTests.Brokers;

/// <summary>
/// Corrupt bookkeeping and ids that are not UTF-8, written straight into a queue's keys (docs/protocol.md, "Key layout")
/// next to valid messages: the corrupt message is set aside in the dead letters with its reason, every valid message is
/// still delivered and completed, nothing is lost and nothing is duplicated in <c>pending</c>.
/// </summary>
public sealed class RedisHostileInputTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Ttl = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);
    private RedisBroker? _broker;
    private IDatabase? _db;
    private readonly string _queue = "q" + Guid.NewGuid().ToString("N")[..8];

    private RedisBroker Broker => _broker!;

    private IDatabase Db => _db!;

    public async Task InitializeAsync()
    {
        ConnectionMultiplexer redis = await RedisFixture.GetAsync();
        string prefix = RedisFixture.NewPrefix();
        output.WriteLine($"redis {RedisFixture.Configuration}, key prefix {prefix}, queue {_queue}");
        _db = redis.GetDatabase();
        _broker = new RedisBroker(redis, new CeleriacOptions { Redis = RedisFixture.Configuration, KeyPrefix = prefix }, NullLogger.Instance, TimeProvider.System);
    }

    public async Task DisposeAsync()
    {
        if (_broker is not null)
        {
            await _broker.DisposeAsync();
        }
    }

    /// <summary>How each corruption is written into the message hash of id "bad".</summary>
    public static TheoryData<string, string> Corruptions => new()
    {
        { "dc=x", "corrupt: dc is not a number" },
        { "dc=1.5", "corrupt: dc is not a number" },
        { "dc=99999999999", "corrupt: dc is not a number" },
        { "runs=abc", "corrupt: runs is not a number" },
        { "runs=-1", "corrupt: runs is not a number" },
        { "no-msg", "corrupt: msg is missing" },
        { "not-a-hash", "corrupt: the message key is not a hash" },
    };

    [Theory]
    [MemberData(nameof(Corruptions))]
    public async Task A_corrupt_message_popped_with_valid_ones_is_set_aside_and_the_valid_ones_are_leased(string corruption, string reason)
    {
        await Broker.EnqueueAsync([Item("a1"), Item("bad"), Item("a2"), Item("a3")], default);
        await CorruptAsync("bad", corruption);

        List<Delivery> got = await FetchAsync(10);
        output.WriteLine($"{corruption}: leased {string.Join(",", got.Select(d => d.Id))}");
        Assert.Equal(["a1", "a2", "a3"], got.Select(d => d.Id));
        await AssertCompletedAsync(got);
        await AssertSetAsideAsync("bad", reason);
        Assert.Empty(await FetchAsync(10));
    }

    [Fact]
    public async Task A_client_waiting_for_a_message_that_is_set_aside_as_corrupt_is_answered_with_FAILURE()
    {
        await Broker.EnqueueAsync([Item("bad")], default);
        await CorruptAsync("bad", "dc=x");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Task<TaskResult> waiting = Broker.WaitResultAsync("bad", _queue, TimeSpan.FromSeconds(60), default);
        await Wait.SubscribedAsync(Db, Broker.Keys.DoneChannelName("bad"), TimeSpan.FromSeconds(20), "the waiter to subscribe before the fetch sets the message aside");
        Assert.False(waiting.IsCompleted);

        Assert.Empty(await FetchAsync(10));
        TaskResult result = await waiting;
        output.WriteLine($"waiter answered after {clock.ElapsedMilliseconds} ms: {result.State} {result.Error?.Type}: {result.Error?.Message}");
        Assert.Equal(TaskState.Failure, result.State);
        Assert.Equal("Celeriac.CorruptMessage", result.Error?.Type);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), "the waiter was answered by its timeout's re-read, not by the set-aside's notification");
    }

    [Theory]
    [InlineData("x")]
    [InlineData("42")]
    [InlineData("2.5")]
    [InlineData("-1")]
    public async Task A_scheduled_message_with_a_corrupt_priority_is_set_aside_and_the_queue_keeps_flowing(string pri)
    {
        long due = Now() + 300;
        await Broker.EnqueueAsync([Item("s1", due), Item("bad", due), Item("s2", due, priority: 4)], default);
        await Db.HashSetAsync(Broker.Keys.Task(_queue, "bad"), "pri", pri);
        await Task.Delay(400);

        // Fetched twice: a corrupt entry that failed the fetch would fail every fetch from now on and push the ids
        // before it to pending again on each attempt.
        List<Delivery> got = await FetchAsync(10);
        got.AddRange(await FetchAsync(10));
        output.WriteLine($"pri={pri}: leased {string.Join(",", got.Select(d => d.Id))}");
        Assert.Equal(["s2", "s1"], got.Select(d => d.Id));
        await AssertCompletedAsync(got);
        await AssertSetAsideAsync("bad", "corrupt: pri is not a priority (0-9)");
        Assert.Equal(0, await Db.SortedSetLengthAsync(Broker.Keys.Scheduled(_queue)));
    }

    [Fact]
    public async Task A_reclaimed_lease_with_a_corrupt_priority_is_set_aside()
    {
        await Broker.EnqueueAsync([Item("bad")], default);
        Delivery first = Assert.Single(await FetchAsync(10, TimeSpan.FromMilliseconds(200)));
        await Db.HashSetAsync(Broker.Keys.Task(_queue, "bad"), "pri", "x");
        await Task.Delay(300);
        await Broker.EnqueueAsync([Item("a1")], default);

        List<Delivery> got = await FetchAsync(10);
        Assert.Equal(["a1"], got.Select(d => d.Id));
        await AssertCompletedAsync(got);
        await AssertSetAsideAsync("bad", "corrupt: pri is not a priority (0-9)");
        Assert.False(await CompleteAsync(first), "the expired lease must not complete a dead letter");
    }

    [Theory]
    [InlineData("pri", "x", "corrupt: pri is not a priority (0-9)")]
    [InlineData("runs", "many", "corrupt: runs is not a number")]
    public async Task A_release_of_a_message_whose_bookkeeping_turned_corrupt_sets_it_aside(string field, string value, string reason)
    {
        await Broker.EnqueueAsync([Item("bad"), Item("a1")], default);
        List<Delivery> got = await FetchAsync(10);
        Assert.Equal(["bad", "a1"], got.Select(d => d.Id));
        await Db.HashSetAsync(Broker.Keys.Task(_queue, "bad"), field, value);

        await Broker.ReleaseAsync(got, default);
        List<Delivery> again = await FetchAsync(10);
        Assert.Equal(["a1"], again.Select(d => d.Id));
        await AssertCompletedAsync(again);
        await AssertSetAsideAsync("bad", reason);
    }

    [Fact]
    public async Task Requeueing_a_corrupt_dead_letter_repairs_its_bookkeeping()
    {
        await Broker.EnqueueAsync([Item("bad")], default);
        await Db.HashSetAsync(Broker.Keys.Task(_queue, "bad"), [new HashEntry("dc", "x"), new HashEntry("runs", "y"), new HashEntry("pri", "z")]);
        Assert.Empty(await FetchAsync(10));
        await AssertSetAsideAsync("bad", "corrupt: dc is not a number");

        Assert.Equal(1, await Broker.RequeueDeadLettersAsync(_queue, ["bad"], default));
        Delivery d = Assert.Single(await FetchAsync(10));
        Assert.Equal("bad", d.Id);
        Assert.Equal(1, d.DeliveryCount);
        Assert.Equal(0, d.Runs);
        await AssertCompletedAsync([d]);
    }

    [Fact]
    public async Task A_result_key_of_another_type_does_not_wedge_the_completions_of_a_batch()
    {
        await Broker.EnqueueAsync([Item("a1"), Item("a2"), Item("a3")], default);
        List<Delivery> got = await FetchAsync(10);
        await Db.StringSetAsync(Broker.Keys.Result(_queue, "a2"), "not a hash");

        var completed = new int[got.Count];
        await Broker.CompleteManyAsync([.. got.Select(d => new CompleteItem(d, Success()))], Ttl, completed, default);
        Assert.Equal([1, 1, 1], completed);
        Assert.Equal(TaskState.Success, (await Broker.GetResultAsync("a2", _queue, default)).State);
    }

    [Fact]
    public async Task A_priority_list_of_another_type_holds_back_only_its_own_messages_and_loses_none()
    {
        long due = Now() + 300;
        await Broker.EnqueueAsync([Item("p5", due, priority: 5), Item("a1", due)], default);
        RedisKey level5 = Broker.Keys.Pending(_queue).Append(":5");
        await Db.StringSetAsync(level5, "not a list");
        await Task.Delay(400);

        List<Delivery> got = await FetchAsync(10);
        got.AddRange(await FetchAsync(10));
        Assert.Equal(["a1"], got.Select(d => d.Id));
        Assert.Equal(["p5"], (await Db.SortedSetRangeByRankAsync(Broker.Keys.Scheduled(_queue))).Select(v => (string)v!));

        await Db.KeyDeleteAsync(level5);
        List<Delivery> after = await FetchAsync(10);
        Assert.Equal(["p5"], after.Select(d => d.Id));
        await AssertCompletedAsync([.. got, .. after]);
    }

    [Fact]
    public async Task An_id_whose_key_holds_another_type_is_refused_at_enqueue_and_the_rest_are_stored()
    {
        await Db.StringSetAsync(Broker.Keys.Task(_queue, "taken"), "not a hash");
        InvalidOperationException refused = await Assert.ThrowsAsync<InvalidOperationException>(() => Broker.EnqueueAsync([Item("a1"), Item("taken"), Item("a2")], default));
        output.WriteLine(refused.Message);
        Assert.Contains("'taken'", refused.Message, StringComparison.Ordinal);
        List<Delivery> got = await FetchAsync(10);
        Assert.Equal(["a1", "a2"], got.Select(d => d.Id));
    }

    [Fact]
    public async Task Queue_keys_of_another_type_fail_their_call_with_nothing_changed_or_are_replaced()
    {
        // notify holds only a wake-up token: one of another type is replaced.
        await Db.StringSetAsync(Broker.Keys.Notify(_queue), "not a list");
        await Broker.EnqueueAsync([Item("a1")], default);
        Assert.Equal(1, await Db.ListLengthAsync(Broker.Keys.Notify(_queue)));

        // A dead set of another type: dead-lettering fails and changes nothing; the lease still completes.
        Delivery d = Assert.Single(await FetchAsync(10));
        await Db.StringSetAsync(Broker.Keys.Dead(_queue), "not a zset");
        RedisServerException deadFailure = await Assert.ThrowsAsync<RedisServerException>(() => Broker.DeadLetterAsync(d, "undecodable: test", Failure(), Ttl, default));
        output.WriteLine(deadFailure.Message);
        Assert.NotNull(await Db.SortedSetScoreAsync(Broker.Keys.Active(_queue), "a1"));
        Assert.False(await Db.HashExistsAsync(Broker.Keys.Task(_queue, "a1"), "reason"));
        await AssertCompletedAsync([d]);

        // A pending list of another type: the enqueue fails and stores nothing it could not queue.
        await Db.StringSetAsync(Broker.Keys.Pending(_queue), "not a list");
        RedisServerException enqueueFailure = await Assert.ThrowsAsync<RedisServerException>(() => Broker.EnqueueAsync([Item("a2")], default));
        output.WriteLine(enqueueFailure.Message);
        Assert.False(await Db.KeyExistsAsync(Broker.Keys.Task(_queue, "a2")));
        await Db.KeyDeleteAsync(Broker.Keys.Pending(_queue));
        await Broker.EnqueueAsync([Item("a2")], default);
        Assert.Equal(["a2"], (await FetchAsync(10)).Select(x => x.Id));
    }

    /// <summary>An id whose bytes are not UTF-8 (its string decoding is lossy and would name another key).</summary>
    private static byte[] RawId(byte tag) => [0xFF, 0xFE, (byte)'i', (byte)'d', tag, 0xC3];

    [Fact]
    public async Task Every_fenced_call_addresses_an_id_that_is_not_utf8_by_its_exact_bytes()
    {
        byte[][] ids = [RawId(1), RawId(2), RawId(3), RawId(4)];
        foreach (byte[] id in ids)
        {
            await Db.HashSetAsync(Broker.Keys.Task(_queue, id), "msg", "raw");
            await Db.ListLeftPushAsync(Broker.Keys.Pending(_queue), id);
        }

        List<Delivery> got = await FetchAsync(10);
        Assert.Equal(ids.Select(Convert.ToHexString), got.Select(d => Convert.ToHexString(d.IdUtf8.Span)));
        Delivery dead = got[0], retried = got[1], released = got[2], completed = got[3];

        // The heartbeat's copies and the start and extend calls.
        List<Delivery> copies = [.. got.Select(d => d.CopyLease())];
        Assert.Equal(4, await Broker.ExtendLeasesAsync(copies, Lease, default));
        var runs = new int[3];
        await Broker.MarkStartedManyAsync([new StartItem(dead, null), new StartItem(retried, null), new StartItem(released, new TaskResult { State = TaskState.Started })], Ttl, runs, default);
        Assert.Equal([1, 1, 1], runs);
        Assert.Equal("STARTED", (string?)await Db.HashGetAsync(Broker.Keys.Result(_queue, ids[2]), "state"));

        Assert.True(await Broker.DeadLetterAsync(dead, "undecodable: test", Failure(), Ttl, default), "dead letter");
        Assert.NotNull(await Db.SortedSetScoreAsync(Broker.Keys.Dead(_queue), ids[0]));
        Assert.Equal("undecodable: test", (string?)await Db.HashGetAsync(Broker.Keys.Task(_queue, ids[0]), "reason"));
        Assert.Equal("FAILURE", (string?)await Db.HashGetAsync(Broker.Keys.Result(_queue, ids[0]), "state"));
        DeadLetter letter = Assert.Single(await Broker.GetDeadLettersAsync(_queue, 10, default));
        Assert.Equal("undecodable: test", letter.Reason);

        Assert.True(await Broker.RetryAsync(retried, "retry"u8.ToArray(), Now() + 60_000, new TaskResult { State = TaskState.Retry }, Ttl, default), "retry");
        Assert.NotNull(await Db.SortedSetScoreAsync(Broker.Keys.Scheduled(_queue), ids[1]));

        await Broker.ReleaseAsync([released], default);
        Assert.Equal(ids[2], (byte[]?)await Db.ListGetByIndexAsync(Broker.Keys.Pending(_queue), -1));

        Assert.True(await CompleteAsync(completed), "complete");
        Assert.Equal("SUCCESS", (string?)await Db.HashGetAsync(Broker.Keys.Result(_queue, ids[3]), "state"));
        Assert.False(await Db.KeyExistsAsync(Broker.Keys.Task(_queue, ids[3])));

        Assert.Null(await Db.SortedSetScoreAsync(Broker.Keys.Active(_queue), ids[2]));
        Delivery back = Assert.Single(await FetchAsync(10));
        Assert.Equal(ids[2], back.IdUtf8.ToArray());
    }

    private async Task CorruptAsync(string id, string corruption)
    {
        RedisKey key = Broker.Keys.Task(_queue, id);
        switch (corruption)
        {
            case "no-msg":
                await Db.HashDeleteAsync(key, "msg");
                await Db.HashSetAsync(key, "dc", "0");
                break;
            case "not-a-hash":
                await Db.KeyDeleteAsync(key);
                await Db.StringSetAsync(key, "not a hash");
                break;
            default:
                string[] pair = corruption.Split('=');
                await Db.HashSetAsync(key, pair[0], pair[1]);
                break;
        }
    }

    private async Task AssertSetAsideAsync(string id, string reason)
    {
        Assert.NotNull(await Db.SortedSetScoreAsync(Broker.Keys.Dead(_queue), id));
        DeadLetter letter = Assert.Single(await Broker.GetDeadLettersAsync(_queue, 10, default));
        output.WriteLine($"dead letter {letter.Id}: {letter.Reason}");
        Assert.Equal(id, letter.Id);
        Assert.Equal(reason, letter.Reason);
        Assert.Equal(0, await Broker.GetQueueLengthAsync(_queue, default));
        Assert.Null(await Db.SortedSetScoreAsync(Broker.Keys.Active(_queue), id));

        // Whoever waits for it is answered: a FAILURE record naming the corruption, readable by id and by queue.
        TaskResult result = await Broker.GetResultAsync(id, _queue, default);
        output.WriteLine($"result of {id}: {result.State} {result.Error?.Type}: {result.Error?.Message}");
        Assert.Equal(TaskState.Failure, result.State);
        Assert.Equal("Celeriac.CorruptMessage", result.Error?.Type);
        Assert.Equal(reason, result.Error?.Message);
    }

    private async Task AssertCompletedAsync(IReadOnlyList<Delivery> deliveries)
    {
        foreach (Delivery d in deliveries)
        {
            Assert.True(await CompleteAsync(d), $"{d.Id} must complete");
        }

        Assert.Equal(0, await Db.SortedSetLengthAsync(Broker.Keys.Active(_queue)));
    }

    private async Task<bool> CompleteAsync(Delivery delivery)
    {
        var completed = new int[1];
        await Broker.CompleteManyAsync([new CompleteItem(delivery, Success())], Ttl, completed, default);
        return completed[0] == 1;
    }

    private async Task<List<Delivery>> FetchAsync(int max, TimeSpan? lease = null)
    {
        var into = new List<Delivery>();
        await Broker.FetchAsync(new FetchRequest([_queue], max, lease ?? Lease, TimeSpan.Zero, "w1"), into, default);
        return into;
    }

    private EnqueueItem Item(string id, long dueAtMs = 0, int priority = 0) => new(id, _queue, Encoding.UTF8.GetBytes("envelope-of-" + id), dueAtMs, priority);

    private static long Now() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    private static TaskResult Success() => new() { State = TaskState.Success, Value = new byte[] { 1 }, TaskName = "hostile.task", Worker = "w1" };

    private static TaskResult Failure() => new() { State = TaskState.Failure, Error = new TaskError("Celeriac.UndecodableMessage", "test", null), Worker = "w1" };
}
