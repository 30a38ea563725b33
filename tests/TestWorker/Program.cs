// A worker process for the fault tests (tests/Integration/FaultSuite and the other process tests): runs the tasks of Celeriac.TestTasks against
// Redis with a Redis ledger, prints READY once the host has started, and runs until SIGTERM (graceful) or SIGKILL.
//   --redis host:port --prefix P --queues a,b --concurrency N --visibility-ms M
//   [--ledger host:port (where the ledger lives; default the --redis server)]
//   [--schedule name,every-ms,queue,task[,MissedTicks] (adds a periodic schedule to the catalog; the scheduler is on by default)] [--scheduler off]
//   [--max-deliveries N] [--max-threads N (caps the thread pool, to starve it)] [--shutdown-ms N] [--prefetch N] [--max-message-bytes N] [--max-message-elements N]
//   [--registry-ms N (the worker registry's heartbeat interval)]
//   [--trace true (prints every Celeriac span it ends as a line: SPAN kind trace-id span-id parent-span-id task-id)]
//   [--events true (WorkerOptions.Events)] [--event-heartbeat-ms N (WorkerOptions.EventHeartbeat)]
//   [--processes N (WorkerOptions.Processes: this process supervises N copies of itself)] [--max-tasks N (MaxTasksPerProcess)]
//   [--max-memory-mb N (MaxMemoryPerProcess)] [--crash-at-start true (a supervised child throws before its host starts)]
//   [--name NAME (WorkerOptions.Name)]
//   [--autoscale min,max[,interval-ms,idle-ms] (WorkerOptions.Autoscale)] [--track-started false (default true)]
// Settings of the host's configuration under Celeriac:Worker (environment variables such as
// Celeriac__Worker__Pools__reports__Concurrency=1) are bound after these options.
using System.Diagnostics;
using Celeriac;
using Celeriac.Diagnostics;
using Celeriac.TestTasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

Dictionary<string, string> options = ParseArgs(args);
string redis = Required(options, "redis");
string prefix = Required(options, "prefix");
string[] queues = options.TryGetValue("queues", out string? q) ? q.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) : ["default"];
int concurrency = options.TryGetValue("concurrency", out string? c) ? int.Parse(c, System.Globalization.CultureInfo.InvariantCulture) : 2;
int visibilityMs = options.TryGetValue("visibility-ms", out string? v) ? int.Parse(v, System.Globalization.CultureInfo.InvariantCulture) : 2000;

int maxDeliveries = options.TryGetValue("max-deliveries", out string? md) ? int.Parse(md, System.Globalization.CultureInfo.InvariantCulture) : WorkerOptions.DefaultMaxDeliveries;
int shutdownMs = options.TryGetValue("shutdown-ms", out string? sd) ? int.Parse(sd, System.Globalization.CultureInfo.InvariantCulture) : 10_000;
int maxMessageBytes = options.TryGetValue("max-message-bytes", out string? mb) ? int.Parse(mb, System.Globalization.CultureInfo.InvariantCulture) : 16 * 1024 * 1024;
int maxMessageElements = options.TryGetValue("max-message-elements", out string? me) ? int.Parse(me, System.Globalization.CultureInfo.InvariantCulture) : CeleriacOptions.DefaultMaxMessageElements;
int prefetch = options.TryGetValue("prefetch", out string? pf) ? int.Parse(pf, System.Globalization.CultureInfo.InvariantCulture) : 0;
int registryMs = options.TryGetValue("registry-ms", out string? rg) ? int.Parse(rg, System.Globalization.CultureInfo.InvariantCulture) : (int)WorkerOptions.DefaultRegistryInterval.TotalMilliseconds;
if (options.TryGetValue("max-threads", out string? mt))
{
    int max = int.Parse(mt, System.Globalization.CultureInfo.InvariantCulture);
    ThreadPool.GetMaxThreads(out _, out int io);
    if (!ThreadPool.SetMinThreads(Math.Min(max, Environment.ProcessorCount), 1) || !ThreadPool.SetMaxThreads(max, io))
    {
        throw new ArgumentException($"--max-threads {max}: the thread pool refused the limit.");
    }
}

if (options.TryGetValue("schedule", out string? schedule))
{
    // A schedule written by hand, as [Periodic] would generate it, for the scheduler fault tests (SchedulerKillTests).
    string[] parts = schedule.Split(',');
    MissedTicks missed = parts.Length > 4 ? Enum.Parse<MissedTicks>(parts[4]) : MissedTicks.RunOnce;
    TaskCatalog.Global.AddSchedule(new PeriodicSchedule(parts[0], parts[3], parts[2], null, TimeSpan.FromMilliseconds(int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture)), missedTicks: missed));
}

bool scheduler = !(options.TryGetValue("scheduler", out string? sc) && sc == "off");
bool events = options.TryGetValue("events", out string? ev) && ev == "true";
AutoscaleOptions? autoscale = null;
if (options.TryGetValue("autoscale", out string? au))
{
    int[] parts = [.. au.Split(',').Select(p => int.Parse(p, System.Globalization.CultureInfo.InvariantCulture))];
    autoscale = new AutoscaleOptions { Min = parts[0], Max = parts[1] };
    if (parts.Length > 3)
    {
        autoscale.Interval = TimeSpan.FromMilliseconds(parts[2]);
        autoscale.IdleTime = TimeSpan.FromMilliseconds(parts[3]);
    }
}

bool trackStarted = !(options.TryGetValue("track-started", out string? ts) && ts == "false");
TimeSpan eventHeartbeat = options.TryGetValue("event-heartbeat-ms", out string? eh) ? TimeSpan.FromMilliseconds(int.Parse(eh, System.Globalization.CultureInfo.InvariantCulture)) : WorkerOptions.DefaultEventHeartbeat;
if (options.TryGetValue("trace", out string? trace) && trace == "true")
{
    ActivitySource.AddActivityListener(new ActivityListener
    {
        ShouldListenTo = source => source.Name == CeleriacDiagnostics.ActivitySourceName,
        Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        ActivityStopped = span => Console.Out.WriteLine($"SPAN {span.Kind} {span.TraceId} {span.SpanId} {span.ParentSpanId} {span.GetTagItem("messaging.message.id")}"),
    });
}

int processes = options.TryGetValue("processes", out string? pr) ? int.Parse(pr, System.Globalization.CultureInfo.InvariantCulture) : 0;
long maxTasks = options.TryGetValue("max-tasks", out string? mx) ? long.Parse(mx, System.Globalization.CultureInfo.InvariantCulture) : 0;
long maxMemory = options.TryGetValue("max-memory-mb", out string? mm) ? long.Parse(mm, System.Globalization.CultureInfo.InvariantCulture) * 1024 * 1024 : 0;
if (options.TryGetValue("crash-at-start", out string? crash) && crash == "true" && Environment.GetEnvironmentVariable("CELERIAC_WORKER_INDEX") is { } index)
{
    // A child that can never start (a bad deployment): its supervisor must back off, not restart it in a tight loop.
    throw new InvalidOperationException($"worker process {index} crashes at start (--crash-at-start)");
}

HostApplicationBuilder builder = Host.CreateApplicationBuilder();
builder.Logging.ClearProviders();
builder.Logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Information);
builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
ConnectionMultiplexer ledgerConnection = await ConnectionMultiplexer.ConnectAsync(options.TryGetValue("ledger", out string? ledger) ? ledger : redis);
builder.Services.AddSingleton<IConnectionMultiplexer>(ledgerConnection);
builder.Services.AddSingleton<ILedger, RedisLedger>();
builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = TimeSpan.FromMilliseconds(shutdownMs + 5000));
builder.Services
    .AddCeleriac(o =>
    {
        o.Redis = redis;
        o.KeyPrefix = prefix;
        o.VisibilityTimeout = TimeSpan.FromMilliseconds(visibilityMs);
        o.MaxMessageBytes = maxMessageBytes;
        o.MaxMessageElements = maxMessageElements;
    })
    .AddWorker(w =>
    {
        w.Queues = [.. queues];
        w.Concurrency = concurrency;
        w.FetchWait = TimeSpan.FromMilliseconds(500);
        w.ShutdownTimeout = TimeSpan.FromMilliseconds(shutdownMs);
        w.MaxDeliveries = maxDeliveries;
        w.Prefetch = prefetch;
        w.TrackStarted = trackStarted; // the kill tests observe STARTED before they kill
        w.Autoscale = autoscale;
        w.Scheduler = scheduler;
        w.RegistryInterval = TimeSpan.FromMilliseconds(registryMs);
        w.Events = events;
        w.EventHeartbeat = eventHeartbeat;
        w.Processes = processes;
        w.MaxTasksPerProcess = maxTasks;
        w.MaxMemoryPerProcess = maxMemory;
        w.Name = options.TryGetValue("name", out string? name) ? name : null;
    })
    .AddWorker(builder.Configuration.GetSection("Celeriac:Worker")); // then the host's configuration (e.g. Celeriac__Worker__Pools__reports__Concurrency)

using IHost host = builder.Build();
try
{
    await host.StartAsync();
}
catch (InvalidOperationException failed)
{
    // As an application would: a worker that cannot start says why, once, and exits (settings that cannot work).
    Console.Error.WriteLine("celeriac-test-worker: cannot start: " + failed.Message);
    return 3;
}

Console.Out.WriteLine($"READY pid={Environment.ProcessId} tasks={TaskCatalog.Global.Count} queues={string.Join(",", queues)}");
Console.Out.Flush();
await host.WaitForShutdownAsync();
await ledgerConnection.CloseAsync();
Console.Out.WriteLine($"STOPPED pid={Environment.ProcessId} exit={Environment.ExitCode}");
return Environment.ExitCode; // WorkerOptions.RecycleExitCode after a recycle

static Dictionary<string, string> ParseArgs(string[] args)
{
    var result = new Dictionary<string, string>(StringComparer.Ordinal);
    for (int i = 0; i + 1 < args.Length; i += 2)
    {
        if (!args[i].StartsWith("--", StringComparison.Ordinal))
        {
            throw new ArgumentException($"Expected --name value pairs, got '{args[i]}'.");
        }

        result[args[i][2..]] = args[i + 1];
    }

    return result;
}

static string Required(Dictionary<string, string> options, string name)
    => options.TryGetValue(name, out string? value) ? value : throw new ArgumentException($"--{name} is required.");
