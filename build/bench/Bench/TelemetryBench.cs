using System.Diagnostics;
using System.Diagnostics.Metrics;
using Celeriac.Brokers;
using Celeriac.Diagnostics;
using Celeriac.Protocol;
using Celeriac.Worker;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Celeriac.Bench;

/// <summary>
/// The cost of Celeriac's telemetry (docs/observability.md), in one run (build/bench/telemetry.sh):
/// <list type="number">
/// <item>per task, the telemetry hooks the client and the worker call (send span and count, run start, outcome, end of
/// run) measured with <see cref="GC.GetAllocatedBytesForCurrentThread"/>, with nobody listening and with an
/// <see cref="ActivityListener"/> and a <see cref="MeterListener"/> on;</item>
/// <item>the drain rate of an in-process worker over Redis (N empty tasks waiting, the worker started, until all ran),
/// with the listeners off and on, interleaved (off, on, off, on…) after one uncounted warm-up pair, with the process's
/// allocated bytes per task.</item>
/// </list>
/// </summary>
internal static class TelemetryBench
{
    public static async Task<int> RunAsync(BenchArgs args)
    {
        string redis = args.Required("redis");
        int n = args.Int("n", 20_000);
        int rounds = args.Int("rounds", 3);
        int concurrency = args.Int("concurrency", 16);

        Console.WriteLine($"telemetry bench: redis {redis}, N={n}, rounds={rounds}, concurrency={concurrency}");
        Console.WriteLine();
        Console.WriteLine("hooks per task (send + run start + outcome + end), 200000 tasks on one thread:");
        (double offNs, long offBytes) = Hooks(listening: false);
        (double onNs, long onBytes) = Hooks(listening: true);
        Console.WriteLine($"  nobody listening : {offBytes,6} B/task {offNs,8:0.0} ns/task");
        Console.WriteLine($"  listeners on     : {onBytes,6} B/task {onNs,8:0.0} ns/task");
        (double scopeNs, long scopeBytes) = Scope();
        Console.WriteLine($"  run log scope, console logging at Warning: {scopeBytes,6} B/task {scopeNs,8:0.0} ns/task (off: 0 B, see docs/observability.md)");
        Console.WriteLine();
        Console.WriteLine("drain of an in-process worker (tasks/s, process-wide bytes allocated per task):");
        var rates = new Dictionary<bool, List<double>> { [false] = [], [true] = [] };
        _ = await DrainAsync(redis, n, concurrency, listening: false); // warm-up, not counted
        _ = await DrainAsync(redis, n, concurrency, listening: true);
        for (int round = 0; round < rounds; round++)
        {
            foreach (bool listening in (bool[])[false, true])
            {
                (double rate, double bytes) = await DrainAsync(redis, n, concurrency, listening);
                rates[listening].Add(rate);
                Console.WriteLine($"  round {round + 1} listeners {(listening ? "on " : "off")}: {rate,9:0} tasks/s {bytes,8:0} B/task");
            }
        }

        double off = rates[false].Average(), on = rates[true].Average();
        Console.WriteLine($"  mean: off {off:0} tasks/s, on {on:0} tasks/s: on keeps {on / off:P0} of off");
        return offBytes == 0 ? 0 : 1;
    }

    private static (double Ns, long Bytes) Hooks(bool listening)
    {
        const int count = 200_000;
        using Listeners? on = listening ? new Listeners() : null;
        var observer = new OutcomeObserver(NullLogger.Instance, [], TimeProvider.System);
        var delivery = new Delivery { Id = "id", Queue = "bench", LeaseToken = "t", Envelope = new byte[] { 0x90 }, DeliveryCount = 1 };
        var envelope = new Envelope { Id = "id", Task = "bench.empty", Args = default, Queue = "bench", CreatedMs = 1 };
        var warm = Stopwatch.StartNew();
        while (warm.ElapsedMilliseconds < 1000)
        {
            OneTask(observer, delivery, envelope); // past tiered compilation's first tiers
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < count; i++)
        {
            OneTask(observer, delivery, envelope);
        }

        double ns = Stopwatch.GetElapsedTime(start).TotalNanoseconds / count;
        return (ns, (GC.GetAllocatedBytesForCurrentThread() - before) / count);
    }

    /// <summary>The run's log scope as a host with console logging opens it (the id is a string already here; a worker that kept it as bytes makes one).</summary>
    private static (double Ns, long Bytes) Scope()
    {
        const int count = 200_000;
        using ILoggerFactory factory = LoggerFactory.Create(b => b.AddConsole().SetMinimumLevel(LogLevel.Warning));
        ILogger logger = factory.CreateLogger(TaskLogScope.Category);
        var envelope = new Envelope { Id = "0f3c2a9e-5b1d-4c7e-0000-000000000001", Task = "bench.empty", Args = default, Queue = "bench", CreatedMs = 1 };
        var warm = Stopwatch.StartNew();
        while (warm.ElapsedMilliseconds < 500)
        {
            TaskLogScope.Begin(logger, envelope)?.Dispose();
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < count; i++)
        {
            TaskLogScope.Begin(logger, envelope)?.Dispose();
        }

        double ns = Stopwatch.GetElapsedTime(start).TotalNanoseconds / count;
        return (ns, (GC.GetAllocatedBytesForCurrentThread() - before) / count);
    }

    private static void OneTask(OutcomeObserver observer, Delivery delivery, Envelope envelope)
    {
        Activity? send = Telemetry.StartSend("bench", "bench.empty", 1);
        Telemetry.SendSucceeded("bench", "bench.empty", 1);
        send?.Dispose();
        Telemetry.RunStarting(delivery, envelope, TimeProvider.System, "bench");
        observer.Succeeded(delivery, envelope, TimeProvider.System.GetTimestamp());
        if (delivery.RunActivity is not null || delivery.CountedActive)
        {
            Telemetry.RunFinished(delivery);
        }
    }

    private static async Task<(double Rate, double Bytes)> DrainAsync(string redis, int n, int concurrency, bool listening)
    {
        string prefix = "tb-" + Guid.NewGuid().ToString("N")[..8];
        var options = new CeleriacOptions { Redis = redis, KeyPrefix = prefix };
        using Listeners? on = listening ? new Listeners() : null;
        await using (CeleriacClient client = await CeleriacClient.ConnectAsync(options))
        {
            var batch = new W2Tasks.EmptyTask.Args[1000];
            for (int sent = 0; sent < n; sent += batch.Length)
            {
                for (int i = 0; i < batch.Length; i++)
                {
                    batch[i] = new W2Tasks.EmptyTask.Args(sent + i, 1);
                }

                await client.SendManyAsync(W2Tasks.EmptyTask.Definition, batch[..Math.Min(batch.Length, n - sent)], null, CancellationToken.None);
            }
        }

        HostApplicationBuilder builder = Host.CreateApplicationBuilder([]);
        builder.Logging.ClearProviders();
        builder.Services.AddCeleriac(o =>
        {
            o.Redis = redis;
            o.KeyPrefix = prefix;
        }).AddWorker(w =>
        {
            w.Queues = [W2Tasks.EmptyQueueName];
            w.Concurrency = concurrency;
        });
        using IHost host = builder.Build();
        long target = BenchRedis.Completed + n;
        GC.Collect();
        long allocated = GC.GetTotalAllocatedBytes(precise: true);
        long start = Stopwatch.GetTimestamp();
        await host.StartAsync();
        while (BenchRedis.Completed < target)
        {
            await Task.Delay(1);
        }

        TimeSpan elapsed = Stopwatch.GetElapsedTime(start);
        double bytes = (GC.GetTotalAllocatedBytes(precise: true) - allocated) / (double)n;
        await host.StopAsync();
        return (n / elapsed.TotalSeconds, bytes);
    }

    /// <summary>What a telemetry SDK does at the least: samples every Celeriac span and aggregates every Celeriac measurement.</summary>
    private sealed class Listeners : IDisposable
    {
        private readonly ActivityListener _spans;
        private readonly MeterListener _meters;
        private long _stopped;
        private long _longs;
        private double _doubles;

        public Listeners()
        {
            _spans = new ActivityListener
            {
                ShouldListenTo = source => source.Name == CeleriacDiagnostics.ActivitySourceName,
                Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
                ActivityStopped = _ => Interlocked.Increment(ref _stopped),
            };
            ActivitySource.AddActivityListener(_spans);
            _meters = new MeterListener
            {
                InstrumentPublished = (instrument, listener) =>
                {
                    if (instrument.Meter.Name == CeleriacDiagnostics.MeterName)
                    {
                        listener.EnableMeasurementEvents(instrument);
                    }
                },
            };
            _meters.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref _longs, value));
            _meters.SetMeasurementEventCallback<double>((_, value, _, _) => Add(ref _doubles, value));
            _meters.Start();
        }

        public void Dispose()
        {
            _spans.Dispose();
            _meters.Dispose();
        }

        private static void Add(ref double total, double value)
        {
            double seen;
            do
            {
                seen = Volatile.Read(ref total);
            }
            while (Interlocked.CompareExchange(ref total, seen + value, seen) != seen);
        }
    }
}
