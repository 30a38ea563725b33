using System.Diagnostics;
using System.Text;
using Celeriac.Brokers;
using Celeriac.IntegrationTests.Infrastructure;

namespace Celeriac.IntegrationTests.Brokers;

/// <summary>
/// The semantics every <see cref="ITaskBroker"/> promises, run against each implementation (Redis and in-memory).
/// Time is the broker's own clock (<see cref="Time"/>): real time with short leases (300-500 ms) on Redis, a
/// <c>FakeTimeProvider</c> moved by the test in process, so leases, due times, waits and TTLs are checked there in no
/// wall time and without a race against a loaded machine. Every wait is bounded. Each test has its own broker and
/// queue names.
/// </summary>
public abstract class BrokerContract : IAsyncLifetime
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Ttl = TimeSpan.FromMinutes(5);
    private ITaskBroker? _broker;

    protected BrokerContract(ITestOutputHelper output) => Output = output;

    protected ITestOutputHelper Output { get; }

    private protected ITaskBroker Broker => _broker ?? throw new InvalidOperationException("The broker was not created.");

    private protected abstract Task<ITaskBroker> CreateBrokerAsync();

    /// <summary>The clock the broker under test reads (leases, due times, TTLs, the end of a wait).</summary>
    private protected virtual TimeProvider Time => TimeProvider.System;

    /// <summary>Lets <paramref name="span"/> of the broker's time pass: a real wait, or a fake clock moved forward.</summary>
    private protected virtual Task PassAsync(TimeSpan span) => Task.Delay(span);

    /// <summary>
    /// Awaits <paramref name="operation"/>, which may be waiting on the broker's clock, while up to <paramref name="span"/>
    /// of that clock passes (a fake clock is moved in small steps, so the operation ends close to when it is due).
    /// </summary>
    private protected virtual Task<T> PassingAsync<T>(Task<T> operation, TimeSpan span, string what) => Wait.WithinAsync(operation, span + Long, what);

    public async Task InitializeAsync() => _broker = await CreateBrokerAsync();

    public async Task DisposeAsync()
    {
        if (_broker is not null)
        {
            await _broker.DisposeAsync();
        }
    }

    [Fact]
    [Trait("Role", "ITaskTransport")]
    public async Task Enqueue_fetch_complete_round_trip_leaves_a_readable_result()
    {
        string q = Queue();
        await Broker.EnqueueAsync([Item("a", q)], default);
        Assert.Equal(1, await Broker.GetQueueLengthAsync(q, default));

        List<Delivery> got = await FetchAsync([q], 10, TimeSpan.FromSeconds(10));
        Delivery d = Assert.Single(got);
        Output.WriteLine($"fetched id={d.Id} queue={d.Queue} dc={d.DeliveryCount} token={d.LeaseToken} envelope={Encoding.UTF8.GetString(d.Envelope.Span)}");
        Assert.Equal("a", d.Id);
        Assert.Equal(q, d.Queue);
        Assert.Equal(1, d.DeliveryCount);
        Assert.False(string.IsNullOrEmpty(d.LeaseToken));
        Assert.Equal(EnvelopeOf("a"), d.Envelope.ToArray());
        Assert.Equal(0, await Broker.GetQueueLengthAsync(q, default));

        Assert.True(await CompleteAsync(d, Success(42), Ttl), "CompleteAsync with the current lease must succeed");
        Assert.Equal(TaskState.Success, (await Broker.GetResultAsync("a", q, default)).State);
        TaskResult result = await Broker.GetResultAsync("a", null, default);
        Output.WriteLine($"result state={result.State} value={Convert.ToHexString(result.Value.Span)} task={result.TaskName} worker={result.Worker}");
        Assert.Equal(TaskState.Success, result.State);
        Assert.Equal(new byte[] { 42 }, result.Value.ToArray());
        Assert.Equal("contract.task", result.TaskName);
        Assert.Equal("w1", result.Worker);

        Assert.Empty(await FetchAsync([q], 10, TimeSpan.FromSeconds(10)));
        Assert.Equal(TaskState.Pending, (await Broker.GetResultAsync("never-sent", null, default)).State);
    }

    [Fact]
    [Trait("Role", "ITaskTransport")]
    public async Task Messages_are_fetched_in_fifo_order()
    {
        string q = Queue();
        await Broker.EnqueueAsync([Item("m1", q), Item("m2", q), Item("m3", q)], default);
        await Broker.EnqueueAsync([Item("m4", q)], default);
        await Broker.EnqueueAsync([Item("m5", q)], default);

        List<Delivery> got = await FetchAsync([q], 3, TimeSpan.FromSeconds(10));
        got.AddRange(await FetchAsync([q], 10, TimeSpan.FromSeconds(10)));
        string order = string.Join(",", got.Select(d => d.Id));
        Output.WriteLine($"fetch order: {order}");
        Assert.Equal("m1,m2,m3,m4,m5", order);
    }

    [Fact]
    [Trait("Role", "ITaskTransport")]
    public async Task A_fetch_after_a_drained_one_still_finds_new_ready_and_due_scheduled_messages()
    {
        string q = Queue();
        await Broker.EnqueueAsync([Item("first", q)], default);
        Assert.Single(await FetchAsync([q], 5, TimeSpan.FromSeconds(10))); // fewer than asked: drained

        // Drained: the broker may skip its first look and block at once; a message sent meanwhile must wake it.
        var into = new List<Delivery>();
        Task<int> fetch = Broker.FetchAsync(new FetchRequest([q], 5, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(20), "w1", Drained: true), into, default);
        await PassAsync(TimeSpan.FromMilliseconds(100));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await Broker.EnqueueAsync([Item("second", q)], default);
        Assert.Equal(1, await fetch.WaitAsync(TimeSpan.FromSeconds(10)));
        Output.WriteLine($"woken {clock.ElapsedMilliseconds} ms after the enqueue (the wait was 20 s)");
        Assert.Equal("second", into[0].Id);

        // A scheduled message that fell due after the drained fetch is found although no one enqueued since.
        await Broker.EnqueueAsync([Item("later", q, dueAtMs: Now() + 300)], default);
        Assert.Empty(await FetchAsync([q], 5, TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(50))); // not due yet: learns when it is, takes the enqueue's token
        await PassAsync(TimeSpan.FromMilliseconds(400));
        into.Clear();
        Assert.Equal(1, await Broker.FetchAsync(new FetchRequest([q], 5, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(20), "w1", Drained: true), into, default).WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal("later", into[0].Id);
    }

    [Fact]
    [Trait("Role", "ITaskTransport")]
    public async Task Higher_priorities_are_fetched_first_and_fifo_within_a_priority()
    {
        string q = Queue();
        await Broker.EnqueueAsync([Item("a0", q), Item("b5", q, priority: 5), Item("c0", q), Item("d9", q, priority: 9)], default);
        await Broker.EnqueueAsync([Item("e5", q, priority: 5)], default);
        Assert.Equal(5, await Broker.GetQueueLengthAsync(q, default));

        List<Delivery> got = await FetchAsync([q], 2, TimeSpan.FromSeconds(10));
        got.AddRange(await FetchAsync([q], 10, TimeSpan.FromSeconds(10)));
        string order = string.Join(",", got.Select(d => d.Id));
        Output.WriteLine($"fetch order: {order}");
        Assert.Equal("d9,b5,e5,a0,c0", order);
    }

    [Fact]
    [Trait("Role", "ITaskTransport")]
    public async Task A_released_message_keeps_its_priority()
    {
        string q = Queue();
        await Broker.EnqueueAsync([Item("high", q, priority: 7), Item("low", q)], default);
        Delivery high = Assert.Single(await FetchAsync([q], 1, TimeSpan.FromSeconds(10)));
        Assert.Equal("high", high.Id);
        await Broker.EnqueueAsync([Item("mid", q, priority: 3)], default);
        await Broker.ReleaseAsync([high], default);

        string order = string.Join(",", (await FetchAsync([q], 10, TimeSpan.FromSeconds(10))).Select(d => d.Id));
        Output.WriteLine($"after release: {order}");
        Assert.Equal("high,mid,low", order);
    }

    [Fact]
    [Trait("Role", "ITaskTransport")]
    public async Task Priority_is_kept_through_a_reclaimed_lease_a_due_promotion_and_a_requeue()
    {
        string q = Queue();

        // A reclaimed lease: the message goes back to its own priority, ahead of lower ones sent after it.
        await Broker.EnqueueAsync([Item("leased7", q, priority: 7)], default);
        Assert.Equal("leased7", Assert.Single(await FetchAsync([q], 1, TimeSpan.FromMilliseconds(300))).Id);
        await Broker.EnqueueAsync([Item("low0", q), Item("mid3", q, priority: 3)], default);
        await PassAsync(TimeSpan.FromMilliseconds(600)); // past the 300 ms lease: the next fetch reclaims it
        string order = string.Join(",", (await FetchAsync([q], 10, TimeSpan.FromSeconds(30), worker: "w2")).Select(d => d.Id));
        Output.WriteLine($"after a reclaim: {order}");
        Assert.Equal("leased7,mid3,low0", order);

        // A due promotion: a scheduled message falls due onto its priority's list.
        await Broker.EnqueueAsync([Item("due5", q, dueAtMs: Now() + 300, priority: 5), Item("now0", q)], default);
        await PassAsync(TimeSpan.FromMilliseconds(600));
        order = string.Join(",", (await FetchAsync([q], 10, TimeSpan.FromSeconds(30))).Select(d => d.Id));
        Output.WriteLine($"after a promotion: {order}");
        Assert.Equal("due5,now0", order);

        // A requeued dead letter: back on its priority's list.
        await Broker.EnqueueAsync([Item("dead6", q, priority: 6)], default);
        Delivery dead = Assert.Single(await FetchAsync([q], 10, TimeSpan.FromSeconds(30)));
        Assert.True(await Broker.DeadLetterAsync(dead, "unknown-task: x", null, Ttl, default));
        await Broker.EnqueueAsync([Item("plain0", q)], default);
        Assert.Equal(1, await Broker.RequeueDeadLettersAsync(q, ["dead6"], default));
        order = string.Join(",", (await FetchAsync([q], 10, TimeSpan.FromSeconds(30))).Select(d => d.Id));
        Output.WriteLine($"after a requeue: {order}");
        Assert.Equal("dead6,plain0", order);
    }

    [Fact]
    [Trait("Role", "ITaskTransport")]
    public async Task A_bulk_enqueue_of_many_messages_is_stored_whole_and_in_order()
    {
        string q = Queue();
        EnqueueItem[] items = [.. Enumerable.Range(0, 1234).Select(i => Item("bulk" + i, q))];
        await Broker.EnqueueAsync(items, default);
        Assert.Equal(items.Length, await Broker.GetQueueLengthAsync(q, default));
        List<Delivery> got = await FetchAsync([q], 2000, TimeSpan.FromSeconds(10));
        Output.WriteLine($"stored {items.Length}, fetched {got.Count}");
        Assert.Equal(items.Select(i => i.Id), got.Select(d => d.Id));
    }

    [Fact]
    [Trait("Role", "ITaskTransport")]
    public async Task A_second_message_with_an_id_in_use_is_refused()
    {
        string q = Queue();
        await Broker.EnqueueAsync([Item("dup", q)], default);
        // The second message has other bytes: an overwrite would show as the fetched envelope changing.
        EnqueueItem other = new("dup", q, Encoding.UTF8.GetBytes("another envelope for dup"), 0);
        InvalidOperationException queued = await Assert.ThrowsAsync<InvalidOperationException>(() => Broker.EnqueueAsync([other], default));
        Output.WriteLine($"while queued: {queued.GetType().Name}: {queued.Message}");
        Assert.Contains("'dup'", queued.Message, StringComparison.Ordinal);
        Assert.Equal(1, await Broker.GetQueueLengthAsync(q, default));

        Delivery d = Assert.Single(await FetchAsync([q], 10, TimeSpan.FromSeconds(10)));
        Assert.Equal(EnvelopeOf("dup"), d.Envelope.ToArray());
        InvalidOperationException leased = await Assert.ThrowsAsync<InvalidOperationException>(() => Broker.EnqueueAsync([other], default));
        Output.WriteLine($"while leased: {leased.GetType().Name}: {leased.Message}");
        Assert.Equal(0, await Broker.GetQueueLengthAsync(q, default));

        // The original is still the one held: its lease completes it, and nothing else is left to fetch.
        Assert.True(await CompleteAsync(d, Success(7), TimeSpan.FromMinutes(1)));
        Assert.Equal(TaskState.Success, (await Broker.GetResultAsync("dup", q, default)).State);
        Assert.Empty(await FetchAsync([q], 10, TimeSpan.FromSeconds(10), maxWait: TimeSpan.Zero));
    }

    [Fact]
    [Trait("Role", "ITaskTransport")]
    public async Task Fetch_takes_at_most_MaxCount()
    {
        string q = Queue();
        await Broker.EnqueueAsync([.. Enumerable.Range(1, 5).Select(i => Item("n" + i, q))], default);
        List<Delivery> first = await FetchAsync([q], 2, TimeSpan.FromSeconds(10));
        List<Delivery> rest = await FetchAsync([q], 10, TimeSpan.FromSeconds(10));
        Output.WriteLine($"MaxCount 2 -> {first.Count} ({string.Join(",", first.Select(d => d.Id))}); MaxCount 10 -> {rest.Count}");
        Assert.Equal(2, first.Count);
        Assert.Equal(3, rest.Count);
    }

    [Fact]
    [Trait("Role", "ITaskTransport")]
    public async Task Fetch_stops_at_MaxBytes_and_leaves_the_rest_in_order_on_its_priority()
    {
        // The worker's memory budget (WorkerOptions.MaxMemoryInFlight) reaches the broker as MaxBytes.
        string q = Queue();
        EnqueueItem Sized(string id, int priority) => new(id, q, Encoding.UTF8.GetBytes(id.PadRight(1000, '.')), 0, priority);
        await Broker.EnqueueAsync([Sized("p5a", 5), Sized("p5b", 5), Sized("p5c", 5), Sized("p0a", 0), Sized("p0b", 0), Sized("p0c", 0)], default);

        var into = new List<Delivery>();
        Assert.Equal(2, await Broker.FetchAsync(new FetchRequest([q], 10, TimeSpan.FromSeconds(10), TimeSpan.Zero, "w1", MaxBytes: 1500), into, default));
        Output.WriteLine($"MaxBytes 1500 -> {string.Join(",", into.Select(d => d.Id))}");
        Assert.Equal(["p5a", "p5b"], into.Select(d => d.Id)); // the second crosses the cap: the fetch stops there

        into.Clear();
        Assert.Equal(1, await Broker.FetchAsync(new FetchRequest([q], 10, TimeSpan.FromSeconds(10), TimeSpan.Zero, "w1", MaxBytes: 1), into, default));
        Assert.Equal("p5c", Assert.Single(into).Id); // at least one message, whatever its size

        Assert.Equal(3, await Broker.GetQueueLengthAsync(q, default)); // nothing popped and lost
        string rest = string.Join(",", (await FetchAsync([q], 10, TimeSpan.FromSeconds(10))).Select(d => d.Id));
        Output.WriteLine($"then without a cap -> {rest}");
        Assert.Equal("p0a,p0b,p0c", rest);
    }

    [Fact]
    [Trait("Role", "ITaskTransport")]
    public async Task A_leased_message_is_not_fetched_again_while_the_lease_holds()
    {
        string q = Queue();
        await Broker.EnqueueAsync([Item("held", q)], default);
        Assert.Single(await FetchAsync([q], 10, TimeSpan.FromSeconds(10)));
        long start = Now();
        List<Delivery> again = await FetchAsync([q], 10, TimeSpan.FromSeconds(10), maxWait: TimeSpan.FromMilliseconds(300), worker: "w2");
        Output.WriteLine($"second fetch returned {again.Count} after {Now() - start} ms");
        Assert.Empty(again);
    }

    [Fact]
    [Trait("Role", "ITaskTransport")]
    public async Task An_expired_lease_is_reclaimed_and_redelivered_with_a_new_token()
    {
        string q = Queue();
        await Broker.EnqueueAsync([Item("r", q)], default);
        long start = Now();
        Delivery first = Assert.Single(await FetchAsync([q], 1, TimeSpan.FromMilliseconds(300)));
        Delivery second = await FetchUntilAsync(q, TimeSpan.FromSeconds(10), "w2");
        long after = Now() - start;
        Output.WriteLine($"redelivered after {after} ms: dc {first.DeliveryCount} -> {second.DeliveryCount}, token {first.LeaseToken} -> {second.LeaseToken}");
        Assert.Equal("r", second.Id);
        Assert.Equal(2, second.DeliveryCount);
        Assert.NotEqual(first.LeaseToken, second.LeaseToken);
        Assert.True(after >= 290, $"redelivered after {after} ms, before the 300 ms lease could have expired");
        Assert.Equal(EnvelopeOf("r"), second.Envelope.ToArray());
    }

    [Fact]
    [Trait("Role", "ITaskTransport")]
    public async Task The_old_lease_token_is_fenced_off_after_a_redelivery()
    {
        string q = Queue();
        await Broker.EnqueueAsync([Item("f", q)], default);
        Delivery old = Assert.Single(await FetchAsync([q], 1, TimeSpan.FromMilliseconds(300)));
        Delivery current = await FetchUntilAsync(q, TimeSpan.FromSeconds(10), "w2");
        Assert.Equal(2, current.DeliveryCount);

        int oldExtended = await Broker.ExtendLeasesAsync([old], TimeSpan.FromSeconds(10), default);
        bool oldDead = await Broker.DeadLetterAsync(old, "unknown-task: stale", Failure("stale"), Ttl, default);
        await Broker.ReleaseAsync([old], default);
        bool oldCompleted = await CompleteAsync(old, Success(1), Ttl);
        Output.WriteLine($"old token: extend={oldExtended} deadLetter={oldDead} complete={oldCompleted}; queue length after old release={await Broker.GetQueueLengthAsync(q, default)}");
        Assert.Equal(0, oldExtended);
        Assert.False(oldDead, "DeadLetterAsync with a stale token must return false");
        Assert.False(oldCompleted, "CompleteAsync with a stale token must return false");
        Assert.Equal(0, await Broker.GetQueueLengthAsync(q, default));
        Assert.Empty(await Broker.GetDeadLettersAsync(q, 10, default));
        Assert.Equal(TaskState.Pending, (await Broker.GetResultAsync("f", null, default)).State);
        Assert.Equal(1, await Broker.ExtendLeasesAsync([current], TimeSpan.FromSeconds(10), default));

        Assert.True(await CompleteAsync(current, Success(2), Ttl));
        Assert.False(await CompleteAsync(old, Success(1), Ttl), "a stale completion after the real one must not be accepted");
        TaskResult result = await Broker.GetResultAsync("f", null, default);
        Output.WriteLine($"final result {result.State} value={Convert.ToHexString(result.Value.Span)}");
        Assert.Equal(TaskState.Success, result.State);
        Assert.Equal(new byte[] { 2 }, result.Value.ToArray());
    }

    [Fact]
    [Trait("Role", "ITaskTransport")]
    public async Task Extending_the_lease_keeps_it_past_the_original_timeout()
    {
        string q = Queue();
        TimeSpan lease = TimeSpan.FromMilliseconds(400);
        await Broker.EnqueueAsync([Item("x", q)], default);
        Delivery d = Assert.Single(await FetchAsync([q], 1, lease));
        long start = Now();
        int rounds = 0;
        while (Now() - start < 1300)
        {
            Assert.Equal(1, await Broker.ExtendLeasesAsync([d], lease, default));
            rounds++;
            List<Delivery> stolen = await FetchAsync([q], 1, lease, maxWait: TimeSpan.Zero, worker: "thief");
            Assert.True(stolen.Count == 0, $"the message was redelivered after {Now() - start} ms although its lease was extended");
            await PassAsync(TimeSpan.FromMilliseconds(100));
        }

        Output.WriteLine($"held for {Now() - start} ms with a {lease.TotalMilliseconds} ms lease and {rounds} extensions");
        Assert.True(await CompleteAsync(d, Success(7), Ttl), "the extended lease must still be held");
    }

    [Fact]
    [Trait("Role", "ITaskTransport")]
    public async Task A_scheduled_message_is_not_fetched_before_it_is_due_and_is_fetched_after()
    {
        string q = Queue();
        long start = Now();
        long due = start + 700;
        await Broker.EnqueueAsync([Item("eta", q, due)], default);
        List<Delivery> early = await FetchAsync([q], 1, TimeSpan.FromSeconds(10), maxWait: TimeSpan.FromMilliseconds(100));
        long lengthBefore = await Broker.GetQueueLengthAsync(q, default);
        Output.WriteLine($"early fetch at {Now() - start} ms: {early.Count}, queue length {lengthBefore}");
        Assert.Empty(early);
        Assert.Equal(0, lengthBefore);

        // Blocking fetches with a long MaxWait, as the worker's loop issues them: the message must come when it is due,
        // not after MaxWait (a fetch may return 0 early on a wake-up; the loop counts those).
        int rounds = 0;
        List<Delivery> later = [];
        while (later.Count == 0 && Now() - start < 10_000)
        {
            rounds++;
            later = await FetchAsync([q], 1, TimeSpan.FromSeconds(10), maxWait: TimeSpan.FromSeconds(5));
            Output.WriteLine($"blocking fetch #{rounds} returned {later.Count} at {Now() - start} ms ({Now() - due} ms relative to due)");
        }

        long late = Now() - due;
        Delivery d = Assert.Single(later);
        Assert.Equal("eta", d.Id);
        Assert.True(late >= -20, $"fetched {-late} ms before it was due");
        Assert.True(late < 1500, $"fetched {late} ms after it was due; a blocking fetch should wake when the next scheduled message is due");
    }

    [Fact]
    [Trait("Role", "ITaskTransport")]
    public async Task A_non_blocking_fetch_with_only_a_scheduled_message_returns_nothing()
    {
        string q = Queue();
        await Broker.EnqueueAsync([Item("later", q, Now() + 60_000)], default);
        long start = Now();
        List<Delivery> got = await FetchAsync([q], 1, TimeSpan.FromSeconds(10), maxWait: TimeSpan.Zero);
        long after = Now() - start;
        Output.WriteLine($"MaxWait 0 with a message due in 60 s: {got.Count} after {after} ms");
        Assert.Empty(got);
        Assert.True(after < 5000, $"a fetch with MaxWait 0 blocked for {after} ms"); // a hang guard: waiting for the due time would take 60 s
    }

    [Fact]
    [Trait("Role", "ITaskTransport")]
    public async Task A_blocking_fetch_wakes_promptly_when_a_message_arrives()
    {
        string q = Queue();
        long start = Now();
        var into = new List<Delivery>();
        Task<int> fetch = Broker.FetchAsync(new FetchRequest([q], 1, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(10), "w1"), into, default);
        await PassAsync(TimeSpan.FromMilliseconds(300));
        Assert.False(fetch.IsCompleted, $"the fetch on an empty queue returned after {Now() - start} ms with nothing enqueued");
        long enqueuedAt = Now();
        await Broker.EnqueueAsync([Item("wake", q)], default);
        await Wait.WithinAsync(fetch, Long, "the blocked fetch"); // no broker time passes meanwhile: only the enqueue can end it
        List<Delivery> got = into;
        long latency = Now() - enqueuedAt;
        Output.WriteLine($"fetched {got.Count} {latency} ms after the enqueue (MaxWait 10 s)");
        Assert.Equal("wake", Assert.Single(got).Id);
        Assert.True(latency < 1000, $"the blocked fetch took {latency} ms to notice the message (MaxWait 10 s): it should be woken, not poll");
    }

    [Fact]
    [Trait("Role", "ITaskTransport")]
    public async Task A_blocking_fetch_on_an_empty_queue_returns_nothing_after_MaxWait()
    {
        string q = Queue();
        long start = Now();
        List<Delivery> got = await FetchAsync([q], 1, TimeSpan.FromSeconds(10), maxWait: TimeSpan.FromMilliseconds(500));
        long after = Now() - start;
        Output.WriteLine($"returned {got.Count} after {after} ms (MaxWait 500 ms)");
        Assert.Empty(got);
        Assert.True(after >= 490, $"returned after {after} ms, before MaxWait");
    }

    [Fact]
    [Trait("Role", "ITaskTransport")]
    public async Task A_blocking_fetch_after_the_queue_was_drained_waits_for_MaxWait()
    {
        // The message's wake-up was already used up by the fetch that took it: an idle queue must not wake anyone.
        string q = Queue();
        await Broker.EnqueueAsync([Item("only", q)], default);
        Assert.Single(await FetchAsync([q], 10, TimeSpan.FromSeconds(10), maxWait: TimeSpan.FromSeconds(1)));
        long start = Now();
        List<Delivery> got = await FetchAsync([q], 1, TimeSpan.FromSeconds(10), maxWait: TimeSpan.FromMilliseconds(500));
        long after = Now() - start;
        Output.WriteLine($"drained queue: returned {got.Count} after {after} ms (MaxWait 500 ms)");
        Assert.Empty(got);
        Assert.True(after >= 490, $"the fetch returned 0 after {after} ms, before MaxWait: a stale wake-up token was left behind");
    }

    [Fact]
    [Trait("Role", "ITaskTransport")]
    public async Task Queues_are_served_in_the_order_given()
    {
        string high = Queue(), low = Queue();
        await Broker.EnqueueAsync([Item("low1", low)], default);
        await Broker.EnqueueAsync([Item("high1", high), Item("high2", high)], default);
        List<Delivery> one = await FetchAsync([high, low], 1, TimeSpan.FromSeconds(10));
        List<Delivery> rest = await FetchAsync([high, low], 10, TimeSpan.FromSeconds(10));
        string order = string.Join(",", one.Concat(rest).Select(d => $"{d.Id}@{(d.Queue == high ? "high" : "low")}"));
        Output.WriteLine($"order: {order}");
        Assert.Equal("high1@high,high2@high,low1@low", order);
    }

    [Fact]
    [Trait("Role", "ITaskTransport")]
    public async Task Release_puts_a_message_back_at_the_front_at_once()
    {
        string q = Queue();
        await Broker.EnqueueAsync([Item("first", q), Item("second", q)], default);
        Delivery d = Assert.Single(await FetchAsync([q], 1, TimeSpan.FromSeconds(30)));
        Assert.Equal("first", d.Id);
        await Broker.ReleaseAsync([d], default);
        long length = await Broker.GetQueueLengthAsync(q, default);
        List<Delivery> again = await FetchAsync([q], 10, TimeSpan.FromSeconds(30), maxWait: TimeSpan.Zero, worker: "w2");
        Output.WriteLine($"after release: queue length {length}; fetched {string.Join(",", again.Select(x => $"{x.Id}(dc {x.DeliveryCount})"))}");
        Assert.Equal(2, length);
        Assert.Equal("first,second", string.Join(",", again.Select(x => x.Id)));
        Assert.Equal(2, again[0].DeliveryCount);
        Assert.False(await CompleteAsync(d, Success(1), Ttl), "the released delivery's token must no longer complete");
    }

    [Fact]
    [Trait("Role", "IQueueInspector")]
    [Trait("Role", "IQueueAdministration")]
    public async Task A_dead_letter_is_listed_with_its_reason_and_can_be_requeued()
    {
        string q = Queue();
        await Broker.EnqueueAsync([Item("d1", q), Item("d2", q)], default);
        List<Delivery> got = await FetchAsync([q], 2, TimeSpan.FromSeconds(30));
        long before = Now();
        Assert.Equal(1, await StartAsync(got[0], null, Ttl)); // a run started: the requeue must not carry it over
        Assert.True(await Broker.DeadLetterAsync(got[0], "unknown-task: no task named 'x'", Failure("no task named 'x'"), Ttl, default));
        Assert.True(await Broker.DeadLetterAsync(got[1], "undecodable: garbage", null, Ttl, default));

        IReadOnlyList<DeadLetter> letters = await Broker.GetDeadLettersAsync(q, 10, default);
        foreach (DeadLetter letter in letters)
        {
            Output.WriteLine($"dead letter {letter.Id} queue={(letter.Queue == q ? "q" : letter.Queue)} reason='{letter.Reason}' at={letter.At:O} bytes={letter.Envelope.Length}");
        }

        Assert.Equal(["d1", "d2"], letters.Select(l => l.Id));
        Assert.Equal("unknown-task: no task named 'x'", letters[0].Reason);
        Assert.Equal("undecodable: garbage", letters[1].Reason);
        Assert.All(letters, l => Assert.Equal(q, l.Queue));
        Assert.Equal(EnvelopeOf("d1"), letters[0].Envelope.ToArray());
        Assert.InRange(letters[0].At.ToUnixTimeMilliseconds(), before - 1000, Now() + 1000);
        Assert.Single(await Broker.GetDeadLettersAsync(q, 1, default));

        TaskResult failed = await Broker.GetResultAsync("d1", null, default);
        Assert.Equal(TaskState.Failure, failed.State);
        Assert.Equal("Celeriac.UnknownTask", failed.Error?.Type);
        Assert.Equal(TaskState.Pending, (await Broker.GetResultAsync("d2", null, default)).State);
        Assert.Equal(0, await Broker.GetQueueLengthAsync(q, default));
        Assert.Empty(await FetchAsync([q], 10, TimeSpan.FromSeconds(30), maxWait: TimeSpan.Zero));
        await Assert.ThrowsAsync<InvalidOperationException>(() => Broker.EnqueueAsync([Item("d1", q)], default)); // a dead letter keeps its id

        Assert.Equal(1, await Broker.RequeueDeadLettersAsync(q, ["d1", "not-dead"], default));
        Assert.Equal(["d2"], (await Broker.GetDeadLettersAsync(q, 10, default)).Select(l => l.Id));
        TaskResult afterRequeue = await Broker.GetResultAsync("d1", null, default);
        Delivery again = Assert.Single(await FetchAsync([q], 10, TimeSpan.FromSeconds(30), maxWait: TimeSpan.Zero));
        Output.WriteLine($"requeued d1: result after requeue {afterRequeue.State}; fetched {again.Id} dc={again.DeliveryCount}");
        Assert.Equal("d1", again.Id);
        Assert.Equal(1, again.DeliveryCount);
        Assert.Equal(0, again.Runs); // a fresh start: the redelivery cap counts from zero again
        Assert.Equal(EnvelopeOf("d1"), again.Envelope.ToArray());
        Assert.True(afterRequeue.State == TaskState.Pending, $"a requeued task must not keep its old final result ({afterRequeue.State}): a client waiting on it would see the stale failure");
        Assert.True(await CompleteAsync(again, Success(5), Ttl));
        Assert.Equal(TaskState.Success, (await Broker.GetResultAsync("d1", null, default)).State);
    }

    [Fact]
    [Trait("Role", "IResultStore")]
    public async Task A_started_state_is_recorded_but_never_overwrites_a_final_result()
    {
        string q = Queue();
        await Broker.EnqueueAsync([Item("s", q)], default);
        Delivery d = Assert.Single(await FetchAsync([q], 1, TimeSpan.FromSeconds(30)));
        Assert.Equal(1, await StartAsync(d, State(TaskState.Started), Ttl));
        TaskState started = (await Broker.GetResultAsync("s", null, default)).State;
        Assert.True(await CompleteAsync(d, Success(3), Ttl));
        Assert.Equal(0, await StartAsync(d, State(TaskState.Started), Ttl)); // a late start: refused, nothing written
        TaskResult final = await Broker.GetResultAsync("s", null, default);
        Output.WriteLine($"after the start: {started}; after completion and a late start: {final.State}");
        Assert.Equal(TaskState.Started, started);
        Assert.Equal(TaskState.Success, final.State);
        Assert.Equal(new byte[] { 3 }, final.Value.ToArray());
    }

    [Fact]
    [Trait("Role", "IResultStore")]
    public async Task WaitResult_is_woken_by_the_completion()
    {
        string q = Queue();
        await Broker.EnqueueAsync([Item("w", q)], default);
        Delivery d = Assert.Single(await FetchAsync([q], 1, TimeSpan.FromSeconds(30)));
        long start = Now();
        Task<TaskResult> waiting = Broker.WaitResultAsync("w", q, TimeSpan.FromSeconds(10), default);
        await PassAsync(TimeSpan.FromMilliseconds(300));
        Assert.False(waiting.IsCompleted, $"WaitResultAsync returned after {Now() - start} ms before the task completed");
        long completedAt = Now();
        Assert.True(await CompleteAsync(d, Success(9), Ttl));
        TaskResult result = await Wait.WithinAsync(waiting, Long, "WaitResultAsync after the completion"); // no broker time passes meanwhile
        long latency = Now() - completedAt;
        Output.WriteLine($"woken {latency} ms after the completion with {result.State} (timeout 10 s)");
        Assert.Equal(TaskState.Success, result.State);
        Assert.True(latency < 1000, $"WaitResultAsync took {latency} ms to notice the completion (timeout 10 s): it should be woken");

        TaskResult ready = await Wait.WithinAsync(Broker.WaitResultAsync("w", q, TimeSpan.FromSeconds(10), default), Long, "WaitResultAsync on a ready result");
        Output.WriteLine($"waiting on a ready result returned {ready.State}");
        Assert.Equal(TaskState.Success, ready.State);
    }

    [Fact]
    [Trait("Role", "IResultStore")]
    public async Task WaitResult_returns_the_latest_non_final_state_at_the_timeout()
    {
        string q = Queue();
        await Broker.EnqueueAsync([Item("slow", q)], default);
        Assert.Equal(1, await StartAsync(Assert.Single(await FetchAsync([q], 1, TimeSpan.FromSeconds(30))), State(TaskState.Started), Ttl));
        long start = Now();
        TaskResult result = await PassingAsync(Broker.WaitResultAsync("slow", null, TimeSpan.FromMilliseconds(600), default), TimeSpan.FromMilliseconds(600), "WaitResultAsync with a 600 ms timeout");
        long after = Now() - start;
        Output.WriteLine($"returned {result.State} after {after} ms (timeout 600 ms)");
        Assert.Equal(TaskState.Started, result.State);
        Assert.True(after >= 590, $"returned after {after} ms, before the timeout");

        TaskResult unknown = await PassingAsync(Broker.WaitResultAsync("unknown", null, TimeSpan.FromMilliseconds(300), default), TimeSpan.FromMilliseconds(300), "WaitResultAsync for an unknown id");
        Output.WriteLine($"unknown id: {unknown.State}");
        Assert.Equal(TaskState.Pending, unknown.State);
    }

    [Fact]
    [Trait("Role", "IResultStore")]
    public async Task A_result_expires_after_its_ttl()
    {
        string q = Queue();
        await Broker.EnqueueAsync([Item("ttl", q)], default);
        Delivery d = Assert.Single(await FetchAsync([q], 1, TimeSpan.FromSeconds(30)));
        long start = Now();
        Assert.True(await CompleteAsync(d, Success(1), TimeSpan.FromMilliseconds(400)));
        TaskState right = (await Broker.GetResultAsync("ttl", null, default)).State;
        long gone = await PassUntilAsync(async () => (await Broker.GetResultAsync("ttl", null, default)).State == TaskState.Pending, TimeSpan.FromSeconds(5), "the result with a 400 ms TTL to expire");
        Output.WriteLine($"right after completion: {right}; PENDING again after {gone} ms (TTL 400 ms)");
        Assert.Equal(TaskState.Success, right);
        Assert.True(gone - start >= 390, $"the result vanished after {gone - start} ms, before its 400 ms TTL");
    }

    [Fact]
    [Trait("Role", "ITaskTransport")]
    public async Task Retry_reschedules_the_new_envelope_with_a_fresh_delivery_count_and_records_RETRY()
    {
        string q = Queue();
        await Broker.EnqueueAsync([Item("r1", q)], default);
        Delivery d = Assert.Single(await FetchAsync([q], 1, TimeSpan.FromSeconds(30)));
        byte[] next = Encoding.UTF8.GetBytes("retry-envelope-of-r1");
        long due = Now() + 400;
        TaskResult retry = new() { State = TaskState.Retry, Error = new TaskError("System.InvalidOperationException", "boom", null), TaskName = "contract.task", Retries = 0, Timestamp = DateTimeOffset.UtcNow };
        Assert.True(await Broker.RetryAsync(d, next, due, retry, Ttl, default), "RetryAsync with the current lease must succeed");
        Assert.False(await CompleteAsync(d, Success(1), Ttl), "the retried delivery's lease must be gone");

        TaskResult state = await Broker.GetResultAsync("r1", null, default);
        List<Delivery> early = await FetchAsync([q], 1, TimeSpan.FromSeconds(30), maxWait: TimeSpan.Zero);
        Output.WriteLine($"after retry: state {state.State} ({state.Error?.Type}: {state.Error?.Message}); fetched early: {early.Count}");
        Assert.Equal(TaskState.Retry, state.State);
        Assert.Equal("boom", state.Error?.Message);
        Assert.Empty(early);

        Delivery again = await FetchUntilAsync(q, Long, "w1");
        Output.WriteLine($"retry delivered {Now() - due} ms after its due time, dc {again.DeliveryCount}");
        Assert.True(Now() >= due, "a retry must not be delivered before its due time");
        Assert.Equal(1, again.DeliveryCount);
        Assert.Equal(next, again.Envelope.ToArray());
        Assert.True(await CompleteAsync(again, Success(7), Ttl));
        Assert.Equal(TaskState.Success, (await Broker.GetResultAsync("r1", null, default)).State);
    }

    [Fact]
    [Trait("Role", "ITaskTransport")]
    public async Task Retry_by_a_stale_lease_holder_changes_nothing()
    {
        string q = Queue();
        await Broker.EnqueueAsync([Item("r2", q)], default);
        Delivery old = Assert.Single(await FetchAsync([q], 1, TimeSpan.FromMilliseconds(300)));
        Delivery current = await FetchUntilAsync(q, Long, "w2");
        bool stale = await Broker.RetryAsync(old, Encoding.UTF8.GetBytes("stale"), Now(), State(TaskState.Retry), Ttl, default);
        Output.WriteLine($"stale retry returned {stale}; current holder dc {current.DeliveryCount}");
        Assert.False(stale);
        Assert.True(await CompleteAsync(current, Success(3), Ttl), "the current holder must still own the message");
        Assert.Equal(TaskState.Success, (await Broker.GetResultAsync("r2", null, default)).State);
    }

    [Fact]
    [Trait("Role", "IControlChannel")]
    public async Task Revoked_ids_are_flagged_on_fetch_found_by_the_recheck_and_forgotten_after_their_ttl()
    {
        string q = Queue();
        string x = "x-" + q, y = "y-" + q, z = "z-" + q;
        await Broker.RevokeAsync(x, TimeSpan.FromMinutes(5), default);
        await Broker.EnqueueAsync([Item(x, q), Item(y, q)], default);
        List<Delivery> got = await FetchAsync([q], 10, TimeSpan.FromSeconds(30));
        Output.WriteLine($"fetched {string.Join(",", got.Select(d => $"{d.Id}(revoked {d.Revoked})"))}");
        Assert.Equal(2, got.Count);
        Assert.True(got.Single(d => d.Id == x).Revoked);
        Assert.False(got.Single(d => d.Id == y).Revoked);
        Assert.Equal([x], await Broker.FindRevokedAsync(got, default));

        // Revoked once the queue is known: found by the re-check of a running delivery.
        await Broker.RevokeAsync(y, TimeSpan.FromMinutes(5), default);
        Assert.Equal([x, y], (await Broker.FindRevokedAsync(got, default)).Order(StringComparer.Ordinal));

        // A short revocation takes effect, then is forgotten once its time has passed.
        var zDelivery = new Delivery { Id = z, Queue = q, Envelope = default, DeliveryCount = 1 };
        await Broker.RevokeAsync(z, TimeSpan.FromMilliseconds(1500), default);
        Assert.Equal([z], await Broker.FindRevokedAsync([zDelivery], default));
        await PassAsync(TimeSpan.FromMilliseconds(1700));
        Assert.Empty(await Broker.FindRevokedAsync([zDelivery], default));
        Assert.Equal([x, y], (await Broker.FindRevokedAsync(got, default)).Order(StringComparer.Ordinal)); // the long ones stay
    }

    [Fact]
    [Trait("Role", "IControlChannel")]
    public async Task A_revocation_is_announced_to_subscribers()
    {
        var seen = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        string id = "announce-" + Queue();
        await Broker.SubscribeRevocationsAsync(revoked => { if (revoked == id) { seen.TrySetResult(revoked); } }, default);
        var clock = Stopwatch.StartNew();
        await Broker.RevokeAsync(id, TimeSpan.FromMinutes(1), default);
        string got = await seen.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Output.WriteLine($"announced {got} after {clock.ElapsedMilliseconds} ms");
        Assert.Equal(id, got);
    }

    [Fact]
    [Trait("Role", "ITaskTransport")]
    public async Task StartExtendLeases_extends_like_ExtendLeasesAsync()
    {
        string q = Queue();
        await Broker.EnqueueAsync([Item("h1", q)], default);
        Delivery d = Assert.Single(await FetchAsync([q], 1, TimeSpan.FromMilliseconds(400)));
        for (int i = 0; i < 4; i++)
        {
            await PassAsync(TimeSpan.FromMilliseconds(200));
            await Task.WhenAll(Broker.StartExtendLeases([d], TimeSpan.FromMilliseconds(400))).WaitAsync(TimeSpan.FromSeconds(5));
        }

        List<Delivery> other = await FetchAsync([q], 1, TimeSpan.FromSeconds(30), maxWait: TimeSpan.Zero, worker: "w2");
        Output.WriteLine($"after 800 ms of 400 ms leases renewed every 200 ms: another worker fetched {other.Count}");
        Assert.Empty(other);
        Assert.True(await CompleteAsync(d, Success(1), Ttl));
    }

    [Fact]
    [Trait("Role", "IQueueInspector")]
    [Trait("Role", "IQueueAdministration")]
    public async Task Dead_letters_can_be_purged_by_id_or_all_at_once()
    {
        string q = Queue();
        await Broker.EnqueueAsync([Item("p1", q), Item("p2", q), Item("p3", q), Item("alive", q)], default);
        List<Delivery> got = await FetchAsync([q], 4, TimeSpan.FromSeconds(30));
        foreach (Delivery d in got.Where(d => d.Id != "alive"))
        {
            Assert.True(await Broker.DeadLetterAsync(d, "unknown-task: test", null, Ttl, default));
        }

        Assert.Equal(1, await Broker.PurgeDeadLettersAsync(q, ["p1", "alive", "never"], default));
        Assert.Equal(["p2", "p3"], (await Broker.GetDeadLettersAsync(q, 10, default)).Select(d => d.Id).Order());
        Assert.Equal(2, await Broker.PurgeDeadLettersAsync(q, null, default));
        Assert.Empty(await Broker.GetDeadLettersAsync(q, 10, default));
        Assert.Equal(0, await Broker.RequeueDeadLettersAsync(q, ["p2"], default));
        Assert.True(await CompleteAsync(got.Single(d => d.Id == "alive"), Success(1), Ttl), "a leased message must not be purged");
    }

    [Fact]
    [Trait("Role", "ITaskTransport")]
    public async Task Started_runs_are_counted_fenced_reported_on_redelivery_and_reset_by_a_retry()
    {
        string q = Queue();
        await Broker.EnqueueAsync([Item("s1", q), Item("s2", q)], default);
        List<Delivery> first = await FetchAsync([q], 2, TimeSpan.FromMilliseconds(300));
        Delivery s1 = first.Single(d => d.Id == "s1");
        Assert.Equal(0, s1.Runs);
        Assert.Equal(1, await StartAsync(s1, State(TaskState.Started), Ttl));
        Assert.Equal(TaskState.Started, (await Broker.GetResultAsync("s1", null, default)).State);

        // Both leases expire (the worker "died"): s1 had started, s2 was only prefetched.
        var again = new List<Delivery> { await FetchUntilAsync(q, Long, "w2") };
        again.AddRange(await FetchAsync([q], 2, TimeSpan.FromSeconds(30), maxWait: TimeSpan.Zero, worker: "w2"));
        Output.WriteLine($"redelivered: {string.Join(",", again.Select(d => $"{d.Id}(dc {d.DeliveryCount}, runs {d.Runs})"))}");
        Delivery s1b = again.Single(d => d.Id == "s1");
        Assert.Equal(1, s1b.Runs);
        Assert.Equal(0, again.Single(d => d.Id == "s2").Runs);
        Assert.Equal(0, await StartAsync(s1, null, Ttl)); // the stale holder is refused
        Assert.Equal(2, await StartAsync(s1b, null, Ttl));

        // A release after a started run (graceful shutdown interrupting it) takes the run back.
        s1b.RunStarted = true;
        await Broker.ReleaseAsync([s1b], default);
        s1b = Assert.Single(await FetchAsync([q], 1, TimeSpan.FromSeconds(30), maxWait: TimeSpan.Zero, worker: "w2"));
        Assert.Equal(1, s1b.Runs);

        Assert.True(await Broker.RetryAsync(s1b, EnvelopeOf("s1"), Now(), State(TaskState.Retry), Ttl, default));
        Delivery s1c = await FetchUntilAsync(q, Long, "w3");
        Assert.Equal(0, s1c.Runs);
        Assert.Equal(1, s1c.DeliveryCount);
    }

    [Fact]
    [Trait("Role", "ITaskTransport")]
    public async Task CompleteMany_is_fenced_per_id_and_reports_each_outcome()
    {
        string q = Queue();
        string q2 = Queue();
        await Broker.EnqueueAsync([Item("m2", q)], default);
        Delivery m2 = Assert.Single(await FetchAsync([q], 1, TimeSpan.FromMilliseconds(300)));
        await Broker.EnqueueAsync([Item("m1", q), Item("m3", q), Item("m4", q2)], default);
        List<Delivery> got = await FetchAsync([q], 2, TimeSpan.FromSeconds(30));
        got.AddRange(await FetchAsync([q2], 1, TimeSpan.FromSeconds(30)));
        Delivery m1 = got.Single(d => d.Id == "m1");
        Delivery m3 = got.Single(d => d.Id == "m3");
        Delivery m4 = got.Single(d => d.Id == "m4");

        // m2's lease expires and another worker takes it: the old holder's outcome for m2 must change nothing.
        Delivery m2b = await FetchUntilAsync(q, Long, "w2");
        Assert.Equal("m2", m2b.Id);

        var completed = new int[4];
        await Broker.CompleteManyAsync([new(m1, Success(1)), new(m2, Success(2)), new(m3, Failure("boom")), new(m4, Success(4))], Ttl, completed, default);
        Output.WriteLine($"completed: {string.Join(",", completed)}");
        Assert.Equal([1, 0, 1, 1], completed);
        Assert.Equal(TaskState.Success, (await Broker.GetResultAsync("m1", null, default)).State);
        Assert.Equal(new byte[] { 1 }, (await Broker.GetResultAsync("m1", null, default)).Value.ToArray());
        Assert.Equal(TaskState.Pending, (await Broker.GetResultAsync("m2", null, default)).State);
        Assert.Equal("boom", (await Broker.GetResultAsync("m3", null, default)).Error?.Message);
        Assert.Equal(TaskState.Success, (await Broker.GetResultAsync("m4", null, default)).State);

        // The current holder of m2 still completes it; the acknowledged messages are gone for good.
        var second = new int[1];
        await Broker.CompleteManyAsync([new(m2b, Success(22))], Ttl, second, default);
        Assert.Equal(1, second[0]);
        Assert.Equal(new byte[] { 22 }, (await Broker.GetResultAsync("m2", null, default)).Value.ToArray());
        Assert.Empty(await FetchAsync([q, q2], 10, TimeSpan.FromSeconds(30), maxWait: TimeSpan.Zero, worker: "w3"));
        Assert.Equal(0, await Broker.ExtendLeasesAsync([m1, m3, m4, m2b], TimeSpan.FromSeconds(30), default));
    }

    [Fact]
    [Trait("Role", "ITaskTransport")]
    public async Task A_fetch_counts_the_runs_of_the_first_StartCount_deliveries_and_a_release_takes_them_back()
    {
        string q = Queue();
        await Broker.EnqueueAsync([Item("a", q), Item("b", q), Item("c", q)], default);
        var got = new List<Delivery>();
        int n = await Broker.FetchAsync(new FetchRequest([q], 3, TimeSpan.FromMilliseconds(300), TimeSpan.FromMilliseconds(200), "w1", StartCount: 2), got, default);
        Assert.Equal(3, n);
        Output.WriteLine($"fetched: {string.Join(",", got.Select(d => $"{d.Id}(runs {d.Runs}, started {d.RunStarted})"))}");
        Assert.Equal([true, true, false], got.Select(d => d.RunStarted));
        Assert.All(got, d => Assert.Equal(0, d.Runs)); // the runs before this delivery

        // The second started delivery is handed back (a graceful stop before it ran): its run is taken back.
        await Broker.ReleaseAsync([got[1]], default);

        // The first lease expires (its worker died while running it): the next delivery sees one run without an outcome.
        var again = new List<Delivery>();
        long start = Now();
        while (again.Count < 3 && Now() - start < Long.TotalMilliseconds)
        {
            again.AddRange(await FetchAsync([q], 3, TimeSpan.FromSeconds(30), maxWait: TimeSpan.FromMilliseconds(100), worker: "w2"));
        }

        Output.WriteLine($"redelivered: {string.Join(",", again.Select(d => $"{d.Id}(dc {d.DeliveryCount}, runs {d.Runs})"))}");
        Assert.Equal(1, again.Single(d => d.Id == got[0].Id).Runs);
        Assert.Equal(0, again.Single(d => d.Id == got[1].Id).Runs);
        Assert.Equal(0, again.Single(d => d.Id == got[2].Id).Runs);
    }

    [Fact]
    [Trait("Role", "ITaskTransport")]
    public async Task A_message_sent_after_a_blocked_fetch_was_cancelled_goes_to_the_next_fetch_at_once()
    {
        string q = Queue();
        using var cancel = new CancellationTokenSource();
        var lost = new List<Delivery>();
        Task<int> blocked = Broker.FetchAsync(new FetchRequest([q], 5, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(2), "gone", StartCount: 5), lost, cancel.Token);
        await PassAsync(TimeSpan.FromMilliseconds(200));
        await cancel.CancelAsync();
        try
        {
            Assert.Equal(0, await blocked); // a cancelled fetch returns nothing or throws
        }
        catch (OperationCanceledException)
        {
        }

        // Whatever the cancelled wait still does in the broker must not keep this message from the next worker.
        await Broker.EnqueueAsync([Item("late", q)], default);
        var clock = Stopwatch.StartNew();
        Delivery got = await FetchUntilAsync(q, TimeSpan.FromSeconds(10), "w2");
        Output.WriteLine($"the next fetch got '{got.Id}' after {clock.ElapsedMilliseconds} ms (runs {got.Runs}); the cancelled fetch returned {lost.Count}");
        Assert.Equal("late", got.Id);
        Assert.Equal(0, got.Runs); // a run the cancelled fetch counted was taken back
        Assert.Empty(lost);
    }

    [Fact]
    [Trait("Role", "ITaskTransport")]
    public async Task MarkStartedMany_counts_runs_per_id_and_refuses_lost_leases()
    {
        string q = Queue();
        await Broker.EnqueueAsync([Item("r1", q), Item("r2", q)], default);
        List<Delivery> got = await FetchAsync([q], 2, TimeSpan.FromSeconds(30));
        Delivery r1 = got.Single(d => d.Id == "r1");
        Delivery r2 = got.Single(d => d.Id == "r2");
        Assert.True(await CompleteAsync(r2, Success(2), Ttl));

        var runs = new int[2];
        await Broker.MarkStartedManyAsync([new(r1, State(TaskState.Started)), new(r2, State(TaskState.Started))], Ttl, runs, default);
        Assert.Equal([1, 0], runs);
        Assert.Equal(TaskState.Started, (await Broker.GetResultAsync("r1", null, default)).State);
        Assert.Equal(TaskState.Success, (await Broker.GetResultAsync("r2", null, default)).State); // a lost lease changes nothing

        await Broker.MarkStartedManyAsync([new(r1, null)], Ttl, runs, default);
        Assert.Equal(2, runs[0]);
        Assert.True(await CompleteAsync(r1, Success(1), Ttl));
    }

    [Fact]
    [Trait("Role", "IResultStore")]
    public async Task A_final_record_keeps_no_field_of_the_STARTED_or_RETRY_record_before_it()
    {
        string q = Queue();
        await Broker.EnqueueAsync([Item("f1", q)], default);
        Delivery d = Assert.Single(await FetchAsync([q], 1, TimeSpan.FromSeconds(30)));
        var runs = new int[1];
        await Broker.MarkStartedManyAsync([new(d, State(TaskState.Started))], Ttl, runs, default);
        Assert.Equal(TaskState.Started, (await Broker.GetResultAsync("f1", null, default)).State);

        // The first attempt fails and is retried: the RETRY record carries the error.
        TaskResult retry = new() { State = TaskState.Retry, Error = new TaskError("System.TimeoutException", "slow", "at Tasks.Slow()"), TaskName = "contract.task", Retries = 0, Worker = "w1", Timestamp = DateTimeOffset.UtcNow };
        Assert.True(await Broker.RetryAsync(d, EnvelopeOf("f1"), 0, retry, Ttl, default));
        Assert.Equal("slow", (await Broker.GetResultAsync("f1", null, default)).Error?.Message);

        // The second attempt succeeds: its SUCCESS record must not inherit the RETRY record's error fields.
        Delivery again = Assert.Single(await FetchAsync([q], 1, TimeSpan.FromSeconds(30), maxWait: TimeSpan.FromSeconds(2)));
        var completed = new int[1];
        TaskResult success = new() { State = TaskState.Success, Value = new byte[] { 9 }, TaskName = "contract.task", Retries = 1, Worker = "w2", Timestamp = DateTimeOffset.UtcNow };
        await Broker.CompleteManyAsync([new(again, success)], Ttl, completed, default);
        Assert.Equal(1, completed[0]);
        TaskResult stored = await Broker.GetResultAsync("f1", null, default);
        Assert.Equal(TaskState.Success, stored.State);
        Assert.Null(stored.Error);
        Assert.Equal(1, stored.Retries);
        Assert.Equal("w2", stored.Worker);
        Assert.Equal(new byte[] { 9 }, stored.Value.ToArray());
    }

    [Fact]
    [Trait("Role", "IResultStore")]
    public async Task A_waiter_for_an_id_made_here_is_woken_by_the_completion_with_the_whole_result()
    {
        string q = Queue();
        string id = Broker.NewTaskId();
        Assert.NotEqual(id, Broker.NewTaskId());
        await Broker.EnqueueAsync([Item(id, q)], default);
        Delivery d = Assert.Single(await FetchAsync([q], 1, TimeSpan.FromSeconds(30)));
        d.ReplyTo = Broker.ReplyChannel; // what the worker copies from the envelope's reply_to

        Task<TaskResult> waiting = Broker.WaitResultAsync(id, q, TimeSpan.FromSeconds(30), default);
        await PassAsync(TimeSpan.FromMilliseconds(200));
        Assert.False(waiting.IsCompleted);
        var completed = new int[1];
        await Broker.CompleteManyAsync([new(d, Success(7))], Ttl, completed, default);
        TaskResult result = await waiting.WaitAsync(TimeSpan.FromSeconds(10)); // no broker time passes meanwhile
        Output.WriteLine($"woken: {result.State} task={result.TaskName} worker={result.Worker}");
        Assert.Equal(1, completed[0]);
        Assert.Equal(TaskState.Success, result.State);
        Assert.Equal(new byte[] { 7 }, result.Value.ToArray());
        Assert.Equal("contract.task", result.TaskName);
        Assert.Equal("w1", result.Worker);
    }

    /// <summary>Completes one delivery through the batched operation the worker uses; whether its lease was still held.</summary>
    private protected async Task<bool> CompleteAsync(Delivery delivery, TaskResult result, TimeSpan ttl)
    {
        int[] completed = new int[1];
        await Broker.CompleteManyAsync([new CompleteItem(delivery, result)], ttl, completed, default);
        return completed[0] == 1;
    }

    /// <summary>Counts one delivery's run as started through the batched operation the worker uses; the runs so far, or 0.</summary>
    private protected async Task<int> StartAsync(Delivery delivery, TaskResult? state, TimeSpan ttl)
    {
        int[] runs = new int[1];
        await Broker.MarkStartedManyAsync([new StartItem(delivery, state)], ttl, runs, default);
        return runs[0];
    }

    [Fact]
    [Trait("Role", "IQueueInspector")]
    [Trait("Role", "IQueueAdministration")]
    public async Task Counts_locations_and_a_purge_see_each_place_of_a_queue()
    {
        string q = Queue();
        await Broker.EnqueueAsync([Item("run", q), Item("dead", q), Item("later", q, Now() + 3_600_000), Item("p0", q), Item("p7", q, priority: 7)], default);
        List<Delivery> got = await FetchAsync([q], 2, TimeSpan.FromSeconds(30)); // p7 first (priority), then run
        Delivery run = Assert.Single(got, d => d.Id == "run");
        Assert.True(await Broker.DeadLetterAsync(Assert.Single(got, d => d.Id == "p7"), "unknown-task: x", null, Ttl, default));
        List<Delivery> more = await FetchAsync([q], 1, TimeSpan.FromSeconds(30));
        Assert.True(await Broker.DeadLetterAsync(Assert.Single(more, d => d.Id == "dead"), "unknown-task: y", null, Ttl, default));

        Assert.Contains(q, await Broker.GetQueuesAsync(default));
        Assert.Equal(new Inspection.QueueCounts(q, 1, 1, 1, 2), await Broker.GetQueueCountsAsync(q, default));
        Assert.Equal((Inspection.TaskPlace.Active, 1), Where(await Broker.FindTaskAsync(run.Id, default)));
        Assert.Equal((Inspection.TaskPlace.Scheduled, 0), Where(await Broker.FindTaskAsync("later", default)));
        Assert.Equal((Inspection.TaskPlace.Pending, 0), Where(await Broker.FindTaskAsync("p0", default)));
        Assert.Equal((Inspection.TaskPlace.Dead, 1), Where(await Broker.FindTaskAsync("dead", default)));
        Assert.Null(await Broker.FindTaskAsync("never-sent", default));
        Assert.Equal("unknown-task: y", (await Broker.GetDeadLetterAsync(q, "dead", default))?.Reason);
        Assert.Null(await Broker.GetDeadLetterAsync(q, "p0", default));

        // Only the waiting messages go, in batches of at most the given size; the others stay where they are.
        await Broker.EnqueueAsync([Item("p1", q, priority: 1), Item("p9", q, priority: 9), Item("p0b", q)], default);
        Assert.Equal(2, await Broker.PurgeQueueAsync(q, 2, default));
        Assert.Equal(2, await Broker.PurgeQueueAsync(q, 100, default));
        Assert.Equal(0, await Broker.PurgeQueueAsync(q, 100, default));
        Assert.Equal(new Inspection.QueueCounts(q, 0, 1, 1, 2), await Broker.GetQueueCountsAsync(q, default));
        Assert.Null(await Broker.FindTaskAsync("p9", default));
        await Broker.EnqueueAsync([Item("p9", q)], default); // its id is free again: the message is gone, not just unlisted
    }

    private static (Inspection.TaskPlace Place, int Deliveries) Where(Inspection.TaskLocation? location)
    {
        Assert.NotNull(location);
        return (location.Place, location.Deliveries);
    }

    private protected static EnqueueItem Item(string id, string queue, long dueAtMs = 0, int priority = 0) => new(id, queue, EnvelopeOf(id), dueAtMs, priority);

    private protected static byte[] EnvelopeOf(string id) => Encoding.UTF8.GetBytes("envelope-of-" + id);

    private static string Queue() => "q" + Guid.NewGuid().ToString("N")[..8];

    private long Now() => Time.GetUtcNow().ToUnixTimeMilliseconds();

    private static TaskResult Success(byte value) => new() { State = TaskState.Success, Value = new[] { value }, TaskName = "contract.task", Worker = "w1", Timestamp = DateTimeOffset.UtcNow };

    private static TaskResult Failure(string message) => new() { State = TaskState.Failure, Error = new TaskError("Celeriac.UnknownTask", message, null), TaskName = "contract.task", Timestamp = DateTimeOffset.UtcNow };

    private static TaskResult State(TaskState state) => new() { State = state, TaskName = "contract.task", Worker = "w1", Timestamp = DateTimeOffset.UtcNow };

    private async Task<List<Delivery>> FetchAsync(IReadOnlyList<string> queues, int max, TimeSpan lease, TimeSpan? maxWait = null, string worker = "w1")
    {
        var into = new List<Delivery>();
        TimeSpan wait = maxWait ?? TimeSpan.FromMilliseconds(200);
        int n = await PassingAsync(Broker.FetchAsync(new FetchRequest(queues, max, lease, wait, worker), into, default), wait, "a fetch");
        Assert.Equal(into.Count, n);
        return into;
    }

    /// <summary>Fetches from <paramref name="queue"/> until something comes (a reclaimed lease), within <paramref name="timeout"/>.</summary>
    private async Task<Delivery> FetchUntilAsync(string queue, TimeSpan timeout, string worker)
    {
        long start = Now();
        while (Now() - start < timeout.TotalMilliseconds)
        {
            List<Delivery> got = await FetchAsync([queue], 1, TimeSpan.FromSeconds(30), maxWait: TimeSpan.FromMilliseconds(100), worker: worker);
            if (got.Count > 0)
            {
                return got[0];
            }
        }

        throw new TimeoutException($"Nothing was redelivered from {queue} within {timeout.TotalSeconds} s: the expired lease was not reclaimed.");
    }

    /// <summary>
    /// Checks <paramref name="condition"/> every 50 ms of the broker's time until it holds, within <paramref name="timeout"/>
    /// of that time; returns the broker's time (unix ms) at which it was seen to hold.
    /// </summary>
    private async Task<long> PassUntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        long start = Now();
        while (!await condition())
        {
            if (Now() - start > timeout.TotalMilliseconds)
            {
                throw new TimeoutException($"Waited {timeout.TotalSeconds:0.#} s for: {what}. It did not happen.");
            }

            await PassAsync(TimeSpan.FromMilliseconds(50));
        }

        return Now();
    }
}
