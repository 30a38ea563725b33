using System.Diagnostics;
using Celeriac.Brokers;
using Celeriac.Brokers.InMemory;
using Celeriac.Middleware;
using Celeriac.Protocol;
using Celeriac.Worker;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace Celeriac.Bench;

/// <summary>
/// The cost of middleware and task events (docs/observability.md), in one run (build/bench/events.sh):
/// <list type="number">
/// <item>per task, the middleware hooks the worker calls (run hooks and the outcome) and a send's message (the
/// envelope factory, where the send hooks run), with no middleware and with one that does nothing, measured with
/// <see cref="GC.GetAllocatedBytesForCurrentThread"/> and a stopwatch;</item>
/// <item>the drain rate of an in-process worker over Redis (N empty tasks waiting, the worker started, until all ran)
/// with events off and on (<see cref="WorkerOptions.Events"/>), interleaved (off, on, off, on…) after one uncounted
/// warm-up pair, with the events written and dropped.</item>
/// </list>
/// </summary>
internal static class EventsBench
{
    public static async Task<int> RunAsync(BenchArgs args)
    {
        string redis = args.Required("redis");
        int n = args.Int("n", 20_000);
        int rounds = args.Int("rounds", 3);
        int concurrency = args.Int("concurrency", 16);

        Console.WriteLine($"events bench: redis {redis}, N={n}, rounds={rounds}, concurrency={concurrency}");
        Console.WriteLine();
        Console.WriteLine("middleware per task, 200000 tasks on one thread:");
        var none = MiddlewarePipeline.None;
        var one = new MiddlewarePipeline([new NoOp()], NullLogger.Instance);
        (double runNoneNs, long runNoneBytes) = Measure(RunHooks(none));
        (double runOneNs, long runOneBytes) = Measure(RunHooks(one));
        Console.WriteLine($"  worker hooks (run + outcome), none    : {runNoneBytes,6} B/task {runNoneNs,8:0.0} ns/task");
        Console.WriteLine($"  worker hooks (run + outcome), one no-op: {runOneBytes,6} B/task {runOneNs,8:0.0} ns/task");
        (double sendNoneNs, long sendNoneBytes) = Measure(Send(none));
        (double sendOneNs, long sendOneBytes) = Measure(Send(one));
        Console.WriteLine($"  a send's message, none                 : {sendNoneBytes,6} B/task {sendNoneNs,8:0.0} ns/task");
        Console.WriteLine($"  a send's message, one no-op            : {sendOneBytes,6} B/task {sendOneNs,8:0.0} ns/task (+{sendOneBytes - sendNoneBytes} B, +{sendOneNs - sendNoneNs:0} ns)");
        Console.WriteLine();
        Console.WriteLine("drain of an in-process worker (tasks/s; events written to the stream, dropped):");
        var rates = new Dictionary<bool, List<double>> { [false] = [], [true] = [] };
        _ = await DrainAsync(redis, n, concurrency, events: false); // warm-up, not counted
        _ = await DrainAsync(redis, n, concurrency, events: true);
        for (int round = 0; round < rounds; round++)
        {
            foreach (bool events in (bool[])[false, true])
            {
                (double rate, long written, long dropped) = await DrainAsync(redis, n, concurrency, events);
                rates[events].Add(rate);
                Console.WriteLine($"  round {round + 1} events {(events ? "on " : "off")}: {rate,9:0} tasks/s {written,8} written {dropped,6} dropped");
            }
        }

        double off = rates[false].Average(), on = rates[true].Average();
        Console.WriteLine($"  mean: off {off:0} tasks/s, on {on:0} tasks/s: on keeps {on / off:P0} of off (target: 70%)");
        return runNoneBytes == 0 ? 0 : 1;
    }

    private static (double Ns, long Bytes) Measure(Action once)
    {
        const int count = 200_000;
        var warm = Stopwatch.StartNew();
        while (warm.ElapsedMilliseconds < 1000)
        {
            once(); // past tiered compilation's first tiers
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < count; i++)
        {
            once();
        }

        double ns = Stopwatch.GetElapsedTime(start).TotalNanoseconds / count;
        return (ns, (GC.GetAllocatedBytesForCurrentThread() - before) / count);
    }

    /// <summary>What the consumer loop calls per task for middleware: the run hooks (each behind <see cref="MiddlewarePipeline.Any"/>) and the outcome.</summary>
    private static Action RunHooks(MiddlewarePipeline middleware)
    {
        var observer = new OutcomeObserver(NullLogger.Instance, [], TimeProvider.System, null, middleware, "bench");
        var delivery = new Delivery { Id = "id", Queue = "bench", LeaseToken = "t", Envelope = new byte[] { 0x90 }, DeliveryCount = 1 };
        var envelope = new Envelope { Id = "id", Task = "bench.empty", Args = default, Queue = "bench", CreatedMs = 1 };
        var context = new TaskContext { TaskId = "id", TaskName = "bench.empty", Queue = "bench" };
        return () =>
        {
            if (middleware.Any)
            {
                middleware.Running(context);
            }

            if (middleware.Any)
            {
                middleware.Ran(context, null);
            }

            observer.Succeeded(delivery, envelope, TimeProvider.System.GetTimestamp());
        };
    }

    /// <summary>A send's message as the client makes it (the send hooks run inside), ids from the in-process broker.</summary>
    private static Action Send(MiddlewarePipeline middleware)
    {
        var factory = new Client.EnvelopeFactory(new CeleriacOptions(), TaskCatalog.Global, TimeProvider.System, middleware);
        var ids = new InMemoryBroker(TimeProvider.System);
        var args = new W2Tasks.EmptyTask.Args(1, 2);
        return () =>
        {
            EnqueueItem item = factory.Create(W2Tasks.EmptyTask.Definition, args, null, ids, null, null, null, out SendingTask? sending);
            GC.KeepAlive(item.Envelope);
            GC.KeepAlive(sending);
        };
    }

    private static async Task<(double Rate, long Written, long Dropped)> DrainAsync(string redis, int n, int concurrency, bool events)
    {
        string prefix = "eb-" + Guid.NewGuid().ToString("N")[..8];
        var options = new CeleriacOptions { Redis = redis, KeyPrefix = prefix };
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
            o.EventStreamLength = 100_000; // keeps every event of a round: the count written is exact
        }).AddWorker(w =>
        {
            w.Queues = [W2Tasks.EmptyQueueName];
            w.Concurrency = concurrency;
            w.Events = events;
        });
        using IHost host = builder.Build();
        long target = BenchRedis.Completed + n;
        GC.Collect();
        long start = Stopwatch.GetTimestamp();
        await host.StartAsync();
        while (BenchRedis.Completed < target)
        {
            await Task.Delay(1);
        }

        TimeSpan elapsed = Stopwatch.GetElapsedTime(start);
        await host.StopAsync();
        long dropped = host.Services.GetRequiredService<CeleriacClient>().Events.Dropped;
        await using ConnectionMultiplexer connection = await ConnectionMultiplexer.ConnectAsync(redis);
        long written = await connection.GetDatabase().StreamLengthAsync(prefix + ":events");
        return (n / elapsed.TotalSeconds, written, dropped);
    }

    private sealed class NoOp : CeleriacMiddleware;
}
