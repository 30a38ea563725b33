namespace Celeriac;

/// <summary>How many worker processes run under a supervisor, and when one is recycled (docs/workers.md, "Process supervision and recycling").</summary>
public sealed partial class WorkerOptions
{
    /// <summary>
    /// The exit code of a worker that recycled itself (<see cref="MaxTasksPerProcess"/>, <see cref="MaxMemoryPerProcess"/>):
    /// 75, <c>EX_TEMPFAIL</c> of sysexits.h. A supervisor, systemd or Kubernetes that sees it knows the worker stopped on
    /// purpose and wants a replacement, and that it did not crash. It reaches the process's exit code through
    /// <see cref="Environment.ExitCode"/>: a <c>Main</c> that returns an <see langword="int"/> returns that.
    /// </summary>
    public const int RecycleExitCode = 75;

    /// <summary>The largest <see cref="Processes"/>.</summary>
    internal const int MaxProcesses = 256;

    /// <summary>
    /// Run this many worker processes under a supervisor (Celery's prefork pool). 0 (the default): the worker runs in
    /// this process. N from 1 to 256: this process, started as usual, becomes the supervisor. It starts N copies of
    /// itself (the same executable with the same arguments; each told its index by the <c>CELERIAC_WORKER_INDEX</c>
    /// environment variable), runs no worker, fetches nothing, restarts a child that crashes (backing off while one keeps
    /// crashing), starts a replacement as soon as a child begins to recycle, and stops every child gracefully when it is
    /// stopped itself. A child whose supervisor dies stops gracefully as well. Every child registers as a worker of its
    /// own, named <see cref="Name"/> (or the host name) followed by <c>-index:pid</c>.
    /// </summary>
    public int Processes { get; set; }

    /// <summary>
    /// Recycle the worker after it has taken this many tasks (Celery's <c>--max-tasks-per-child</c>): it fetches no more,
    /// lets the tasks it runs finish within <see cref="ShutdownTimeout"/> (or hands them back, as a stop does), hands back
    /// those it holds unstarted, then stops its host with <see cref="RecycleExitCode"/>. Counted per fetched batch; a
    /// fetch never takes more than the tasks left. 0 (the default): no limit. Works with or without a supervisor
    /// (<see cref="Processes"/>), which starts the replacement at once.
    /// </summary>
    public long MaxTasksPerProcess { get; set; }

    /// <summary>
    /// Recycle the worker once its process's resident memory (RSS, read from <c>/proc/self/statm</c> on Linux, else the
    /// working set) exceeds this many bytes (Celery's <c>--max-memory-per-child</c>, which counts KiB): as
    /// <see cref="MaxTasksPerProcess"/> does, with the same hand-off and exit code. Read on the lease heartbeat, every
    /// third of <see cref="CeleriacOptions.VisibilityTimeout"/> (20 s by default), never per task. 0 (the default): no
    /// limit; else at least 16 MiB.
    /// </summary>
    public long MaxMemoryPerProcess { get; set; }

    private string? ValidateProcesses()
    {
        if (Processes is < 0 or > MaxProcesses)
        {
            return $"Celeriac:Worker:Processes must be between 0 (the worker runs in this process) and {MaxProcesses} (it is {Processes}).";
        }

        if (MaxTasksPerProcess < 0)
        {
            return $"Celeriac:Worker:MaxTasksPerProcess must be 0 (no limit) or positive (it is {MaxTasksPerProcess}).";
        }

        if (MaxMemoryPerProcess != 0 && MaxMemoryPerProcess < 16L * 1024 * 1024)
        {
            return $"Celeriac:Worker:MaxMemoryPerProcess must be 0 (no limit) or at least 16 MiB, in bytes (it is {MaxMemoryPerProcess}).";
        }

        return null;
    }
}
