using Microsoft.Extensions.Logging;

namespace Celeriac.Worker;

internal static partial class Log
{
    [LoggerMessage(2000, LogLevel.Information, "Celeriac worker {Worker} started on the {Broker} broker: queues [{Queues}], concurrency {Concurrency}, prefetch {Prefetch}, {TaskCount} tasks registered")]
    public static partial void WorkerStarted(ILogger logger, string worker, string broker, string queues, int concurrency, int prefetch, int taskCount);

    [LoggerMessage(2001, LogLevel.Information, "Celeriac worker {Worker} stopping: {Running} running, {Released} prefetched tasks handed back")]
    public static partial void WorkerStopping(ILogger logger, string worker, int running, int released);

    [LoggerMessage(2002, LogLevel.Warning, "Celeriac worker {Worker}: {Count} tasks did not finish within the shutdown timeout; cancelled and handed back")]
    public static partial void ShutdownAbandoned(ILogger logger, string worker, int count);

    [LoggerMessage(2003, LogLevel.Error, "Message {TaskId} on queue {Queue} set aside (dead letter): {Reason}")]
    public static partial void DeadLettered(ILogger logger, string taskId, string queue, string reason);

    [LoggerMessage(2004, LogLevel.Warning, "Task {TaskId} ({TaskName}) failed: {ErrorType}: {ErrorMessage}")]
    public static partial void TaskFailed(ILogger logger, string taskId, string taskName, string errorType, string errorMessage);

    [LoggerMessage(2005, LogLevel.Warning, "Task {TaskId} finished but its lease had been taken over by another delivery; its result was discarded (the newer run owns the task)")]
    public static partial void LeaseLost(ILogger logger, string taskId);

    [LoggerMessage(2006, LogLevel.Warning, "Broker error in the {Loop} loop; retrying in {DelayMs} ms")]
    public static partial void BrokerError(ILogger logger, Exception exception, string loop, int delayMs);

    [LoggerMessage(2007, LogLevel.Information, "Task {TaskId} ({TaskName}) expired before it ran; marked REVOKED")]
    public static partial void TaskExpired(ILogger logger, string taskId, string taskName);

    [LoggerMessage(2008, LogLevel.Debug, "Task {TaskId} ({TaskName}) succeeded in {ElapsedMs:0.###} ms")]
    public static partial void TaskSucceeded(ILogger logger, string taskId, string taskName, double elapsedMs);

    [LoggerMessage(2009, LogLevel.Error, "Could not record the outcome of task {TaskId}; it stays leased and will be redelivered")]
    public static partial void OutcomeNotRecorded(ILogger logger, Exception exception, string taskId);

    [LoggerMessage(2010, LogLevel.Information, "Task {TaskId} ({TaskName}) failed and will be retried in {DelayMs} ms (retry {Retry} of {MaxRetries})")]
    public static partial void TaskRetrying(ILogger logger, string taskId, string taskName, long delayMs, int retry, int maxRetries);

    [LoggerMessage(2011, LogLevel.Information, "Task {TaskId} ({TaskName}) was revoked {When}; marked REVOKED")]
    public static partial void TaskRevoked(ILogger logger, string taskId, string taskName, string when);

    [LoggerMessage(2012, LogLevel.Error, "Task {TaskId} ({TaskName}) exceeded its hard time limit of {LimitMs} ms: marked FAILURE and abandoned (it may keep running in the background; its slot is freed)")]
    public static partial void TimeLimitExceeded(ILogger logger, string taskId, string taskName, double limitMs);

    [LoggerMessage(2013, LogLevel.Warning, "An abandoned run of task {TaskId} ({TaskName}) ended ({Status}); its outcome is ignored")]
    public static partial void AbandonedRunEnded(ILogger logger, string taskId, string taskName, string status);

    [LoggerMessage(2014, LogLevel.Warning, "The lease renewal of {Count} held tasks took longer than {IntervalMs} ms")]
    public static partial void HeartbeatSlow(ILogger logger, int count, int intervalMs);

    [LoggerMessage(2015, LogLevel.Warning, "Task {TaskId} ({TaskName}) was started {Runs} time(s) before without an outcome (its worker probably died); running it alone")]
    public static partial void RunningSuspectAlone(ILogger logger, string taskId, string taskName, int runs);

    [LoggerMessage(2017, LogLevel.Error, "The lease heartbeat stopped on an error; leases of the tasks held are no longer renewed")]
    public static partial void HeartbeatFailed(ILogger logger, Exception exception);

    [LoggerMessage(2016, LogLevel.Debug, "Raised the thread pool's minimum worker threads from {From} to {To} (WorkerOptions.ReserveThreadPool)")]
    public static partial void ThreadPoolReserved(ILogger logger, int from, int to);

    [LoggerMessage(2700, LogLevel.Information, "Celeriac worker {Worker} autoscaled its concurrency from {From} to {To}: {Reason}")]
    public static partial void Autoscaled(ILogger logger, string worker, int from, int to, string reason);
}
