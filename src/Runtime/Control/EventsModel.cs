namespace Celeriac;

/// <summary>What a <see cref="TaskEvent"/> reports (Celery's event types; the wire name of each is in docs/observability.md).</summary>
public enum TaskEventKind
{
    /// <summary><c>task-sent</c>: a client sent the task.</summary>
    TaskSent,

    /// <summary><c>task-received</c>: a worker took the task from its queue and admitted it for a run.</summary>
    TaskReceived,

    /// <summary><c>task-started</c>: a worker started running the task.</summary>
    TaskStarted,

    /// <summary><c>task-succeeded</c>: the task returned (<see cref="TaskEvent.Runtime"/>).</summary>
    TaskSucceeded,

    /// <summary><c>task-failed</c>: the task failed for good (<see cref="TaskEvent.ErrorType"/>, <see cref="TaskEvent.ErrorMessage"/>).</summary>
    TaskFailed,

    /// <summary><c>task-retried</c>: the task failed and is rescheduled (<see cref="TaskEvent.Eta"/>: when it is due).</summary>
    TaskRetried,

    /// <summary><c>task-revoked</c>: the task was revoked, or expired (<see cref="TaskEvent.Reason"/> <c>revoked</c> or <c>expired</c>).</summary>
    TaskRevoked,

    /// <summary><c>task-dead-lettered</c>: the message was set aside (<see cref="TaskEvent.Reason"/>: the dead-letter reason).</summary>
    TaskDeadLettered,

    /// <summary><c>worker-online</c>: a worker is ready and consuming.</summary>
    WorkerOnline,

    /// <summary><c>worker-heartbeat</c>: a worker is alive (<see cref="TaskEvent.Active"/>, <see cref="TaskEvent.Processed"/>, <see cref="TaskEvent.Load"/>).</summary>
    WorkerHeartbeat,

    /// <summary><c>worker-offline</c>: a worker stopped.</summary>
    WorkerOffline,
}

/// <summary>
/// One entry of the task event stream (docs/observability.md, "Task events"), as read by
/// <see cref="TaskEventClient.ReadAsync"/>. Every event has an <see cref="Id"/>, a <see cref="Kind"/>, a
/// <see cref="Timestamp"/> and a <see cref="Source"/>; the other members are set for the kinds that carry them.
/// </summary>
public sealed record TaskEvent
{
    /// <summary>The stream entry's id (<c>&lt;ms&gt;-&lt;seq&gt;</c>): pass it to <see cref="TaskEventClient.ReadAsync"/> to read on from after it.</summary>
    public required string Id { get; init; }

    /// <summary>What happened.</summary>
    public required TaskEventKind Kind { get; init; }

    /// <summary>When it happened (the sender's clock, millisecond precision).</summary>
    public required DateTimeOffset Timestamp { get; init; }

    /// <summary>Who wrote it: the worker's name (<see cref="WorkerOptions.Name"/>) or, for <see cref="TaskEventKind.TaskSent"/>, the client's <c>host:pid</c>.</summary>
    public required string Source { get; init; }

    /// <summary>The task's id (task events).</summary>
    public string? TaskId { get; init; }

    /// <summary>The task's name (task events; a dead letter of an undecodable message has none).</summary>
    public string? TaskName { get; init; }

    /// <summary>The task's queue (task events).</summary>
    public string? Queue { get; init; }

    /// <summary>How many times the task had been retried before this run (task events).</summary>
    public int Retries { get; init; }

    /// <summary>The error's type (failed, retried, revoked, dead-lettered).</summary>
    public string? ErrorType { get; init; }

    /// <summary>The error's message (failed, retried, revoked, dead-lettered).</summary>
    public string? ErrorMessage { get; init; }

    /// <summary>Why: the dead-letter reason code, or <c>revoked</c>/<c>expired</c> for a revocation.</summary>
    public string? Reason { get; init; }

    /// <summary>How long the run took (succeeded; a failure past its hard time limit: the limit).</summary>
    public TimeSpan? Runtime { get; init; }

    /// <summary>When the task is due: a sent task's ETA or countdown, a retry's due time.</summary>
    public DateTimeOffset? Eta { get; init; }

    /// <summary>Runs in progress on the worker (worker events).</summary>
    public int? Active { get; init; }

    /// <summary>Tasks the worker finished (any final outcome or retry) while events were on (worker heartbeat and offline).</summary>
    public long? Processed { get; init; }

    /// <summary>The host's one-minute load average, where the platform reports one (worker heartbeat).</summary>
    public double? Load { get; init; }
}
