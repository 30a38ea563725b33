using System.Diagnostics;
using System.Globalization;
using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.Protocol;
using Celeriac.Redis;
using StackExchange.Redis;

namespace Celeriac.IntegrationTests.Scheduling;

/// <summary>
/// Exactly once per tick with real processes: three workers run the scheduler on a 1-second schedule for 60 s while the
/// one that claimed the latest tick is SIGKILLed every ~10 s and a new worker started in its place. Every tick instant
/// between the first and the last must be sent exactly once (none missing, none twice); the lateness of each tick
/// (its task's creation minus its instant, the claimer's clock) is printed, with the worst one after each kill.
/// </summary>
public sealed class SchedulerKillTests(ITestOutputHelper output) : ProcessTestBase
{
    private const string Schedule = "kill-beat";
    private const int PeriodMs = 1000;
    private static readonly TimeSpan RunFor = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan KillEvery = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Three_schedulers_send_each_tick_once_while_the_claimer_is_killed_every_ten_seconds()
    {
        ConnectionMultiplexer redis = await RedisFixture.GetAsync();
        IDatabase db = redis.GetDatabase();
        string prefix = RedisFixture.NewPrefix();
        string ticksQueue = "ticks";
        var keys = new RedisKeys(prefix);
        output.WriteLine($"redis {RedisFixture.Configuration}, prefix {prefix}, schedule every {PeriodMs} ms into '{ticksQueue}' (consumed by nobody), {RunFor.TotalSeconds:0} s, a kill every {KillEvery.TotalSeconds:0} s");

        int started = 0;
        async Task<WorkerProcess> StartAsync()
        {
            WorkerProcess worker = await WorkerProcess.StartAsync(
                output, "sched-" + Interlocked.Increment(ref started), RedisFixture.Configuration, prefix, "default", 1, 2000,
                "--schedule", $"{Schedule},{PeriodMs},{ticksQueue},ticks.noop");
            lock (Workers)
            {
                Workers.Add(worker);
            }

            return worker;
        }

        var live = new List<WorkerProcess>(await Task.WhenAll(StartAsync(), StartAsync(), StartAsync()));
        var kills = new List<(long AtMs, string Victim)>();
        var clock = Stopwatch.StartNew();
        long runStartMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        while (clock.Elapsed < RunFor)
        {
            await Task.Delay(KillEvery - TimeSpan.FromMilliseconds(clock.ElapsedMilliseconds % (long)KillEvery.TotalMilliseconds));
            if (clock.Elapsed >= RunFor)
            {
                break;
            }

            // The scheduler named host:pid that claimed the latest tick.
            string? claimer = await db.HashGetAsync(keys.Schedule(ticksQueue, Schedule), "by");
            WorkerProcess? victim = live.FirstOrDefault(w => claimer is not null && claimer.EndsWith(":" + w.Id.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal));
            Assert.True(victim is not null, $"the latest tick was claimed by '{claimer}', which is none of the live workers ({string.Join(", ", live.Select(w => w.Id))})");
            await victim.KillAsync();
            kills.Add((DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), claimer!));
            output.WriteLine($"{clock.Elapsed.TotalSeconds,5:0.0} s: SIGKILLed the claimer {claimer}; starting a replacement");
            live.Remove(victim);
            live.Add(await StartAsync());
        }

        long runEndMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        foreach (WorkerProcess worker in live)
        {
            await worker.SignalAsync("TERM");
        }

        foreach (WorkerProcess worker in live)
        {
            await worker.WaitForExitAsync(TimeSpan.FromSeconds(30));
        }

        // Every message the schedule sent: the queue's pending list (nobody consumes it), decoded.
        RedisValue[] ids = await db.ListRangeAsync(keys.Pending(ticksQueue));
        var ticks = new List<(long Tick, long CreatedMs)>();
        foreach (RedisValue id in ids)
        {
            byte[] message = (byte[])(await db.HashGetAsync(keys.Task(ticksQueue, (string)id!), "msg"))!;
            Envelope envelope = EnvelopeCodec.Decode(message);
            Assert.Equal(Schedule, envelope.Headers![ScheduleHeaders.Schedule]);
            long tick = DateTimeOffset.Parse(envelope.Headers[ScheduleHeaders.Tick], CultureInfo.InvariantCulture).ToUnixTimeMilliseconds();
            Assert.Equal(tick + PeriodMs, envelope.ExpiresMs); // expires when the next tick is due
            ticks.Add((tick, envelope.CreatedMs));
        }

        ticks.Sort();
        var duplicates = ticks.GroupBy(t => t.Tick).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        long first = ticks[0].Tick, last = ticks[^1].Tick;
        long expected = ((last - first) / PeriodMs) + 1;
        var missing = new List<long>();
        for (long t = first; t <= last; t += PeriodMs)
        {
            if (!ticks.Any(x => x.Tick == t))
            {
                missing.Add(t);
            }
        }

        long[] lateness = [.. ticks.Select(t => t.CreatedMs - t.Tick).Order()];
        output.WriteLine($"ticks sent {ticks.Count}, distinct instants {ticks.Select(t => t.Tick).Distinct().Count()}, expected {expected} (from {ScheduleHeaders.FormatTick(first)} to {ScheduleHeaders.FormatTick(last)}), duplicates {duplicates.Count}, missing {missing.Count}, kills {kills.Count}, workers started {started}");
        output.WriteLine($"lateness (task created - tick instant): p50 {lateness[lateness.Length / 2]} ms, p99 {lateness[(int)(lateness.Length * 0.99)]} ms, worst {lateness[^1]} ms");
        foreach ((long at, string victim) in kills)
        {
            long worstAfter = ticks.Where(t => t.Tick > at && t.Tick <= at + 3 * PeriodMs).Select(t => t.CreatedMs - t.Tick).DefaultIfEmpty(0).Max();
            output.WriteLine($"  kill of {victim} at {ScheduleHeaders.FormatTick(at)}: worst lateness of the next 3 ticks {worstAfter} ms");
        }

        Assert.Empty(duplicates);
        Assert.Empty(missing);
        Assert.True(kills.Count >= 5, $"only {kills.Count} kills happened");
        Assert.True(first <= runStartMs + (5 * PeriodMs) && last >= runEndMs - (5 * PeriodMs), "the ticks cover the run"); // hang guard: the schedulers ran throughout
    }
}
