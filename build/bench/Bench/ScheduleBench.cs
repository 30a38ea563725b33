using System.Diagnostics;
using System.Globalization;
using Celeriac.Brokers;
using Celeriac.Protocol;
using Celeriac.Redis;
using Celeriac.Scheduling;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Celeriac.Bench;

/// <summary>
/// The scheduler's cost (schedule mode): N dynamic schedules each firing every second on one Redis, run by K scheduler
/// instances in this process (each with its own connection, as K workers would be). Prints the Redis CPU per tick
/// (INFO cpu), this process's CPU per tick (the schedulers, and nothing else runs here), the ticks sent per second and
/// the lateness of a tick (its task's creation time minus its instant, read back from the stored messages) p50/p99.
///   Celeriac.Bench schedule --redis 127.0.0.1:6379 [--schedules 10000] [--instances 1] [--seconds 20] [--warmup 5]
/// Uses its own key prefix; the ticks' tasks go to a queue nobody consumes and are deleted at the end.
/// </summary>
internal static class ScheduleBench
{
    public static async Task<int> RunAsync(BenchArgs args)
    {
        string redis = args.Required("redis");
        int count = args.Int("schedules", 10_000);
        int instances = args.Int("instances", 1);
        int seconds = args.Int("seconds", 20);
        int warmup = args.Int("warmup", 5);
        string prefix = "bench-sched-" + Guid.NewGuid().ToString("N")[..6];
        const string Queue = "bench-ticks";

        await using ConnectionMultiplexer admin = await BenchKit.ConnectAdminAsync(redis, flush: false);
        IDatabase db = admin.GetDatabase();
        var options = new CeleriacOptions { Redis = redis, KeyPrefix = prefix };

        // The schedules, stored through the public API (a typed call recorded once per schedule).
        await using (CeleriacClient client = await CeleriacClient.ConnectAsync(options))
        {
            var clock = Stopwatch.StartNew();
            for (int start = 0; start < count; start += 500)
            {
                await Task.WhenAll(Enumerable.Range(start, Math.Min(500, count - start)).Select(i =>
                    client.Schedules.UpsertAsync("s" + i.ToString(CultureInfo.InvariantCulture), Recurrence.Interval(TimeSpan.FromSeconds(1)), c => W2Tasks.AddTask.ApplyAsync(c, i, 1, new TaskOptions { Queue = Queue }))));
            }

            Console.Error.WriteLine($"schedule bench: {count} schedules stored in {clock.ElapsedMilliseconds} ms; {instances} scheduler(s); warm-up {warmup} s, window {seconds} s");
        }

        var brokers = new List<BrokerProvider>();
        var schedulers = new List<PeriodicScheduler>();
        for (int i = 0; i < instances; i++)
        {
            var provider = new BrokerProvider(options, TimeProvider.System, NullLoggerFactory.Instance);
            brokers.Add(provider);
            var worker = new WorkerOptions { Name = "bench-scheduler-" + i.ToString(CultureInfo.InvariantCulture), SchedulerRefresh = TimeSpan.FromSeconds(5) };
            var scheduler = new PeriodicScheduler(provider, Options.Create(options), Options.Create(worker), new TaskCatalog(), NullLogger<PeriodicScheduler>.Instance, TimeProvider.System);
            schedulers.Add(scheduler);
            await scheduler.StartAsync(default);
        }

        await Task.Delay(TimeSpan.FromSeconds(warmup));
        long claimedBefore = schedulers.Sum(s => s.Claimed);
        long lostBefore = schedulers.Sum(s => s.Lost);
        double redisBefore = await RedisSnapshot.CpuAsync(db);
        TimeSpan cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        long windowStartMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await Task.Delay(TimeSpan.FromSeconds(seconds));
        long windowEndMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        TimeSpan cpuAfter = Process.GetCurrentProcess().TotalProcessorTime;
        double redisAfter = await RedisSnapshot.CpuAsync(db);
        long claimed = schedulers.Sum(s => s.Claimed) - claimedBefore;
        long lost = schedulers.Sum(s => s.Lost) - lostBefore;

        foreach (PeriodicScheduler scheduler in schedulers)
        {
            await scheduler.StopAsync(default);
            scheduler.Dispose();
        }

        foreach (BrokerProvider provider in brokers)
        {
            await provider.DisposeAsync();
        }

        // Lateness of the ticks whose instant fell in the window, read back from the stored messages.
        var keys = new RedisKeys(prefix);
        RedisValue[] ids = await db.ListRangeAsync(keys.Pending(Queue));
        var reads = ids.Select(id => db.HashGetAsync(keys.Task(Queue, (string)id!), "msg")).ToArray();
        await Task.WhenAll(reads);
        var lateness = new List<long>();
        var perTick = new Dictionary<(string, long), int>();
        foreach (Task<RedisValue> read in reads)
        {
            Envelope envelope = EnvelopeCodec.Decode((byte[])read.Result!);
            long tick = DateTimeOffset.Parse(envelope.Headers![ScheduleHeaders.Tick], CultureInfo.InvariantCulture).ToUnixTimeMilliseconds();
            (string, long) key = (envelope.Headers[ScheduleHeaders.Schedule], tick);
            perTick[key] = perTick.GetValueOrDefault(key) + 1;
            if (tick >= windowStartMs && tick < windowEndMs)
            {
                lateness.Add(envelope.CreatedMs - tick);
            }
        }

        lateness.Sort();
        int duplicates = perTick.Values.Count(v => v > 1);
        double windowSeconds = (windowEndMs - windowStartMs) / 1000.0;
        Console.WriteLine($"schedule bench: {count} schedules every 1 s, {instances} scheduler instance(s), window {windowSeconds:0.0} s");
        Console.WriteLine($"  ticks sent          {claimed} ({claimed / windowSeconds:0} /s; expected {count}/s), lost races {lost}, duplicate ticks {duplicates} (all {perTick.Count} stored)");
        Console.WriteLine($"  redis CPU per tick  {(redisAfter - redisBefore) * 1e6 / Math.Max(1, claimed):0.0} µs ({(redisAfter - redisBefore) / windowSeconds * 100:0.0}% of a core)");
        Console.WriteLine($"  worker CPU per tick {(cpuAfter - cpuBefore).TotalMilliseconds * 1000 / Math.Max(1, claimed):0.0} µs ({(cpuAfter - cpuBefore).TotalSeconds / windowSeconds * 100:0.0}% of a core, all {instances} scheduler(s))");
        Console.WriteLine($"  lateness            p50 {Percentile(lateness, 0.50)} ms, p99 {Percentile(lateness, 0.99)} ms, max {(lateness.Count > 0 ? lateness[^1] : 0)} ms ({lateness.Count} ticks in the window)");

        // Clean up the prefix's keys (the ticks' messages and the schedules).
        IServer server = admin.GetServers()[0];
        var batch = new List<RedisKey>();
        await foreach (RedisKey key in server.KeysAsync(pattern: prefix + ":*", pageSize: 1000))
        {
            batch.Add(key);
            if (batch.Count == 1000)
            {
                await db.KeyDeleteAsync([.. batch]);
                batch.Clear();
            }
        }

        if (batch.Count > 0)
        {
            await db.KeyDeleteAsync([.. batch]);
        }

        return duplicates == 0 ? 0 : 1;
    }

    private static long Percentile(List<long> sorted, double p) => sorted.Count == 0 ? 0 : sorted[Math.Min(sorted.Count - 1, (int)(sorted.Count * p))];
}
