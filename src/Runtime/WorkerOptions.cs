namespace Celeriac;

/// <summary>How a worker consumes: which queues, how many tasks at once, how many held ahead, how it stops.</summary>
public sealed partial class WorkerOptions
{
    /// <summary>The default grace period on shutdown: 30 seconds.</summary>
    public static readonly TimeSpan DefaultShutdownTimeout = TimeSpan.FromSeconds(30);

    /// <summary>The default longest single wait in the broker when queues are empty: 2 seconds.</summary>
    public static readonly TimeSpan DefaultFetchWait = TimeSpan.FromSeconds(2);

    /// <summary>The default redelivery cap: a message delivered more than 5 times is dead-lettered.</summary>
    public const int DefaultMaxDeliveries = 5;

    /// <summary>The queues to consume, in priority order (the first non-empty queue is served first). Default: <c>default</c>.</summary>
    public List<string> Queues { get; set; } = [];

    /// <summary>
    /// How a fetch chooses among several <see cref="Queues"/>. <see cref="Celeriac.QueueOrder.Strict"/> (the default): in the
    /// listed order, a later queue only when the earlier ones are empty. <see cref="Celeriac.QueueOrder.Weighted"/>: a
    /// weighted random order per fetch using <see cref="QueueWeights"/>, so no queue starves.
    /// </summary>
    public QueueOrder QueueOrder { get; set; } = QueueOrder.Strict;

    /// <summary>Relative weights of the queues under <see cref="Celeriac.QueueOrder.Weighted"/> (1 to 1000; a queue not listed weighs 1).</summary>
    public Dictionary<string, int> QueueWeights { get; set; } = new(StringComparer.Ordinal);

    /// <summary>The default of <see cref="Concurrency"/>: 256.</summary>
    public const int DefaultConcurrency = 256;

    /// <summary>
    /// How many tasks run at once. Default 256 (<see cref="DefaultConcurrency"/>), whatever the processor count: tasks are
    /// asynchronous and mostly wait on I/O, so many in flight keep a worker busy; those that compute are bounded apart by
    /// <see cref="CpuThreads"/> (<see cref="TaskExecution.Cpu"/>), and what the held messages take by
    /// <see cref="MaxMemoryInFlight"/>. Set it lower for tasks that each hold a scarce resource (a database connection
    /// from a small pool), or 1 to run one task at a time. At least 1.
    /// </summary>
    public int Concurrency { get; set; } = DefaultConcurrency;

    /// <summary>
    /// How many dedicated threads run the tasks marked <see cref="TaskExecution.Cpu"/>: at most this many of them compute
    /// at once, whatever <see cref="Concurrency"/> is, and never on the thread pool. Default: the number of processors.
    /// At least 1. The threads are made only when a loaded task runs there.
    /// </summary>
    public int CpuThreads { get; set; } = Environment.ProcessorCount;

    /// <summary>
    /// How many tasks the worker holds at once, running and waiting to run (Celery's concurrency × prefetch multiplier).
    /// Held tasks are leased and their leases renewed. 0 (the default) means <see cref="Concurrency"/>: the worker
    /// fetches only for free run slots, so every fetched task starts at once and its run is counted by the fetch itself
    /// (one broker call fewer per batch; measured faster in docs/performance.md). Set it higher, at least
    /// <see cref="Concurrency"/>, to hold a buffer of tasks that waits for free slots.
    /// </summary>
    public int Prefetch { get; set; }

    /// <summary>
    /// Solo (Celery's <c>-P solo</c>), for debugging: one task at a time, each run inline on the worker's one consumer,
    /// <see cref="TaskExecution.Cpu"/> tasks included (no CPU threads are made), so a breakpoint or a stack trace in a
    /// task shows the consumer loop that runs it and nothing else runs meanwhile. <see cref="Concurrency"/> and
    /// <see cref="Prefetch"/> are not used (both are 1); control grow/shrink commands are refused. A task with a hard time
    /// limit still starts off the consumer, so that it can be abandoned at its limit. Default <see langword="false"/>.
    /// </summary>
    public bool Solo { get; set; }

    /// <summary>
    /// Autoscale (Celery's <c>--autoscale</c>): the concurrency moves between <see cref="AutoscaleOptions.Min"/>, where it
    /// starts, and <see cref="AutoscaleOptions.Max"/>, grown while work waits and shrunk when run slots stay unused; a
    /// shrink interrupts no running task. <see cref="Concurrency"/> is not used while it is on, and a <see cref="Prefetch"/>
    /// above the minimum keeps its margin over the concurrency as it moves. Default <see langword="null"/>: off, at no cost.
    /// </summary>
    public AutoscaleOptions? Autoscale { get; set; }

    /// <summary>The default of <see cref="MaxMemoryInFlight"/>: 64 MiB.</summary>
    public const long DefaultMaxMemoryInFlight = 64L * 1024 * 1024;

    /// <summary>
    /// The memory budget of the messages the worker holds, running or waiting to run, in bytes: a fetched message counts
    /// three times its length (its bytes, and the strings its envelope decodes into), and a run 64 bytes per argument
    /// element once they are counted, before they are decoded. The worker fetches no more than the budget has room for
    /// and a run whose elements do not fit waits, so that what a worker holds does not grow with <see cref="Concurrency"/>
    /// (docs/reliability.md, "The memory bound"). At least one message is always taken, whatever its size: a message
    /// larger than the budget runs, alone. Small messages never reach it: a thousand held messages of 1 KiB with 100
    /// elements each take about 9 MiB. Default 64 MiB; 0 means no budget.
    /// </summary>
    public long MaxMemoryInFlight { get; set; } = DefaultMaxMemoryInFlight;

    /// <summary>How long running tasks may finish after shutdown starts before they are cancelled and handed back. Default 30 s.</summary>
    public TimeSpan ShutdownTimeout { get; set; } = DefaultShutdownTimeout;

    /// <summary>The longest single blocking wait in the broker when every queue is empty. Default 2 s; between 10 ms and 30 s.</summary>
    public TimeSpan FetchWait { get; set; } = DefaultFetchWait;

    /// <summary>
    /// Record the state STARTED when a task begins: four more Redis writes per task, in the same call that counts the
    /// run. Default <see langword="false"/>, as Celery's <c>task_track_started</c>: a task reads PENDING until its
    /// outcome, and which tasks are running is still visible from the queue's leases (docs/reliability.md).
    /// </summary>
    public bool TrackStarted { get; set; }

    /// <summary>
    /// Open a logging scope for every run, so that every line logged during it — the worker's and the task's own,
    /// through any <c>ILogger</c> of the host — carries <c>TaskId</c> and <c>TaskName</c> as structured values. Default
    /// <see langword="false"/>: a scope costs every run about 150–350 bytes and two <c>AsyncLocal</c> changes, whether or
    /// not the run logs, so it is the user's choice (the figures are in docs/observability.md).
    /// With it on, the logging category <c>Celeriac.Tasks</c> set to <c>None</c> still turns the scopes off.
    /// </summary>
    public bool TaskLogScopes { get; set; }

    /// <summary>
    /// The redelivery cap: a message whose runs were started this many times without an outcome (its workers died
    /// running it: a poison message) is dead-lettered with reason <c>redelivery-limit</c> instead of run again. Runs are
    /// counted in the broker; prefetched-but-not-started deliveries and runs interrupted by a graceful shutdown do not
    /// count. A retry starts a new count. Default 5; 0 means no cap.
    /// </summary>
    public int MaxDeliveries { get; set; } = DefaultMaxDeliveries;

    /// <summary>
    /// Raise the thread pool's minimum worker threads to at least <see cref="Concurrency"/> plus the processor count when
    /// the worker starts (it never lowers it). Handlers that block their thread (synchronous I/O or CPU work) would
    /// otherwise hold every pool thread, and the pool adds threads only slowly; Redis replies (lease renewals included)
    /// are completed on pool threads, so a starved pool lets leases lapse and tasks run twice. Default <see langword="true"/>.
    /// </summary>
    public bool ReserveThreadPool { get; set; } = true;

    /// <summary>The default of <see cref="SchedulerRefresh"/>: 5 seconds.</summary>
    public static readonly TimeSpan DefaultSchedulerRefresh = TimeSpan.FromSeconds(5);

    /// <summary>The default of <see cref="SchedulerMisfireThreshold"/>: 1 minute.</summary>
    public static readonly TimeSpan DefaultSchedulerMisfireThreshold = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Run the periodic scheduler in this worker (default <see langword="true"/>): it sends the ticks of the catalog's
    /// <see cref="PeriodicAttribute"/> schedules and of the schedules stored in the broker. Any number of workers may run
    /// it; each tick is claimed and sent once by one of them (docs/scheduling.md). <see langword="false"/>: this worker
    /// sends no ticks and reads no schedules.
    /// </summary>
    public bool Scheduler { get; set; } = true;

    /// <summary>
    /// How often the scheduler asks the broker whether the stored schedules changed (one read; it re-reads them only
    /// then), so that a schedule added, changed or removed at run time takes effect within this time. Default 5 s;
    /// between 10 ms and 10 minutes.
    /// </summary>
    public TimeSpan SchedulerRefresh { get; set; } = DefaultSchedulerRefresh;

    /// <summary>
    /// Under <see cref="MissedTicks.Skip"/>, a tick the scheduler reaches later than this after its instant (every
    /// scheduler was down, or the broker unreachable) is skipped. Default 1 minute; 0 or more.
    /// </summary>
    public TimeSpan SchedulerMisfireThreshold { get; set; } = DefaultSchedulerMisfireThreshold;

    /// <summary>The default of <see cref="RegistryInterval"/>: 5 seconds.</summary>
    public static readonly TimeSpan DefaultRegistryInterval = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How often the worker refreshes its entry in the worker registry (<c>CeleriacClient.Workers</c>) and, besides the
    /// instant notification, looks for control commands queued for it. The entry expires three intervals after its last
    /// refresh: a worker that died is no longer listed by then. Default 5 s; between 100 ms and 5 minutes.
    /// </summary>
    public TimeSpan RegistryInterval { get; set; } = DefaultRegistryInterval;
    /// <summary>The default of <see cref="EventHeartbeat"/>.</summary>
    public static readonly TimeSpan DefaultEventHeartbeat = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Whether the worker writes task events (docs/observability.md, "Task events"; Celery's <c>-E</c>) when no run-time
    /// switch is set: <c>client.Events.SetEnabledAsync(true|false)</c> overrides it on every worker at once, and
    /// <c>SetEnabledAsync(null)</c> hands it back to this option. Default <see langword="false"/>.
    /// </summary>
    public bool Events { get; set; }

    /// <summary>
    /// How often the worker re-reads the run-time events switch and, while events are on, writes a
    /// <c>worker-heartbeat</c> event. Default 5 s; between 100 ms and 10 minutes.
    /// </summary>
    public TimeSpan EventHeartbeat { get; set; } = DefaultEventHeartbeat;

    /// <summary>The worker's name in results and logs. Default <c>{host}:{pid}</c>.</summary>
    public string? Name { get; set; }

    /// <summary>
    /// Pools of this worker process, by name (Sidekiq's capsules): each consumes its own queues with its own
    /// concurrency, prefetch and execution, apart from the worker's own <see cref="Queues"/> (the default pool), so that
    /// a slow or saturated pool never delays another's tasks. Bound from <c>Celeriac:Worker:Pools:{name}</c>; a queue
    /// may belong to one pool only. Each pool is listed in the worker registry as <c>{worker name}/{pool name}</c>.
    /// Default: none (docs/workers.md, "Per-queue pools").
    /// </summary>
    public Dictionary<string, WorkerPool> Pools { get; set; } = new(StringComparer.Ordinal);

    /// <summary>The concurrency the worker starts with: 1 when solo, the autoscale minimum when autoscale is on, else <see cref="Concurrency"/>.</summary>
    internal int InitialConcurrency => Solo ? 1 : Autoscale?.Min ?? Concurrency;

    internal int EffectivePrefetch => Solo ? 1 : Prefetch == 0 ? InitialConcurrency : Prefetch;

    internal IReadOnlyList<string> EffectiveQueues => Queues.Count == 0 ? [TaskAttribute.DefaultQueue] : Queues;

    /// <summary>Validates the options; returns the first problem, or <see langword="null"/>.</summary>
    /// <returns>A message naming the offending setting, or <see langword="null"/> when the options are valid.</returns>
    public string? Validate()
    {
        if (Concurrency < 1)
        {
            return $"Celeriac:Worker:Concurrency must be at least 1 (it is {Concurrency}).";
        }

        if (CpuThreads < 1)
        {
            return $"Celeriac:Worker:CpuThreads must be at least 1 (it is {CpuThreads}).";
        }

        if (MaxMemoryInFlight < 0)
        {
            return $"Celeriac:Worker:MaxMemoryInFlight must be 0 (no budget) or positive (it is {MaxMemoryInFlight}).";
        }

        if (Solo && Autoscale is not null)
        {
            return "Celeriac:Worker:Solo and Celeriac:Worker:Autoscale cannot both be set: a solo worker runs one task at a time.";
        }

        if (Autoscale?.Validate() is { } autoscale)
        {
            return autoscale;
        }

        if (Prefetch != 0 && Prefetch < InitialConcurrency)
        {
            return Autoscale is null
                ? $"Celeriac:Worker:Prefetch must be 0 (the concurrency) or at least Concurrency ({Concurrency}); it is {Prefetch}."
                : $"Celeriac:Worker:Prefetch must be 0 (the concurrency) or at least Autoscale:Min ({Autoscale.Min}); it is {Prefetch}.";
        }

        if (ShutdownTimeout < TimeSpan.Zero)
        {
            return $"Celeriac:Worker:ShutdownTimeout must not be negative (it is {ShutdownTimeout}).";
        }

        if (MaxDeliveries < 0)
        {
            return $"Celeriac:Worker:MaxDeliveries must be 0 (no cap) or positive (it is {MaxDeliveries}).";
        }

        if (FetchWait < TimeSpan.FromMilliseconds(10) || FetchWait > TimeSpan.FromSeconds(30))
        {
            return $"Celeriac:Worker:FetchWait must be between 10 ms and 30 s (it is {FetchWait}).";
        }

        if (SchedulerRefresh < TimeSpan.FromMilliseconds(10) || SchedulerRefresh > TimeSpan.FromMinutes(10))
        {
            return $"Celeriac:Worker:SchedulerRefresh must be between 10 ms and 10 minutes (it is {SchedulerRefresh}).";
        }

        if (RegistryInterval < TimeSpan.FromMilliseconds(100) || RegistryInterval > TimeSpan.FromMinutes(5))
        {
            return $"Celeriac:Worker:RegistryInterval must be between 100 ms and 5 minutes (it is {RegistryInterval}).";
        }

        if (SchedulerMisfireThreshold < TimeSpan.Zero)
        {
            return $"Celeriac:Worker:SchedulerMisfireThreshold must not be negative (it is {SchedulerMisfireThreshold}).";
        }

        if (EventHeartbeat < TimeSpan.FromMilliseconds(100) || EventHeartbeat > TimeSpan.FromMinutes(10))
        {
            return $"Celeriac:Worker:EventHeartbeat must be between 100 ms and 10 minutes (it is {EventHeartbeat}).";
        }

        if (ValidateProcesses() is { } processes)
        {
            return processes;
        }

        foreach ((string queue, int weight) in QueueWeights)
        {
            if (weight is < 1 or > 1000)
            {
                return $"Celeriac:Worker:QueueWeights:{queue} must be between 1 and 1000 (it is {weight}).";
            }

            if (!EffectiveQueues.Contains(queue, StringComparer.Ordinal))
            {
                return $"Celeriac:Worker:QueueWeights names '{queue}', which is not in Celeriac:Worker:Queues ({string.Join(", ", EffectiveQueues)}).";
            }
        }

        foreach (string queue in Queues)
        {
            if (QueueName.Validate(queue) is { } problem)
            {
                return $"Celeriac:Worker:Queues contains '{queue}', which is not a valid queue name: {problem}.";
            }
        }

        return Pools.Count == 0 ? null : ValidatePools();
    }

    /// <summary>The pools' settings, and that no queue is consumed by two pools (the worker's own queues are a pool too).</summary>
    private string? ValidatePools()
    {
        var owners = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string queue in EffectiveQueues)
        {
            owners[queue] = "the worker's own Celeriac:Worker:Queues";
        }

        foreach ((string name, WorkerPool pool) in Pools)
        {
            string at = "Celeriac:Worker:Pools:" + name;
            if (string.IsNullOrWhiteSpace(name) || name.Contains('/', StringComparison.Ordinal) || QueueName.Validate(name) is not null)
            {
                return $"Celeriac:Worker:Pools has a pool named '{name}': a pool's name must be a valid queue name without '/' (it names the pool in the worker registry).";
            }

            if (pool is null)
            {
                return $"{at} is empty.";
            }

            if (pool.Concurrency < 1)
            {
                return $"{at}:Concurrency must be at least 1 (it is {pool.Concurrency}).";
            }

            if (pool.Prefetch != 0 && pool.Prefetch < pool.Concurrency)
            {
                return $"{at}:Prefetch must be 0 (the pool's concurrency) or at least its Concurrency ({pool.Concurrency}); it is {pool.Prefetch}.";
            }

            if (pool.CpuThreads < 0)
            {
                return $"{at}:CpuThreads must be 0 (the worker's CpuThreads) or positive (it is {pool.CpuThreads}).";
            }

            if (pool.Execution is { } execution && !Enum.IsDefined(execution))
            {
                return $"{at}:Execution must be Pool or Cpu (it is {(int)execution}).";
            }

            foreach (string queue in pool.EffectiveQueues(name))
            {
                if (QueueName.Validate(queue) is { } problem)
                {
                    return $"{at}:Queues contains '{queue}', which is not a valid queue name: {problem}.";
                }

                if (owners.TryGetValue(queue, out string? owner))
                {
                    return $"The queue '{queue}' is in two pools: {at} and {owner}. A queue belongs to one pool of a worker; remove it from one of them.";
                }

                owners[queue] = at;
            }
        }

        return null;
    }

    /// <summary>
    /// The options of pool <paramref name="name"/>: a copy of these (every setting a pool does not have of its own is the
    /// worker's) with the pool's queues, concurrency, prefetch and CPU threads.
    /// </summary>
    internal WorkerOptions ForPool(string name, WorkerPool pool, string workerName)
    {
        var options = (WorkerOptions)MemberwiseClone();
        options.Queues = [.. pool.EffectiveQueues(name)];
        options.QueueOrder = QueueOrder.Strict;
        options.QueueWeights = new(StringComparer.Ordinal);
        options.Concurrency = pool.Concurrency;
        options.Prefetch = pool.Prefetch;
        options.CpuThreads = pool.CpuThreads == 0 ? CpuThreads : pool.CpuThreads;
        options.Autoscale = null; // a pool runs at its own Concurrency
        options.ReserveThreadPool = false; // the worker reserves threads for all its pools at once
        options.Scheduler = false;
        options.Name = workerName + "/" + name;
        options.Pools = new(StringComparer.Ordinal);
        options.Processes = 0; // the worker recycles the process (its task count and memory), not its pools
        options.MaxTasksPerProcess = 0;
        options.MaxMemoryPerProcess = 0;
        return options;
    }
}

/// <summary>How a worker listening on several queues chooses among them (see <see cref="WorkerOptions.QueueOrder"/>).</summary>
public enum QueueOrder
{
    /// <summary>In the listed order: a later queue is served only when the earlier ones are empty.</summary>
    Strict = 0,

    /// <summary>A weighted random order per fetch: each queue comes first in proportion to its weight; none starves.</summary>
    Weighted = 1,
}
