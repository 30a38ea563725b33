using System.Diagnostics;
using System.Globalization;
using StackExchange.Redis;

namespace Celeriac.Bench;

/// <summary>
/// W3 and the mixed workload (build/bench/run.sh cpu, mixed), each with fresh worker processes (build/bench/BenchWorker):
/// <list type="bullet">
/// <item>cpu: N tasks of 1 ms of computation each (1 ms of their thread's CPU time), run as
/// <see cref="TaskExecution.Cpu"/> and then as <see cref="TaskExecution.Pool"/>: the time to drain them beside the ideal
/// N × 1 ms / cores, and the worker's, Redis's and the driver's CPU, so that the ideal over the cores the worker could
/// have had is printed too.</item>
/// <item>mixed: sequential I/O round trips (a task that makes one Redis call) on a worker alone, then beside a backlog
/// of those CPU tasks kept topped up, as Cpu, as Pool, and as Cpu in a pool of their own: p50/p99 side by side.</item>
/// </list>
/// Measurements, not tests: the machine's load average is printed with them.
/// </summary>
internal static class CpuBench
{
    private const string Prefix = "benchcpu";

    /// <summary>A task's CPU time: 1 ms of its thread's CPU (<see cref="CpuTasks.Work"/>).</summary>
    private const int TaskMicros = 1000;

    public static async Task<int> RunCpuAsync(BenchArgs args)
    {
        string redis = args.Required("redis");
        string workerBin = args.Required("worker-bin");
        int n = args.Int("n", 10_000);
        int concurrency = args.Int("concurrency", 16);
        string log = args.Get("worker-log", ".tmp/bench/worker.log");
        await using ConnectionMultiplexer admin = await BenchKit.ConnectAdminAsync(redis, flush: true);
        IDatabase db = admin.GetDatabase();
        await using CeleriacClient client = await CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = redis + ",name=bench-client", KeyPrefix = Prefix });
        const int micros = TaskMicros;
        int cores = Environment.ProcessorCount;
        double idealSeconds = n * 0.001 / cores;
        Console.Error.WriteLine($"cpu bench: N={n}, concurrency={concurrency}, {cores} cores; load average before: {BenchKit.LoadAverage()}");

        var rows = new List<string[]>();
        foreach ((string kind, CpuKind cpuKind) in new[] { ("Cpu", CpuKind.Cpu), ("Pool", CpuKind.Pool) })
        {
            await using WorkerProcess worker = WorkerProcess.Start(workerBin, redis, Prefix, CpuTasks.QueueName, concurrency, concurrency, trackStarted: false, db, log);
            await worker.WaitReadyAsync();
            await SendCpuAsync(client, cpuKind, micros, 200);
            await worker.WaitCompletedAsync(200, TimeSpan.FromSeconds(30)); // warm-up
            await Task.Delay(200); // a STAT line after the warm-up
            long before = worker.Latest?.Completed ?? 0;
            double workerCpu0 = worker.ProcCpuMs();
            double redisCpu0 = await RedisSnapshot.CpuAsync(db);
            TimeSpan driverCpu0 = Environment.CpuUsage.TotalTime;
            long start = Stopwatch.GetTimestamp();
            await SendCpuAsync(client, cpuKind, micros, n);
            await worker.WaitCompletedAsync(before + n, TimeSpan.FromSeconds(30));
            double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            double workerCpu = (worker.ProcCpuMs() - workerCpu0) / 1000;
            double redisCpu = await RedisSnapshot.CpuAsync(db) - redisCpu0;
            double driverCpu = (Environment.CpuUsage.TotalTime - driverCpu0).TotalSeconds;
            double coresLeft = cores - ((redisCpu + driverCpu) / seconds);
            double idealLeft = n * 0.001 / coresLeft;
            Console.Error.WriteLine($"cpu bench: {kind}: drained {n} in {seconds:0.000} s; worker CPU {workerCpu:0.00} s, Redis {redisCpu:0.00} s, driver {driverCpu:0.00} s; load average {BenchKit.LoadAverage()}");
            rows.Add(
            [
                kind,
                BenchKit.F(seconds, "0.000") + " s",
                BenchKit.F(idealSeconds, "0.000") + " s",
                BenchKit.F(idealSeconds / seconds, "P0"),
                string.Create(CultureInfo.InvariantCulture, $"{workerCpu:0.00} s ({workerCpu / seconds:0.00} cores; {workerCpu * 1000 / n:0.000} ms/task)"),
                string.Create(CultureInfo.InvariantCulture, $"{redisCpu:0.00} s + {driverCpu:0.00} s"),
                string.Create(CultureInfo.InvariantCulture, $"{idealLeft:0.000} s ({coresLeft:0.00} cores)"),
                BenchKit.F(idealLeft / seconds, "P0"),
            ]);
        }

        BenchKit.PrintTable(
            $"W3: {n} tasks of 1 ms CPU each (1 ms of their thread's CPU time), one worker, concurrency {concurrency}, CPU threads = {cores}; load average after: {BenchKit.LoadAverage()}",
            ["execution", "drain", "ideal (N × 1 ms / cores)", "of ideal", "worker CPU", "Redis + driver CPU", "ideal over the cores left", "of that"],
            rows);

        return 0;
    }

    public static async Task<int> RunMixedAsync(BenchArgs args)
    {
        string redis = args.Required("redis");
        string workerBin = args.Required("worker-bin");
        int trips = args.Int("round-trips", 300);
        int concurrency = args.Int("concurrency", 64);
        int backlog = args.Int("backlog", 2000);
        string log = args.Get("worker-log", ".tmp/bench/worker.log");
        await using ConnectionMultiplexer admin = await BenchKit.ConnectAdminAsync(redis, flush: true);
        IDatabase db = admin.GetDatabase();
        await using CeleriacClient client = await CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = redis + ",name=bench-client", KeyPrefix = Prefix });
        const int micros = TaskMicros;
        Console.Error.WriteLine($"mixed bench: {trips} sequential I/O round trips per row, CPU backlog {backlog} tasks of 1 ms CPU, concurrency {concurrency}; load average before: {BenchKit.LoadAverage()}");

        var rows = new List<string[]>();
        (string Label, CpuKind? Load, bool OwnPool)[] cases =
        [
            ("no CPU load", null, false),
            ("CPU tasks as Cpu (same queues, same permits)", CpuKind.Cpu, false),
            ("CPU tasks as Pool (thread pool)", CpuKind.Pool, false),
            ("CPU tasks as Cpu, in a pool of their own (concurrency 8)", CpuKind.Cpu, true),
        ];
        foreach ((string label, CpuKind? load, bool ownPool) in cases)
        {
            string[] extra = ownPool ? ["--pool-queue", CpuTasks.QueueName, "--pool-concurrency", "8"] : [];
            await using WorkerProcess worker = WorkerProcess.Start(workerBin, redis, Prefix, IoTasks.QueueName + "," + CpuTasks.QueueName, concurrency, concurrency, trackStarted: false, db, log, extra);
            await worker.WaitReadyAsync();
            for (int i = 0; i < 30; i++)
            {
                _ = await (await IoTasks.PingTask.DelayAsync(client, i)).GetAsync(TimeSpan.FromSeconds(30));
            }

            using var stopLoad = new CancellationTokenSource();
            long sent = 0;
            Task loader = Task.CompletedTask;
            if (load is { } kind)
            {
                await SendCpuAsync(client, kind, micros, backlog);
                sent = backlog;
                loader = Task.Run(async () =>
                {
                    while (!stopLoad.IsCancellationRequested)
                    {
                        if (await client.GetQueueLengthAsync(CpuTasks.QueueName) < backlog / 2)
                        {
                            await SendCpuAsync(client, kind, micros, backlog / 2);
                            Interlocked.Add(ref sent, backlog / 2);
                        }

                        await Task.Delay(20);
                    }
                });
                await worker.WaitCompletedAsync(100, TimeSpan.FromSeconds(30)); // the load runs
            }

            long completed0 = worker.Latest?.Completed ?? 0;
            double[] times = new double[trips];
            long start = Stopwatch.GetTimestamp();
            for (int i = 0; i < trips; i++)
            {
                long s = Stopwatch.GetTimestamp();
                _ = await (await IoTasks.PingTask.DelayAsync(client, i)).GetAsync(TimeSpan.FromSeconds(60));
                times[i] = Stopwatch.GetElapsedTime(s).TotalMilliseconds;
            }

            double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            await Task.Delay(100); // a STAT line after the last trip
            long cpuDone = (worker.Latest?.Completed ?? 0) - completed0;
            await stopLoad.CancelAsync();
            await loader;
            if (load is not null)
            {
                await worker.WaitCompletedAsync(Interlocked.Read(ref sent), TimeSpan.FromSeconds(30)); // the backlog drains before the next row
            }

            Array.Sort(times);
            Console.Error.WriteLine($"mixed bench: {label}: p50 {BenchKit.Percentile(times, 50):0.000} ms, p99 {BenchKit.Percentile(times, 99):0.000} ms, max {times[^1]:0.000} ms; CPU tasks done meanwhile {cpuDone} ({cpuDone / seconds:0}/s); load average {BenchKit.LoadAverage()}");
            rows.Add([label, BenchKit.F(BenchKit.Percentile(times, 50), "0.000") + " ms", BenchKit.F(BenchKit.Percentile(times, 99), "0.000") + " ms", BenchKit.F(times[^1], "0.000") + " ms", load is null ? "-" : BenchKit.F(cpuDone / seconds, "0") + "/s"]);
        }

        BenchKit.PrintTable(
            $"Mixed: {trips} sequential I/O round trips (a task making one Redis call) on one worker (concurrency {concurrency}, CPU threads = {Environment.ProcessorCount}), beside a backlog of 1 ms CPU tasks; load average after: {BenchKit.LoadAverage()}",
            ["CPU load", "round trip p50", "p99", "max", "CPU tasks done meanwhile"],
            rows);

        return 0;
    }

    private enum CpuKind
    {
        Cpu,
        Pool,
    }

    private static async Task SendCpuAsync(CeleriacClient client, CpuKind kind, int micros, int count)
    {
        for (int sent = 0; sent < count; sent += 1000)
        {
            int batch = Math.Min(1000, count - sent);
            if (kind == CpuKind.Cpu)
            {
                var args = new CpuTasks.SpinTask.Args[batch];
                Array.Fill(args, new CpuTasks.SpinTask.Args(micros));
                _ = await client.SendManyAsync(CpuTasks.SpinTask.Definition, args, null, CancellationToken.None);
            }
            else
            {
                var args = new CpuTasks.SpinOnPoolTask.Args[batch];
                Array.Fill(args, new CpuTasks.SpinOnPoolTask.Args(micros));
                _ = await client.SendManyAsync(CpuTasks.SpinOnPoolTask.Definition, args, null, CancellationToken.None);
            }
        }
    }
}
