using Celeriac.Brokers;
using Celeriac.Brokers.InMemory;
using Celeriac.Protocol;
using Celeriac.Scheduling;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Celeriac.RuntimeUnitTests;

/// <summary>
/// The periodic scheduler on a fake clock and the in-process broker: DST and time zones, clocks that disagree, missed
/// ticks, expiry and headers. Each test steps the clock and runs the scheduler's passes itself, so days pass in milliseconds.
/// </summary>
public sealed class SchedulerUnitTests
{
    private const string Queue = "periodic";

    [Fact]
    public async Task A_0230_Berlin_job_runs_once_on_the_spring_forward_day_and_once_on_the_fall_back_day()
    {
        // 2026-03-29: 02:00 CET jumps to 03:00 CEST (02:30 does not exist); 2026-10-25: 03:00 CEST falls back to 02:00 CET (02:30 happens twice).
        TimeZoneInfo berlin = TimeZoneInfo.FindSystemTimeZoneById("Europe/Berlin");
        foreach ((DateTimeOffset from, string day) in new[] { (Utc(2026, 3, 27, 12), "2026-03-29"), (Utc(2026, 10, 23, 12), "2026-10-25") })
        {
            var time = new FakeTimeProvider(from);
            var broker = new InMemoryBroker(time);
            PeriodicScheduler scheduler = Scheduler(broker, time, new PeriodicSchedule("nightly", "reports.nightly", Queue, "30 2 * * *", TimeSpan.Zero, "Europe/Berlin"));
            await StepAsync(scheduler, time, until: from.AddDays(4), step: TimeSpan.FromMinutes(1));

            List<Envelope> sent = await DrainAsync(broker, time);
            var localDays = sent.Select(e => TimeZoneInfo.ConvertTime(TickOf(e), berlin)).ToList();
            foreach (DateTimeOffset local in localDays)
            {
                Console.WriteLine($"tick {local.UtcDateTime:O} = {local:yyyy-MM-dd HH:mm zzz} Berlin");
            }

            Assert.Equal(4, sent.Count); // one per day, four days
            Assert.Single(localDays, d => d.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture) == day);
            Assert.Equal(localDays.Count, localDays.Select(d => d.Date).Distinct().Count());
        }
    }

    [Fact]
    public async Task The_spring_forward_run_is_at_the_transition_and_the_fall_back_run_is_at_the_first_0230()
    {
        var time = new FakeTimeProvider(Utc(2026, 3, 28, 12));
        var broker = new InMemoryBroker(time);
        PeriodicScheduler scheduler = Scheduler(broker, time, new PeriodicSchedule("nightly", "reports.nightly", Queue, "30 2 * * *", TimeSpan.Zero, "Europe/Berlin"));
        await StepAsync(scheduler, time, until: Utc(2026, 3, 29, 12), step: TimeSpan.FromMinutes(1));
        Assert.Equal(Utc(2026, 3, 29, 1), TickOf(Assert.Single(await DrainAsync(broker, time)))); // 03:00 CEST

        time = new FakeTimeProvider(Utc(2026, 10, 24, 12));
        broker = new InMemoryBroker(time);
        scheduler = Scheduler(broker, time, new PeriodicSchedule("nightly", "reports.nightly", Queue, "30 2 * * *", TimeSpan.Zero, "Europe/Berlin"));
        await StepAsync(scheduler, time, until: Utc(2026, 10, 25, 12), step: TimeSpan.FromMinutes(1));
        Assert.Equal(Utc(2026, 10, 25, 0).AddMinutes(30), TickOf(Assert.Single(await DrainAsync(broker, time)))); // 02:30 CEST, not 02:30 CET
    }

    [Fact]
    public async Task A_cron_in_a_half_hour_zone_ticks_at_the_zones_local_time_and_UTC_is_the_default()
    {
        var time = new FakeTimeProvider(Utc(2026, 6, 1, 0));
        var broker = new InMemoryBroker(time);
        PeriodicScheduler scheduler = Scheduler(
            broker, time,
            new PeriodicSchedule("kolkata", "t.k", Queue, "0 9 * * *", TimeSpan.Zero, "Asia/Kolkata"),
            new PeriodicSchedule("utc", "t.u", Queue, "0 9 * * *", TimeSpan.Zero));
        await StepAsync(scheduler, time, until: Utc(2026, 6, 1, 23), step: TimeSpan.FromMinutes(1));
        Dictionary<string, DateTimeOffset> ticks = (await DrainAsync(broker, time)).ToDictionary(e => e.Headers![ScheduleHeaders.Schedule], TickOf);
        Assert.Equal(Utc(2026, 6, 1, 3).AddMinutes(30), ticks["kolkata"]); // 09:00 IST = 03:30 UTC
        Assert.Equal(Utc(2026, 6, 1, 9), ticks["utc"]);
    }

    [Fact]
    public async Task Two_schedulers_whose_clocks_differ_by_a_second_send_each_tick_once()
    {
        var slow = new FakeTimeProvider(Utc(2026, 1, 1, 0));
        var fast = new FakeTimeProvider(Utc(2026, 1, 1, 0).AddSeconds(1));
        var broker = new InMemoryBroker(slow);
        var schedule = new PeriodicSchedule("beat", "t.beat", Queue, null, TimeSpan.FromSeconds(1));
        PeriodicScheduler a = Scheduler(broker, slow, schedule, name: "slow");
        PeriodicScheduler b = Scheduler(broker, fast, schedule, name: "fast");
        for (int i = 0; i < 600; i++)
        {
            // Interleaved, each on its own clock, 250 ms steps: both reach every tick, a second apart.
            await a.PollAsync(default);
            await b.PollAsync(default);
            slow.Advance(TimeSpan.FromMilliseconds(250));
            fast.Advance(TimeSpan.FromMilliseconds(250));
        }

        List<Envelope> sent = await DrainAsync(broker, slow);
        List<DateTimeOffset> ticks = [.. sent.Select(TickOf).Order()];
        Console.WriteLine($"{sent.Count} ticks sent; slow claimed {a.Claimed} lost {a.Lost}; fast claimed {b.Claimed} lost {b.Lost}");
        Assert.Equal(ticks.Count, ticks.Distinct().Count());
        Assert.Equal(a.Claimed + b.Claimed, sent.Count);
        Assert.True(a.Lost > 0 && b.Claimed > 0, "the fast clock claims first, the slow one finds the ticks taken");
        for (int i = 1; i < ticks.Count; i++)
        {
            Assert.Equal(TimeSpan.FromSeconds(1), ticks[i] - ticks[i - 1]); // none missing
        }
    }

    [Theory]
    [InlineData(MissedTicks.RunOnce, new[] { 10 })]
    [InlineData(MissedTicks.Skip, new int[0])]
    [InlineData(MissedTicks.RunEach, new[] { 8, 9, 10 })]
    public async Task Ticks_missed_while_every_scheduler_was_down_follow_the_schedules_policy(MissedTicks policy, int[] expectedMinutes)
    {
        DateTimeOffset start = Utc(2026, 1, 1, 0);
        var time = new FakeTimeProvider(start.AddSeconds(30));
        var broker = new InMemoryBroker(time);
        var schedule = new PeriodicSchedule("minutely", "t.m", Queue, "* * * * *", TimeSpan.Zero, missedTicks: policy, maxMissedRuns: 3);
        PeriodicScheduler first = Scheduler(broker, time, schedule);
        await StepAsync(first, time, until: start.AddMinutes(1).AddSeconds(1), step: TimeSpan.FromSeconds(1)); // claims 00:01
        Assert.Equal([start.AddMinutes(1)], (await DrainAsync(broker, time)).Select(TickOf));

        time.Advance(TimeSpan.FromMinutes(9)); // every scheduler down from 00:01:01 to 00:10:01: ticks 00:02..00:10 missed
        PeriodicScheduler second = Scheduler(broker, time, schedule, misfireThreshold: TimeSpan.FromMilliseconds(500));
        await second.PollAsync(default);

        List<Envelope> sent = await DrainAsync(broker, time);
        Assert.Equal(expectedMinutes.Select(m => start.AddMinutes(m)), sent.Select(TickOf).Order());
    }

    [Fact]
    public async Task Skip_still_sends_a_tick_reached_within_the_misfire_threshold()
    {
        DateTimeOffset start = Utc(2026, 1, 1, 0);
        var time = new FakeTimeProvider(start.AddSeconds(30));
        var broker = new InMemoryBroker(time);
        var schedule = new PeriodicSchedule("minutely", "t.m", Queue, "* * * * *", TimeSpan.Zero, missedTicks: MissedTicks.Skip);
        PeriodicScheduler scheduler = Scheduler(broker, time, schedule, misfireThreshold: TimeSpan.FromSeconds(5));
        await scheduler.PollAsync(default); // starts at 00:00:30
        time.Advance(TimeSpan.FromSeconds(33)); // 3 s late for 00:01
        await scheduler.PollAsync(default);
        Assert.Equal([start.AddMinutes(1)], (await DrainAsync(broker, time)).Select(TickOf));
    }

    [Fact]
    public async Task A_ticks_task_expires_when_the_next_tick_is_due_and_carries_the_schedule_headers()
    {
        var time = new FakeTimeProvider(Utc(2026, 1, 1, 0).AddSeconds(5));
        var broker = new InMemoryBroker(time);
        PeriodicScheduler scheduler = Scheduler(broker, time, new PeriodicSchedule("every-30s", "t.h", Queue, null, TimeSpan.FromSeconds(30), priority: 4));
        await StepAsync(scheduler, time, until: Utc(2026, 1, 1, 0).AddSeconds(31), step: TimeSpan.FromSeconds(1));
        Envelope envelope = Assert.Single(await DrainAsync(broker, time));
        Assert.Equal("t.h", envelope.Task);
        Assert.Equal("every-30s", envelope.Headers![ScheduleHeaders.Schedule]);
        Assert.Equal("2026-01-01T00:00:30.000Z", envelope.Headers[ScheduleHeaders.Tick]);
        Assert.Equal(Utc(2026, 1, 1, 0).AddSeconds(60).ToUnixTimeMilliseconds(), envelope.ExpiresMs);
        Assert.Equal(4, envelope.Priority);
        Assert.Equal(ScheduledMessage.NoArgs, envelope.Args.ToArray());
    }

    [Fact]
    public async Task A_scheduler_that_is_off_sends_nothing()
    {
        var time = new FakeTimeProvider(Utc(2026, 1, 1, 0));
        var broker = new InMemoryBroker(time);
        var catalog = new TaskCatalog();
        catalog.AddSchedule(new PeriodicSchedule("beat", "t.beat", Queue, null, TimeSpan.FromSeconds(1)));
        var options = new WorkerOptions { Scheduler = false };
        using var scheduler = new PeriodicScheduler(new BrokerProvider(broker, new CeleriacOptions(), time, NullLoggerFactory.Instance), Options.Create(options), catalog, NullLogger<PeriodicScheduler>.Instance, time);
        await scheduler.StartAsync(default);
        await scheduler.ExecuteTask!; // returns at once when off
        time.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(0, await broker.GetQueueLengthAsync(Queue, default));
        Assert.Empty(await broker.ListSchedulesAsync(default));
    }

    [Fact]
    public async Task The_hosted_scheduler_runs_on_the_fake_clocks_timers()
    {
        var time = new FakeTimeProvider(Utc(2026, 1, 1, 0).AddMilliseconds(500));
        var broker = new InMemoryBroker(time);
        var catalog = new TaskCatalog();
        catalog.AddSchedule(new PeriodicSchedule("beat", "t.beat", Queue, null, TimeSpan.FromSeconds(1)));
        using var scheduler = new PeriodicScheduler(new BrokerProvider(broker, new CeleriacOptions(), time, NullLoggerFactory.Instance), Options.Create(new WorkerOptions()), catalog, NullLogger<PeriodicScheduler>.Instance, time);
        await scheduler.StartAsync(default);
        try
        {
            // The clock moves in 100 ms steps while the scheduler waits on its timers; a step taken before it armed one
            // only makes a tick late (and collapses missed ones into one run), never doubles one.
            DateTime giveUp = DateTime.UtcNow.AddSeconds(20); // a hang guard, not a timing assertion
            while (scheduler.Claimed < 5)
            {
                Assert.True(DateTime.UtcNow < giveUp, "the scheduler sent no ticks on the fake clock");
                time.Advance(TimeSpan.FromMilliseconds(100));
                await Task.Delay(2);
            }

            await scheduler.StopAsync(default);
            List<Envelope> sent = await DrainAsync(broker, time);
            Assert.Equal(scheduler.Claimed, sent.Count);
            Assert.Equal(sent.Count, sent.Select(TickOf).Distinct().Count());
        }
        finally
        {
            await scheduler.StopAsync(default);
        }
    }

    private static PeriodicScheduler Scheduler(InMemoryBroker broker, TimeProvider time, PeriodicSchedule schedule, string name = "s1", TimeSpan? misfireThreshold = null)
        => Scheduler(broker, time, [schedule], name, misfireThreshold);

    private static PeriodicScheduler Scheduler(InMemoryBroker broker, TimeProvider time, params PeriodicSchedule[] schedules)
        => Scheduler(broker, time, schedules, "s1", null);

    private static PeriodicScheduler Scheduler(InMemoryBroker broker, TimeProvider time, PeriodicSchedule[] schedules, string name, TimeSpan? misfireThreshold)
    {
        var catalog = new TaskCatalog();
        foreach (PeriodicSchedule schedule in schedules)
        {
            catalog.AddSchedule(schedule);
        }

        var options = new WorkerOptions { Name = name, SchedulerMisfireThreshold = misfireThreshold ?? WorkerOptions.DefaultSchedulerMisfireThreshold };
        return new PeriodicScheduler(new BrokerProvider(broker, new CeleriacOptions(), time, NullLoggerFactory.Instance), Options.Create(options), catalog, NullLogger<PeriodicScheduler>.Instance, time);
    }

    private static async Task StepAsync(PeriodicScheduler scheduler, FakeTimeProvider time, DateTimeOffset until, TimeSpan step)
    {
        while (time.GetUtcNow() < until)
        {
            await scheduler.PollAsync(default);
            time.Advance(step);
        }

        await scheduler.PollAsync(default);
    }

    private static async Task<List<Envelope>> DrainAsync(InMemoryBroker broker, TimeProvider time)
    {
        _ = time;
        var deliveries = new List<Delivery>();
        await broker.FetchAsync(new FetchRequest([Queue], 100_000, TimeSpan.FromHours(1), TimeSpan.Zero, "test"), deliveries, default);
        return [.. deliveries.Select(d => EnvelopeCodec.Decode(d.Envelope))];
    }

    private static DateTimeOffset TickOf(Envelope e) => DateTimeOffset.Parse(e.Headers![ScheduleHeaders.Tick], System.Globalization.CultureInfo.InvariantCulture);

    private static DateTimeOffset Utc(int year, int month, int day, int hour) => new(year, month, day, hour, 0, 0, TimeSpan.Zero);
}
