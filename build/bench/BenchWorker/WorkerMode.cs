using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Celeriac.Bench;

/// <summary>
/// The worker child process: an ordinary Celeriac host plus a reporter that prints, every 50 ms,
/// <c>STAT unix_ms completed alloc_bytes gen0 gen1 gen2 gc_pause_ms cpu_ms</c> on stdout (completed = tasks of the bench
/// that ran to their end in this process). It prints <c>READY</c> once started and exits when its stdin closes
/// (the driver died) so that no worker outlives a benchmark.
/// </summary>
internal static class WorkerMode
{
    public static async Task<int> RunAsync(BenchArgs args)
    {
        string redis = args.Required("redis");
        string prefix = args.Required("prefix");
        string[] queues = args.Required("queues").Split(',', StringSplitOptions.RemoveEmptyEntries);
        bool defaults = args.Get("defaults", "false") == "true"; // every worker option at its default: what a new user runs
        int concurrency = args.Int("concurrency", 64);
        int prefetch = args.Int("prefetch", concurrency * 2);
        bool trackStarted = args.Get("track-started", "true") != "false";

        HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace).SetMinimumLevel(LogLevel.Warning);
        bool taskScopes = Environment.GetEnvironmentVariable("CELERIAC_BENCH_TASK_SCOPES") == "on"; // run log scopes: their cost (docs/observability.md)
        ConnectionMultiplexer multiplexer = await ConnectionMultiplexer.ConnectAsync(redis + ",name=bench-task");
        builder.Services.AddSingleton<IConnectionMultiplexer>(multiplexer);
        builder.Services.AddSingleton<BenchRedis>();
        builder.Services
            .AddCeleriac(o =>
            {
                o.Redis = redis;
                o.KeyPrefix = prefix;
            })
            .AddWorker(w =>
            {
                w.Queues = [.. queues];
                if (!defaults)
                {
                    w.Concurrency = concurrency;
                    w.Prefetch = prefetch;
                    w.TrackStarted = trackStarted;
                }

#if !CELERIAC_BENCH_DRIVE_ONLY // an older runtime (run.sh's ref option) may not have the option
                w.TaskLogScopes = taskScopes;

                // CELERIAC_BENCH_AUTOSCALE=min,max[,interval-ms]: every worker of the run (tuned and defaults rows) with
                // autoscale (it starts at min) instead of a fixed concurrency.
                if (Environment.GetEnvironmentVariable("CELERIAC_BENCH_AUTOSCALE") is { Length: > 0 } autoscale)
                {
                    string[] bounds = autoscale.Split(',');
                    w.Autoscale = new AutoscaleOptions { Min = int.Parse(bounds[0], CultureInfo.InvariantCulture), Max = int.Parse(bounds[1], CultureInfo.InvariantCulture) };
                    if (bounds.Length > 2)
                    {
                        w.Autoscale.Interval = TimeSpan.FromMilliseconds(int.Parse(bounds[2], CultureInfo.InvariantCulture));
                    }

                    w.Prefetch = 0;
                }
#endif
            });

        using IHost host = builder.Build();
        IHostApplicationLifetime lifetime = host.Services.GetRequiredService<IHostApplicationLifetime>();
        using var stop = new CancellationTokenSource();
        lifetime.ApplicationStarted.Register(() =>
        {
            Console.Out.WriteLine("READY");
            _ = Task.Run(() => ReportAsync(stop.Token));
        });
        _ = Task.Run(() =>
        {
            // The driver holds our stdin; EOF means it is gone (or wants us gone).
            Console.In.ReadToEnd();
            Environment.Exit(0);
        });

        await host.RunAsync();
        await stop.CancelAsync();
        return 0;
    }

    private static async Task ReportAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(50));
        while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
        {
            Console.Out.WriteLine(Line());
        }
    }

    private static string Line() => string.Create(CultureInfo.InvariantCulture,
        $"STAT {DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()} {BenchRedis.Completed} {GC.GetTotalAllocatedBytes(false)} {GC.CollectionCount(0)} {GC.CollectionCount(1)} {GC.CollectionCount(2)} {GC.GetTotalPauseDuration().TotalMilliseconds:0.###} {Environment.CpuUsage.TotalTime.TotalMilliseconds:0.###}");
}
