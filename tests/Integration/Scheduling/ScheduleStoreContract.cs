using Celeriac.Brokers;
using Celeriac.Scheduling;

namespace Celeriac.IntegrationTests.Scheduling;

/// <summary>
/// The scheduler's role of a broker (<see cref="IScheduleStore"/>): one atomic claim-and-enqueue per tick, paused
/// schedules, stored schedules. Run against each broker and deployment (in-process, Redis, Redis Cluster).
/// </summary>
public abstract class ScheduleStoreContract : IAsyncLifetime
{
    private ITaskBroker? _broker;

    protected ScheduleStoreContract(ITestOutputHelper output) => Output = output;

    protected ITestOutputHelper Output { get; }

    private protected ITaskBroker Broker => _broker ?? throw new InvalidOperationException("The broker was not created.");

    private protected IScheduleStore Store => (IScheduleStore)Broker;

    private protected abstract Task<ITaskBroker> CreateBrokerAsync();

    public async Task InitializeAsync() => _broker = await CreateBrokerAsync();

    public async Task DisposeAsync()
    {
        if (_broker is not null)
        {
            await _broker.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_tick_is_claimed_and_its_task_stored_once_however_many_schedulers_race_for_it()
    {
        string q = Queue();
        const long Tick = 1_767_225_600_000; // 2026-01-01T00:00:00Z
        // Eight schedulers at once, each with its own message for the same tick.
        var outcomes = new long[8][];
        await Task.WhenAll(Enumerable.Range(0, 8).Select(async i =>
        {
            outcomes[i] = new long[1];
            await Store.ClaimTicksAsync(q, [Claim("beat", Tick, "m" + i, q)], "s" + i, outcomes[i], default);
        }));

        Output.WriteLine("outcomes: " + string.Join(", ", outcomes.Select(o => o[0])));
        Assert.Single(outcomes, o => o[0] == ClaimOutcome.Claimed);
        Assert.All(outcomes.Where(o => o[0] != ClaimOutcome.Claimed), o => Assert.Equal(Tick, o[0])); // refused with the last tick
        Assert.Equal(1, await Broker.GetQueueLengthAsync(q, default));

        List<Delivery> got = await FetchAsync(q);
        string winner = Assert.Single(got).Id;
        int index = Array.FindIndex(outcomes, o => o[0] == ClaimOutcome.Claimed);
        Assert.Equal("m" + index, winner);
        Assert.Equal(EnvelopeOf("m" + index), got[0].Envelope.ToArray());
    }

    [Fact]
    public async Task A_tick_not_later_than_the_last_claimed_one_is_refused_and_a_later_one_is_claimed()
    {
        string q = Queue();
        var outcome = new long[1];
        await Store.ClaimTicksAsync(q, [Claim("s", 2000, "a", q)], "one", outcome, default);
        Assert.Equal(ClaimOutcome.Claimed, outcome[0]);

        await Store.ClaimTicksAsync(q, [Claim("s", 1000, "b", q)], "two", outcome, default); // a lagging clock's older tick
        Assert.Equal(2000, outcome[0]);

        var two = new long[2];
        await Store.ClaimTicksAsync(q, [Claim("s", 2000, "c", q), Claim("s", 3000, "d", q)], "two", two, default);
        Assert.Equal([2000L, ClaimOutcome.Claimed], two);
        Assert.Equal(["a", "d"], (await FetchAsync(q)).Select(d => d.Id).Order());

        ScheduleRecord? state = (await Store.ReadSchedulesAsync([("s", q)], default))[0];
        Assert.NotNull(state);
        Assert.Equal((3000L, "d", "two"), (state.LastTickMs, state.LastTaskId, state.LastClaimedBy));
    }

    [Fact]
    public async Task Claims_of_several_schedules_in_one_call_are_decided_each_on_its_own()
    {
        string q = Queue();
        var first = new long[1];
        await Store.ClaimTicksAsync(q, [Claim("b", 5000, "b1", q)], "x", first, default);

        var outcomes = new long[3];
        await Store.ClaimTicksAsync(q, [Claim("a", 5000, "a1", q), Claim("b", 5000, "b2", q), Claim("c", 5000, "c1", q, priority: 7)], "y", outcomes, default);
        Assert.Equal([ClaimOutcome.Claimed, 5000L, ClaimOutcome.Claimed], outcomes);
        List<Delivery> got = await FetchAsync(q);
        Assert.Equal("c1", got[0].Id); // priority 7 first
        Assert.Equal(["a1", "b1", "c1"], got.Select(d => d.Id).Order());
    }

    [Fact]
    public async Task A_paused_schedules_ticks_are_consumed_without_a_task_until_it_is_resumed()
    {
        string q = Queue();
        await Store.UpsertScheduleAsync(Record("p", q), onlyIfAbsent: false, default);
        Assert.True(await Store.SetPausedAsync("p", true, default));
        var outcome = new long[1];
        await Store.ClaimTicksAsync(q, [Claim("p", 1000, "p1", q)], "s", outcome, default);
        Assert.Equal(ClaimOutcome.Paused, outcome[0]);
        Assert.Equal(0, await Broker.GetQueueLengthAsync(q, default));
        await Store.ClaimTicksAsync(q, [Claim("p", 1000, "p1", q)], "s", outcome, default);
        Assert.Equal(1000, outcome[0]); // the paused tick is consumed: not sent later either

        Assert.True(await Store.SetPausedAsync("p", false, default));
        await Store.ClaimTicksAsync(q, [Claim("p", 2000, "p2", q)], "s", outcome, default);
        Assert.Equal(ClaimOutcome.Claimed, outcome[0]);
        Assert.Equal(["p2"], (await FetchAsync(q)).Select(d => d.Id));
        Assert.False(await Store.SetPausedAsync("no-such-schedule", true, default));
    }

    [Fact]
    public async Task A_claim_whose_task_id_is_in_use_changes_nothing()
    {
        string q = Queue();
        await Broker.EnqueueAsync([new EnqueueItem("taken", q, EnvelopeOf("taken"), 0)], default);
        var outcome = new long[1];
        await Store.ClaimTicksAsync(q, [Claim("s", 1000, "taken", q)], "s", outcome, default);
        Assert.Equal(ClaimOutcome.IdInUse, outcome[0]);
        await Store.ClaimTicksAsync(q, [Claim("s", 1000, "fresh", q)], "s", outcome, default);
        Assert.Equal(ClaimOutcome.Claimed, outcome[0]); // the tick was not consumed
    }

    [Fact]
    public async Task Stored_schedules_are_listed_with_their_state_kept_across_an_update_and_removed_with_it()
    {
        string q = Queue();
        long version = await Store.GetSchedulesVersionAsync(default);
        await Store.UpsertScheduleAsync(Record("invoice-acme", q, args: [0x91, 0xa4, 0x61, 0x63, 0x6d, 0x65]), onlyIfAbsent: false, default);
        Assert.NotEqual(version, version = await Store.GetSchedulesVersionAsync(default));
        var outcome = new long[1];
        await Store.ClaimTicksAsync(q, [Claim("invoice-acme", 7000, "i1", q)], "w9", outcome, default);

        await Store.UpsertScheduleAsync(Record("invoice-acme", q, cron: "0 10 1 * *", tz: "America/New_York"), onlyIfAbsent: false, default);
        Assert.NotEqual(version, version = await Store.GetSchedulesVersionAsync(default));
        ScheduleRecord listed = Assert.Single(await Store.ListSchedulesAsync(default), r => r.Name == "invoice-acme");
        Output.WriteLine($"listed: {listed}");
        Assert.Equal((q, "billing.invoice", "0 10 1 * *", "America/New_York", false), (listed.Queue, listed.TaskName, listed.Cron, listed.TimeZone, listed.IsStatic));
        Assert.Equal((7000L, "i1", "w9"), (listed.LastTickMs, listed.LastTaskId, listed.LastClaimedBy)); // state kept

        // Static definitions are listed but do not move the version schedulers poll, and onlyIfAbsent keeps a definition.
        await Store.UpsertScheduleAsync(Record("static-one", q) with { IsStatic = true }, onlyIfAbsent: false, default);
        Assert.Equal(version, await Store.GetSchedulesVersionAsync(default));
        await Store.UpsertScheduleAsync(Record("static-one", q, cron: "1 1 1 1 *") with { IsStatic = true }, onlyIfAbsent: true, default);
        Assert.Equal("0 9 1 * *", (await Store.ListSchedulesAsync(default)).Single(r => r.Name == "static-one").Cron);

        Assert.True(await Store.RemoveScheduleAsync("invoice-acme", default));
        Assert.False(await Store.RemoveScheduleAsync("invoice-acme", default));
        Assert.DoesNotContain(await Store.ListSchedulesAsync(default), r => r.Name == "invoice-acme");
        await Store.ClaimTicksAsync(q, [Claim("invoice-acme", 7000, "i2", q)], "w9", outcome, default);
        Assert.Equal(ClaimOutcome.Claimed, outcome[0]); // its state went with it
    }

    [Fact]
    public async Task A_schedule_moved_to_another_queue_is_listed_once_on_the_new_queue()
    {
        string q1 = Queue(), q2 = Queue();
        await Store.UpsertScheduleAsync(Record("mover", q1), onlyIfAbsent: false, default);
        await Store.UpsertScheduleAsync(Record("mover", q2), onlyIfAbsent: false, default);
        ScheduleRecord listed = Assert.Single(await Store.ListSchedulesAsync(default), r => r.Name == "mover");
        Assert.Equal(q2, listed.Queue);
    }

    private static TickClaim Claim(string schedule, long tick, string id, string queue, int priority = 0)
        => new(schedule, tick, new EnqueueItem(id, queue, EnvelopeOf(id), 0, priority));

    private static ScheduleRecord Record(string name, string queue, string cron = "0 9 1 * *", string? tz = null, byte[]? args = null) => new()
    {
        Name = name,
        Queue = queue,
        TaskName = "billing.invoice",
        Cron = cron,
        TimeZone = tz,
        Args = args ?? [0x90],
    };

    private async Task<List<Delivery>> FetchAsync(string queue)
    {
        var into = new List<Delivery>();
        await Broker.FetchAsync(new FetchRequest([queue], 100, TimeSpan.FromMinutes(1), TimeSpan.Zero, "w1"), into, default);
        return into;
    }

    private static byte[] EnvelopeOf(string id) => System.Text.Encoding.UTF8.GetBytes("envelope-of-" + id);

    private static string Queue() => "q" + Guid.NewGuid().ToString("N")[..8];
}
