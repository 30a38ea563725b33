namespace Celeriac;

/// <summary>
/// Where a worker runs a task's method (<see cref="TaskAttribute.Execution"/>; docs/workers.md).
/// </summary>
public enum TaskExecution
{
    /// <summary>
    /// On the thread pool, as many at once as the worker's concurrency allows: right for asynchronous, I/O-bound methods
    /// and for short synchronous ones. The default.
    /// </summary>
    Pool = 0,

    /// <summary>
    /// On the worker's dedicated CPU threads (<c>WorkerOptions.CpuThreads</c>, one per processor by default), at most
    /// that many at once whatever the concurrency: right for methods that compute for a long time or block their
    /// thread. They then never hold the thread-pool threads that carry Redis replies, lease renewals and the other
    /// tasks. An asynchronous method runs on a CPU thread until its first incomplete await.
    /// </summary>
    Cpu = 1,
}
