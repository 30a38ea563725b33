using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using StackExchange.Redis;

namespace Celeriac.Bench;

/// <summary>
/// Runs the workloads of issue #6 against one redis-server (started by build/bench/run.sh):
/// W1 single enqueue → bulk enqueue → one worker drains both; W2 sequential round trips on a fresh worker; and an
/// allocation probe (a fresh worker drains tasks that do nothing). Prints one table, writes a JSON file.
/// </summary>
internal static class Driver
{
    public static async Task<int> RunAsync(BenchArgs args)
    {
        var cfg = new Config(args);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(cfg.Out))!);
        await using ConnectionMultiplexer admin = await BenchKit.ConnectAdminAsync(cfg.Redis, flush: false, "bench-driver");
        IDatabase db = admin.GetDatabase();
        string version = (string)(await db.ExecuteAsync("INFO", "server"))!;
        string redisVersion = version.Split('\n').First(l => l.StartsWith("redis_version:", StringComparison.Ordinal)).Trim()[14..];
        Console.Error.WriteLine($"bench: redis {redisVersion} at {cfg.Redis}; N={cfg.N}, runs={cfg.Runs}, round trips={cfg.RoundTrips}, driver ({cfg.DriverRuntime}), worker ({cfg.WorkerRuntime}) concurrency={cfg.Concurrency} prefetch={cfg.Prefetch}, probe={cfg.Probe}");

        var runs = new List<JsonObject>();
        for (int run = 1; run <= cfg.Runs; run++)
        {
            Console.Error.WriteLine($"bench: run {run}/{cfg.Runs}");
            runs.Add(await RunOnceAsync(cfg, admin, db, run));
        }

        JsonObject summary = Summarize(runs);
        var document = new JsonObject
        {
            ["when"] = DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture),
            ["machine"] = new JsonObject { ["cores"] = Environment.ProcessorCount, ["os"] = System.Runtime.InteropServices.RuntimeInformation.OSDescription, ["dotnet"] = Environment.Version.ToString(), ["redis"] = redisVersion },
            ["config"] = new JsonObject
            {
                ["n"] = cfg.N, ["runs"] = cfg.Runs, ["round_trips"] = cfg.RoundTrips, ["warmup"] = cfg.Warmup, ["concurrency"] = cfg.Concurrency,
                ["prefetch"] = cfg.Prefetch, ["bulk_batch"] = cfg.BulkBatch, ["probe"] = cfg.Probe, ["track_started"] = cfg.TrackStarted, ["label"] = cfg.Label,
                ["driver_runtime"] = cfg.DriverRuntime, ["worker_runtime"] = cfg.WorkerRuntime, ["worker_bin"] = cfg.WorkerBin,
            },
            ["median"] = summary,
            ["runs"] = new JsonArray([.. runs]),
        };
        await File.WriteAllTextAsync(cfg.Out, document.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        Table.Print(summary, runs, cfg);
        Console.WriteLine($"\nJSON: {cfg.Out}");
        return runs.All(r => (bool?)r["w1"]!["verified"] == true && (int?)r["w2"]!["wrong"] == 0) ? 0 : 1;
    }

    private static async Task<JsonObject> RunOnceAsync(Config cfg, ConnectionMultiplexer admin, IDatabase db, int run)
    {
        await db.ExecuteAsync("FLUSHALL");
        string prefix = "bench" + run.ToString(CultureInfo.InvariantCulture);
        await using CeleriacClient client = await CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = cfg.Redis + ",name=bench-client", KeyPrefix = prefix });
        var result = new JsonObject { ["run"] = run };

        // ---- W1 single enqueue: N awaited calls one at a time; the first is excluded (connection, JIT).
        await W1Tasks.NoopTask.DelayAsync(client, 0, 0);
        RedisSnapshot before = await RedisSnapshot.TakeAsync(db);
        TimeSpan clientCpu = Environment.CpuUsage.TotalTime;
        long t0 = Stopwatch.GetTimestamp();
        for (int i = 1; i < cfg.N; i++)
        {
            await W1Tasks.NoopTask.DelayAsync(client, i, i);
        }

        double singleSeconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        RedisSnapshot after = await RedisSnapshot.TakeAsync(db);
        result["single"] = Phase(cfg.N - 1, singleSeconds, before, after);
        result["single"]!["client_cpu_us_per_task"] = (Environment.CpuUsage.TotalTime - clientCpu).TotalMicroseconds / (cfg.N - 1);

        // ---- W1 bulk enqueue: N more through SendManyAsync (one call per batch; one batch of N by default).
        var argsList = new W1Tasks.NoopTask.Args[cfg.N];
        for (int i = 0; i < argsList.Length; i++)
        {
            argsList[i] = new W1Tasks.NoopTask.Args(i, i);
        }

        before = await RedisSnapshot.TakeAsync(db);
        clientCpu = Environment.CpuUsage.TotalTime;
        t0 = Stopwatch.GetTimestamp();
        for (int start = 0; start < argsList.Length; start += cfg.BulkBatch)
        {
            ArraySegment<W1Tasks.NoopTask.Args> batch = new(argsList, start, Math.Min(cfg.BulkBatch, argsList.Length - start));
            await client.SendManyAsync(W1Tasks.NoopTask.Definition, batch, null, CancellationToken.None);
        }

        double bulkSeconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        after = await RedisSnapshot.TakeAsync(db);
        result["bulk"] = Phase(cfg.N, bulkSeconds, before, after);
        result["bulk"]!["client_cpu_us_per_task"] = (Environment.CpuUsage.TotalTime - clientCpu).TotalMicroseconds / cfg.N;

        // ---- W1 drain: one worker process drains the 2N tasks.
        long total = 2L * cfg.N;
        before = await RedisSnapshot.TakeAsync(db);
        JsonObject drain;
        await using (WorkerProcess worker = WorkerProcess.Start(cfg.WorkerBin, cfg.Redis, prefix, W1Tasks.QueueName, cfg.Concurrency, cfg.Prefetch, cfg.TrackStarted, db, cfg.WorkerLog))
        {
            await worker.WaitReadyAsync();
            (double userAtReady, double sysAtReady) = worker.ProcCpuSplitMs();
            double cpuAtReady = userAtReady + sysAtReady;
            clientCpu = Environment.CpuUsage.TotalTime;
            await worker.WaitCompletedAsync(total, TimeSpan.FromSeconds(30));
            await WaitSettledAsync(db, prefix, W1Tasks.QueueName);
            TimeSpan driverCpu = Environment.CpuUsage.TotalTime - clientCpu;
            (double userEnd, double sysEnd) = worker.ProcCpuSplitMs();
            double cpuEnd = userEnd + sysEnd;
            double peak = worker.PeakRssMiB();
            after = await RedisSnapshot.TakeAsync(db);
            drain = Phase(total, double.NaN, before, after);
            drain["worker_cpu_us_per_task"] = (cpuEnd - cpuAtReady) * 1000 / total;
            drain["worker_sys_cpu_us_per_task"] = (sysEnd - sysAtReady) * 1000 / total;
            drain["worker_cpu_startup_ms"] = cpuAtReady;
            // The driver's own CPU over the same window (its STAT reader, INFO calls and polls): it shares the cores.
            drain["driver_cpu_us_per_task"] = driverCpu.TotalMicroseconds / total;
            drain["worker_peak_rss_mib"] = peak;
            AddWindow(drain, worker.Samples, total);
        }

        RedisValue[] done = await db.ListRangeAsync(BenchRedis.DoneKey);
        long first = long.MaxValue, last = long.MinValue;
        foreach (RedisValue v in done)
        {
            long us = (long)v;
            first = Math.Min(first, us);
            last = Math.Max(last, us);
        }

        long resultKeys = (long)await db.ScriptEvaluateAsync("return #redis.call('KEYS', ARGV[1])", null, [$"{prefix}:{{{W1Tasks.QueueName}}}:r:*"]);
        long pending = await db.ListLengthAsync($"{prefix}:{{{W1Tasks.QueueName}}}:pending");
        long active = await db.SortedSetLengthAsync($"{prefix}:{{{W1Tasks.QueueName}}}:active");
        drain["completions"] = done.Length;
        drain["result_records"] = resultKeys;
        drain["per_second"] = done.Length > 1 ? (done.Length - 1) / ((last - first) / 1e6) : double.NaN;
        drain["seconds"] = (last - first) / 1e6;
        bool verified = done.Length == total && resultKeys == total && pending == 0 && active == 0;
        result["drain"] = drain;
        result["w1"] = new JsonObject { ["verified"] = verified, ["expected"] = total, ["completions"] = done.Length, ["results"] = resultKeys, ["pending"] = pending, ["active"] = active };
        if (!verified)
        {
            Console.Error.WriteLine($"bench: W1 NOT VERIFIED: {done.Length} completions, {resultKeys} results of {total}; pending {pending}, active {active}");
        }

        // ---- W2: a fresh worker; warm-up, then sequential round trips (send, run, stored result seen by the client).
        await using (WorkerProcess worker = WorkerProcess.Start(cfg.WorkerBin, cfg.Redis, prefix, W2Tasks.QueueName, cfg.Concurrency, cfg.Prefetch, cfg.TrackStarted, db, cfg.WorkerLog))
        {
            await worker.WaitReadyAsync();
            for (int i = 0; i < cfg.Warmup; i++)
            {
                TaskHandle<int> h = await W2Tasks.AddTask.DelayAsync(client, 1, i);
                _ = await h.GetAsync(TimeSpan.FromSeconds(10));
            }

            var latencies = new double[cfg.RoundTrips];
            int wrong = 0;
            double cpu0 = worker.ProcCpuMs();
            before = await RedisSnapshot.TakeAsync(db);
            long w2Start = Stopwatch.GetTimestamp();
            for (int i = 0; i < cfg.RoundTrips; i++)
            {
                long s = Stopwatch.GetTimestamp();
                TaskHandle<int> h = await W2Tasks.AddTask.DelayAsync(client, 1, i);
                int value = await h.GetAsync(TimeSpan.FromSeconds(10));
                latencies[i] = Stopwatch.GetElapsedTime(s).TotalMilliseconds;
                if (value != 1 + i)
                {
                    wrong++;
                }
            }

            double w2Seconds = Stopwatch.GetElapsedTime(w2Start).TotalSeconds;
            after = await RedisSnapshot.TakeAsync(db);
            double cpu1 = worker.ProcCpuMs();
            Array.Sort(latencies);
            JsonObject w2 = Phase(cfg.RoundTrips, w2Seconds, before, after);
            w2["p50_ms"] = BenchKit.Percentile(latencies, 50);
            w2["p90_ms"] = BenchKit.Percentile(latencies, 90);
            w2["p99_ms"] = BenchKit.Percentile(latencies, 99);
            w2["max_ms"] = latencies[^1];
            w2["mean_ms"] = latencies.Average();
            w2["wrong"] = wrong;
            w2["worker_cpu_us_per_task"] = (cpu1 - cpu0) * 1000 / cfg.RoundTrips;
            result["w2"] = w2;
        }

        // ---- Defaults: N tasks drained, then round trips, by a worker with every option at its default (what a new user
        // runs: concurrency = processor count, prefetch = concurrency, track-started off), beside the tuned figures above.
        if (cfg.Defaults)
        {
            result["defaults"] = await DefaultsAsync(cfg, client, db, prefix);
        }

        // ---- Allocation probe: a fresh worker drains tasks that do nothing, so every byte and µs is the framework's.
        if (cfg.Probe > 0)
        {
            var probeArgs = new W2Tasks.EmptyTask.Args[cfg.Probe];
            for (int i = 0; i < probeArgs.Length; i++)
            {
                probeArgs[i] = new W2Tasks.EmptyTask.Args(i, i);
            }

            await client.SendManyAsync(W2Tasks.EmptyTask.Definition, probeArgs, null, CancellationToken.None);
            before = await RedisSnapshot.TakeAsync(db);
            await using WorkerProcess worker = WorkerProcess.Start(cfg.WorkerBin, cfg.Redis, prefix, W2Tasks.EmptyQueueName, cfg.Concurrency, cfg.Prefetch, cfg.TrackStarted, db, cfg.WorkerLog);
            await worker.WaitReadyAsync();
            double cpuAtReady = worker.ProcCpuMs();
            await worker.WaitCompletedAsync(cfg.Probe, TimeSpan.FromSeconds(30));
            await WaitSettledAsync(db, prefix, W2Tasks.EmptyQueueName);
            double cpuEnd = worker.ProcCpuMs();
            after = await RedisSnapshot.TakeAsync(db);
            JsonObject probe = Phase(cfg.Probe, double.NaN, before, after);
            probe["worker_cpu_us_per_task"] = (cpuEnd - cpuAtReady) * 1000 / cfg.Probe;
            probe["worker_peak_rss_mib"] = worker.PeakRssMiB();
            AddWindow(probe, worker.Samples, cfg.Probe);
            result["probe"] = probe;
        }

        return result;
    }

    /// <summary>The defaults row: a drain of N bulk-sent no-op tasks and sequential round trips on one worker started with no options.</summary>
    private static async Task<JsonObject> DefaultsAsync(Config cfg, CeleriacClient client, IDatabase db, string prefix)
    {
        var argsList = new W1Tasks.NoopTask.Args[cfg.N];
        for (int i = 0; i < argsList.Length; i++)
        {
            argsList[i] = new W1Tasks.NoopTask.Args(i, i);
        }

        await db.KeyDeleteAsync(BenchRedis.DoneKey);
        await client.SendManyAsync(W1Tasks.NoopTask.Definition, argsList, null, CancellationToken.None);
        RedisSnapshot before = await RedisSnapshot.TakeAsync(db);
        JsonObject defaults;
        await using (WorkerProcess worker = WorkerProcess.Start(cfg.WorkerBin, cfg.Redis, prefix, W1Tasks.QueueName, 0, 0, false, db, cfg.WorkerLog))
        {
            await worker.WaitReadyAsync();
            double cpuAtReady = worker.ProcCpuMs();
            await worker.WaitCompletedAsync(cfg.N, TimeSpan.FromSeconds(120));
            await WaitSettledAsync(db, prefix, W1Tasks.QueueName);
            double cpuEnd = worker.ProcCpuMs();
            RedisSnapshot after = await RedisSnapshot.TakeAsync(db);
            defaults = Phase(cfg.N, double.NaN, before, after);
            defaults["worker_cpu_us_per_task"] = (cpuEnd - cpuAtReady) * 1000 / cfg.N;
            AddWindow(defaults, worker.Samples, cfg.N);
        }

        RedisValue[] done = await db.ListRangeAsync(BenchRedis.DoneKey);
        long first = long.MaxValue, last = long.MinValue;
        foreach (RedisValue v in done)
        {
            first = Math.Min(first, (long)v);
            last = Math.Max(last, (long)v);
        }

        defaults["completions"] = done.Length;
        defaults["per_second"] = done.Length > 1 ? (done.Length - 1) / ((last - first) / 1e6) : double.NaN;

        // Round trips on a fresh defaults worker of W2's queue alone, as the tuned W2 runs.
        await using WorkerProcess rt = WorkerProcess.Start(cfg.WorkerBin, cfg.Redis, prefix, W2Tasks.QueueName, 0, 0, false, db, cfg.WorkerLog);
        await rt.WaitReadyAsync();
        for (int i = 0; i < cfg.Warmup; i++)
        {
            _ = await (await W2Tasks.AddTask.DelayAsync(client, 1, i)).GetAsync(TimeSpan.FromSeconds(10));
        }

        var latencies = new double[cfg.RoundTrips];
        for (int i = 0; i < cfg.RoundTrips; i++)
        {
            long s = Stopwatch.GetTimestamp();
            int value = await (await W2Tasks.AddTask.DelayAsync(client, 1, i)).GetAsync(TimeSpan.FromSeconds(10));
            latencies[i] = Stopwatch.GetElapsedTime(s).TotalMilliseconds;
            if (value != 1 + i)
            {
                throw new InvalidOperationException($"defaults round trip {i}: {value}, expected {1 + i}");
            }
        }

        Array.Sort(latencies);
        defaults["p50_ms"] = BenchKit.Percentile(latencies, 50);
        defaults["p99_ms"] = BenchKit.Percentile(latencies, 99);
        return defaults;
    }

    /// <summary>Waits until the queue has nothing pending or leased (every outcome recorded).</summary>
    private static async Task WaitSettledAsync(IDatabase db, string prefix, string queue)
    {
        for (int i = 0; i < 1000; i++)
        {
            if (await db.ListLengthAsync($"{prefix}:{{{queue}}}:pending") == 0 && await db.SortedSetLengthAsync($"{prefix}:{{{queue}}}:active") == 0)
            {
                return;
            }

            await Task.Delay(10);
        }
    }

    private static JsonObject Phase(long tasks, double seconds, RedisSnapshot before, RedisSnapshot after)
    {
        SortedDictionary<string, long> commands = RedisSnapshot.Delta(before, after);
        var perTask = new JsonObject();
        long all = 0;
        foreach ((string name, long calls) in commands)
        {
            perTask[name] = Math.Round((double)calls / tasks, 3);
            all += calls;
        }

        var phase = new JsonObject
        {
            ["tasks"] = tasks,
            ["redis_cpu_us_per_task"] = (after.CpuSeconds - before.CpuSeconds) * 1e6 / tasks,
            ["redis_sys_cpu_us_per_task"] = (after.SysSeconds - before.SysSeconds) * 1e6 / tasks,
            ["redis_commands_per_task"] = (double)all / tasks,
            ["redis_calls_per_task"] = ClientCalls(commands) / tasks,
            ["commands_per_task"] = perTask,
        };
        var usecPerTask = new JsonObject();
        foreach ((string name, long usec) in RedisSnapshot.UsecDelta(before, after))
        {
            usecPerTask[name] = Math.Round((double)usec / tasks, 3);
        }

        phase["command_usec_per_task"] = usecPerTask;
        if (!double.IsNaN(seconds))
        {
            phase["seconds"] = seconds;
            phase["per_second"] = tasks / seconds;
        }

        return phase;
    }

    /// <summary>Commands sent by clients (a script call counts once; what it runs inside is not a round trip).</summary>
    private static double ClientCalls(SortedDictionary<string, long> commands)
    {
        // Inside our scripts run: exists hset hget hincrby hdel del zadd zrem zrangebyscore zrange rpop lpush rpush llen pexpire publish.
        // Client-side commands of the hot path: evalsha/eval, rpush (the W1 task's own), blpop, subscribe/unsubscribe, hgetall, llen/zcard (driver polls).
        // Not counted: hmget, which the client's result read uses (once per W2 round trip) but the fetch script runs per task.
        string[] client = ["evalsha", "eval", "blpop", "subscribe", "unsubscribe", "hgetall", "ping", "client", "cluster", "config", "echo", "script"];
        double sum = 0;
        foreach (string name in client)
        {
            sum += commands.GetValueOrDefault(name);
        }

        return sum;
    }

    /// <summary>Steady-state figures over the samples between 10% and 90% of the tasks (JIT and tail excluded).</summary>
    private static void AddWindow(JsonObject into, IReadOnlyList<WorkerSample> samples, long total)
    {
        WorkerSample? lo = null, hi = null;
        foreach (WorkerSample s in samples)
        {
            if (lo is null && s.Completed >= total / 10)
            {
                lo = s;
            }

            if (hi is null && s.Completed >= total * 9 / 10)
            {
                hi = s;
            }
        }

        if (lo is not { } a || hi is not { } b || b.Completed <= a.Completed)
        {
            return;
        }

        double n = b.Completed - a.Completed;
        into["steady"] = new JsonObject
        {
            ["tasks"] = n,
            ["per_second"] = n / ((b.UnixMs - a.UnixMs) / 1000.0),
            ["worker_cpu_us_per_task"] = (b.CpuMs - a.CpuMs) * 1000 / n,
            ["redis_cpu_us_per_task"] = (b.RedisCpuSeconds - a.RedisCpuSeconds) * 1e6 / n,
            ["alloc_bytes_per_task"] = (b.AllocBytes - a.AllocBytes) / n,
            ["gen0_per_1000_tasks"] = (b.Gen0 - a.Gen0) * 1000 / n,
            ["gen1_per_1000_tasks"] = (b.Gen1 - a.Gen1) * 1000 / n,
            ["gc_pause_us_per_task"] = (b.PauseMs - a.PauseMs) * 1000 / n,
        };
        WorkerSample end = samples[^1];
        into["alloc_bytes_per_task"] = (double)end.AllocBytes / Math.Max(1, end.Completed);
    }

    /// <summary>The median of every numeric leaf over the runs (same shape as one run).</summary>
    private static JsonObject Summarize(List<JsonObject> runs)
    {
        var summary = new JsonObject();
        Merge(summary, runs.Cast<JsonNode?>().ToList());
        return summary;
    }

    private static void Merge(JsonObject into, List<JsonNode?> nodes)
    {
        if (nodes[0] is not JsonObject first)
        {
            return;
        }

        foreach ((string key, JsonNode? value) in first)
        {
            List<JsonNode?> column = [.. nodes.Select(n => (n as JsonObject)?[key])];
            if (value is JsonObject)
            {
                var child = new JsonObject();
                Merge(child, column);
                into[key] = child;
            }
            else if (value is JsonValue v && v.TryGetValue(out double _))
            {
                double[] values = [.. column.Where(c => c is JsonValue).Select(c => c!.GetValue<double>()).Where(d => !double.IsNaN(d)).Order()];
                into[key] = values.Length == 0 ? null : values.Length % 2 == 1 ? values[values.Length / 2] : (values[values.Length / 2 - 1] + values[values.Length / 2]) / 2;
            }
            else if (value is JsonValue b && b.TryGetValue(out bool _))
            {
                into[key] = column.All(c => c is JsonValue j && j.TryGetValue(out bool x) && x);
            }
        }
    }

    internal sealed class Config(BenchArgs args)
    {
        public bool Quick { get; } = args.Flag("quick");
        public string Redis { get; } = args.Required("redis");
        public int N => args.Int("n", Quick ? 2000 : 20000);
        public int Runs => args.Int("runs", Quick ? 1 : 3);
        public int RoundTrips => args.Int("round-trips", Quick ? 300 : 1000);
        public int Warmup => args.Int("warmup", 50);
        public int Concurrency => args.Int("concurrency", 512);
        public int Prefetch => args.Int("prefetch", Concurrency); // the product's default (WorkerOptions.Prefetch = 0)
        public int BulkBatch => args.Int("bulk-batch", N);
        public int Probe => args.Int("probe", N);
        public bool Defaults => args.Get("defaults", "true") != "false";
        public bool TrackStarted => args.Get("track-started", "false") == "true";
        public string Out => args.Get("out", ".tmp/bench/results.json");
        public string WorkerLog => args.Get("worker-log", ".tmp/bench/worker.log");
        public string Label => args.Get("label", "");

        /// <summary>
        /// "aot" when this driver (the measured client) runs as a Native AOT binary, "jit" under the JIT (run.sh's
        /// jit-driver flag). Read from the runtime itself: by the time this runs the JIT has compiled methods, and Native
        /// AOT has no JIT (JitInfo reports 0). RuntimeFeature.IsDynamicCodeSupported would not do: PublishAot sets it to
        /// false in the runtimeconfig.json of a JIT build too.
        /// </summary>
        public string DriverRuntime { get; } = System.Runtime.JitInfo.GetCompiledMethodCount() > 0 ? "jit" : "aot";

        /// <summary>The worker binary (build/bench/BenchWorker): a Native AOT executable, or a .dll run with <c>dotnet</c>.</summary>
        public string WorkerBin { get; } = Path.GetFullPath(args.Required("worker-bin"));

        /// <summary>"aot" or "jit" (run.sh passes it; otherwise it follows from the worker binary).</summary>
        public string WorkerRuntime => args.Get("worker-runtime") ?? (WorkerBin.EndsWith(".dll", StringComparison.OrdinalIgnoreCase) ? "jit" : "aot");
    }
}
