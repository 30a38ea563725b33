using Celeriac.Brokers;
using Celeriac.Diagnostics;
using Celeriac.Protocol;
using Microsoft.Extensions.Logging;

namespace Celeriac.Worker;

/// <summary>What became of a delivery.</summary>
internal enum OutcomeKind
{
    /// <summary>The task returned; its result is being stored.</summary>
    Succeeded,

    /// <summary>The task failed for good (its retries exhausted or not retryable, or a time limit): FAILURE.</summary>
    Failed,

    /// <summary>The task failed and is rescheduled: RETRY.</summary>
    Retried,

    /// <summary>The task was revoked, before or while it ran: REVOKED.</summary>
    Revoked,

    /// <summary>The task expired before it ran: REVOKED.</summary>
    Expired,

    /// <summary>The message was set aside (dead letter) with a reason from <see cref="DeadLetterReasons"/>.</summary>
    DeadLettered,

    /// <summary>Interrupted by the worker's stop past its grace period: handed back to the queue, not failed.</summary>
    Released,

    /// <summary>The outcome was not written: the lease had passed to another delivery, which owns the task now.</summary>
    LeaseLost,

    /// <summary>The outcome could not be written (broker unreachable): the task stays leased and is redelivered.</summary>
    NotRecorded,
}

/// <summary>
/// One outcome, as a listener sees it. It refers to the worker's pooled delivery and reused envelope: read it during
/// the call, keep nothing of it.
/// </summary>
internal readonly struct Outcome(OutcomeKind kind, Delivery delivery, Envelope? envelope)
{
    /// <summary>What became of the delivery.</summary>
    public OutcomeKind Kind { get; } = kind;

    /// <summary>The delivery (id, queue, counts).</summary>
    public Delivery Delivery { get; } = delivery;

    /// <summary>The decoded envelope; <see langword="null"/> when the message could not be decoded.</summary>
    public Envelope? Envelope { get; } = envelope;

    /// <summary>The task's name when known.</summary>
    public string? TaskName { get; init; }

    /// <summary>The error recorded with a failure, retry, revocation or dead letter.</summary>
    public TaskError? Error { get; init; }

    /// <summary>A dead letter's reason code (<see cref="DeadLetterReasons"/>).</summary>
    public string? Reason { get; init; }

    /// <summary>How long the run took (succeeded, failed, retried), when it ran.</summary>
    public TimeSpan Elapsed { get; init; }

    /// <summary>A retry's delay before it is due.</summary>
    public TimeSpan RetryDelay { get; init; }
}

/// <summary>
/// Hears every outcome the worker decides (events, metrics, traces). Called on the worker's own path, synchronously:
/// it must be quick, must not block and must not throw.
/// </summary>
internal interface IOutcomeListener
{
    /// <summary>An outcome was decided.</summary>
    void OnOutcome(in Outcome outcome);
}

/// <summary>
/// The one place every outcome passes through: success, failure, retry, revocation, expiry, dead letter, release, lost
/// lease, unrecorded outcome. It writes the log lines, ends the run's span and counts the outcome (<see cref="Telemetry"/>)
/// and tells the listeners; with nobody listening and the log level off, an outcome costs a level check, a few
/// listener checks and an empty-array check, and allocates nothing.
/// </summary>
internal sealed class OutcomeObserver
{
    private readonly ILogger _logger;
    private readonly IOutcomeListener[] _listeners;
    private readonly TimeProvider _time;
    private readonly TaskCatalog? _catalog;
    private readonly Middleware.MiddlewarePipeline _middleware;
    private readonly string _worker;
    private readonly Control.EventPublisher? _events;

    /// <param name="logger">Where the outcome lines go.</param>
    /// <param name="listeners">Who else hears every outcome.</param>
    /// <param name="time">The clock.</param>
    /// <param name="catalog">The worker's tasks: the names metrics may carry (<see langword="null"/>: any).</param>
    /// <param name="middleware">The outcome hooks (<see langword="null"/>: none).</param>
    /// <param name="worker">The worker's name, as the outcome hooks see it.</param>
    /// <param name="events">The task events' publisher, fed while events are on (<see langword="null"/>: none).</param>
    public OutcomeObserver(ILogger logger, IEnumerable<IOutcomeListener> listeners, TimeProvider time, TaskCatalog? catalog = null, Middleware.MiddlewarePipeline? middleware = null, string worker = "", Control.EventPublisher? events = null)
    {
        _events = events;
        _middleware = middleware ?? Middleware.MiddlewarePipeline.None;
        _worker = worker;
        _logger = logger;
        _listeners = [.. listeners];
        _time = time;
        _catalog = catalog;
    }

    /// <summary>The task returned (<paramref name="started"/>: the run's start, from <see cref="TimeProvider.GetTimestamp"/>).</summary>
    public void Succeeded(Delivery delivery, Envelope envelope, long started)
    {
        bool log = _logger.IsEnabled(LogLevel.Debug);
        if (!log && _listeners.Length == 0 && !_middleware.Any && _events is not { Enabled: true } && !Telemetry.Observes(delivery))
        {
            return;
        }

        TimeSpan elapsed = _time.GetElapsedTime(started);
        if (log)
        {
            Log.TaskSucceeded(_logger, envelope.Id, envelope.Task, elapsed.TotalMilliseconds);
        }

        Notify(new Outcome(OutcomeKind.Succeeded, delivery, envelope) { TaskName = envelope.Task, Elapsed = elapsed });
    }

    /// <summary>The task failed for good.</summary>
    public void Failed(Delivery delivery, Envelope envelope, TaskError error)
    {
        Log.TaskFailed(_logger, envelope.Id, envelope.Task, error.Type, error.Message);
        Notify(new Outcome(OutcomeKind.Failed, delivery, envelope) { TaskName = envelope.Task, Error = error });
    }

    /// <summary>The task ran past its hard time limit and was abandoned: FAILURE.</summary>
    public void TimeLimitExceeded(Delivery delivery, Envelope envelope, TimeSpan limit, TaskError error)
    {
        Log.TimeLimitExceeded(_logger, envelope.Id, envelope.Task, limit.TotalMilliseconds);
        Notify(new Outcome(OutcomeKind.Failed, delivery, envelope) { TaskName = envelope.Task, Error = error, Elapsed = limit });
    }

    /// <summary>The task failed and is rescheduled as retry <paramref name="retry"/> of <paramref name="maxRetries"/>.</summary>
    public void Retried(Delivery delivery, Envelope envelope, TaskError error, TimeSpan delay, int retry, int maxRetries)
    {
        Log.TaskRetrying(_logger, envelope.Id, envelope.Task, (long)delay.TotalMilliseconds, retry, maxRetries);
        Notify(new Outcome(OutcomeKind.Retried, delivery, envelope) { TaskName = envelope.Task, Error = error, RetryDelay = delay });
    }

    /// <summary>The task was revoked before it ran, or while it ran.</summary>
    public void Revoked(Delivery delivery, Envelope envelope, bool whileRunning)
    {
        Log.TaskRevoked(_logger, envelope.Id, envelope.Task, whileRunning ? "while it ran" : "before it ran");
        Notify(new Outcome(OutcomeKind.Revoked, delivery, envelope) { TaskName = envelope.Task });
    }

    /// <summary>The task expired before it ran.</summary>
    public void Expired(Delivery delivery, Envelope envelope)
    {
        Log.TaskExpired(_logger, envelope.Id, envelope.Task);
        Notify(new Outcome(OutcomeKind.Expired, delivery, envelope) { TaskName = envelope.Task });
    }

    /// <summary>The message is set aside with <paramref name="reason"/> (<see cref="DeadLetterReasons"/>) and <paramref name="full"/> (reason and detail).</summary>
    public void DeadLettered(Delivery delivery, Envelope? envelope, string? taskName, string reason, string full, TaskError error)
    {
        Log.DeadLettered(_logger, Quote.Bounded(delivery.Id), delivery.Queue, full); // the id may be anything that arrived
        Notify(new Outcome(OutcomeKind.DeadLettered, delivery, envelope) { TaskName = taskName, Reason = reason, Error = error });
    }

    /// <summary>The delivery was handed back by the worker's stop: prefetched and not started (no envelope decoded), or interrupted past the grace period.</summary>
    public void Released(Delivery delivery, Envelope? envelope)
        => Notify(new Outcome(OutcomeKind.Released, delivery, envelope) { TaskName = envelope?.Task });

    /// <summary>The outcome was refused: the lease had passed to another delivery.</summary>
    public void LeaseLost(Delivery delivery)
    {
        Log.LeaseLost(_logger, delivery.Id);
        Notify(new Outcome(OutcomeKind.LeaseLost, delivery, null));
    }

    /// <summary>The outcome could not be written; the task stays leased and comes back.</summary>
    public void NotRecorded(Delivery delivery, Exception error)
    {
        Log.OutcomeNotRecorded(_logger, error, delivery.Id);
        Notify(new Outcome(OutcomeKind.NotRecorded, delivery, null));
    }

    private void Notify(in Outcome outcome)
    {
        Telemetry.OnOutcome(in outcome, _time, _catalog);
        foreach (IOutcomeListener listener in _listeners)
        {
            listener.OnOutcome(in outcome);
        }

        if (_events is { Enabled: true } events)
        {
            events.OnOutcome(in outcome);
        }

        if (_middleware.Any)
        {
            _middleware.OnOutcome(in outcome, _worker);
        }
    }
}
