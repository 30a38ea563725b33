namespace Celeriac;

/// <summary>
/// A pool of the worker process (Sidekiq's capsules): queues consumed apart from the worker's own, with a concurrency,
/// prefetch and execution of their own. Each pool has its own fetch loop, run permits, held set and lease heartbeat,
/// so a slow or saturated pool never delays the tasks of another. Listed in <see cref="WorkerOptions.Pools"/> by name,
/// bound from <c>Celeriac:Worker:Pools:{name}</c> (docs/workers.md, "Per-queue pools").
/// </summary>
public sealed class WorkerPool
{
    /// <summary>
    /// The queues this pool consumes, in priority order (the first non-empty queue is served first). Default: one queue
    /// named like the pool. A queue belongs to one pool only: the worker's own <see cref="WorkerOptions.Queues"/> and every
    /// other pool's must not list it.
    /// </summary>
    public List<string> Queues { get; set; } = [];

    /// <summary>How many of this pool's tasks run at once. Default 256 (<see cref="WorkerOptions.DefaultConcurrency"/>); at least 1.</summary>
    public int Concurrency { get; set; } = WorkerOptions.DefaultConcurrency;

    /// <summary>
    /// How many of this pool's tasks it holds at once, running and waiting to run. 0 (the default) means
    /// <see cref="Concurrency"/>; otherwise at least <see cref="Concurrency"/> (as <see cref="WorkerOptions.Prefetch"/>).
    /// </summary>
    public int Prefetch { get; set; }

    /// <summary>
    /// Where this pool's tasks run, whatever their own <see cref="TaskAttribute.Execution"/> says:
    /// <see cref="TaskExecution.Cpu"/> runs them all on the pool's dedicated CPU threads, <see cref="TaskExecution.Pool"/>
    /// all on the thread pool. Default <see langword="null"/>: each task where its attribute says.
    /// </summary>
    public TaskExecution? Execution { get; set; }

    /// <summary>
    /// How many dedicated CPU threads this pool has for the tasks it runs as <see cref="TaskExecution.Cpu"/> (its own,
    /// apart from the worker's). 0 (the default) means the worker's <see cref="WorkerOptions.CpuThreads"/>.
    /// </summary>
    public int CpuThreads { get; set; }

    /// <summary>The queues consumed: <see cref="Queues"/>, or the pool's name when none are listed.</summary>
    internal IReadOnlyList<string> EffectiveQueues(string name) => Queues.Count == 0 ? [name] : Queues;
}
