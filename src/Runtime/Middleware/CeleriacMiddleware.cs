namespace Celeriac;

/// <summary>
/// Hooks around sending and running tasks and around the worker's life (Celery's signals, Sidekiq's middleware,
/// Hangfire's filters). Derive from it, override the hooks you need (each does nothing by default) and register it
/// with <c>AddMiddleware&lt;T&gt;()</c> on the Celeriac builder; it is a singleton, called from many threads at once.
/// </summary>
/// <remarks>
/// <para>Hooks are synchronous and run on the sender's or the worker's own path: keep them quick, hand slow work
/// (I/O) to a queue of your own. "Before" hooks (<see cref="OnSending"/>, <see cref="OnRunning"/>,
/// <see cref="OnWorkerReady"/>) run in registration order; "after" hooks (<see cref="OnSent"/>, <see cref="OnRan"/>,
/// the outcome hooks, <see cref="OnWorkerStopping"/>) in reverse order, so that the first registered wraps the others.</para>
/// <para>When a hook throws: in <see cref="OnSending"/> the send is refused (nothing is enqueued, the caller gets the
/// exception; the later middleware's <see cref="OnSending"/> is not called). Anywhere else the exception is logged
/// (worker) or dropped (client, after the send) and the next middleware is called: a hook cannot fail, lose or repeat a
/// task, nor stop the worker.</para>
/// <para>With no middleware registered, neither the client nor the worker calls anything: no allocation, no virtual call.</para>
/// </remarks>
public abstract class CeleriacMiddleware
{
    /// <summary>Before a task is sent (its message not yet written): may add or change <see cref="SendingTask.Headers"/>, which travel with the message to <see cref="TaskContext.Headers"/>. Throw to refuse the send.</summary>
    /// <param name="task">The task being sent.</param>
    public virtual void OnSending(SendingTask task)
    {
    }

    /// <summary>After a send: the broker accepted the message (<paramref name="error"/> is <see langword="null"/>) or the send failed.</summary>
    /// <param name="task">The task that was sent.</param>
    /// <param name="error">Why the send failed, or <see langword="null"/>.</param>
    public virtual void OnSent(SendingTask task, Exception? error)
    {
    }

    /// <summary>In the worker, just before the task's method is called (the run's start already recorded).</summary>
    /// <param name="context">The run's context: id, name, queue, retries, headers.</param>
    public virtual void OnRunning(TaskContext context)
    {
    }

    /// <summary>In the worker, just after the task's method returned or threw (<paramref name="error"/>), before the outcome is decided.</summary>
    /// <param name="context">The run's context.</param>
    /// <param name="error">What the task threw, or <see langword="null"/> when it returned.</param>
    public virtual void OnRan(TaskContext context, Exception? error)
    {
    }

    /// <summary>The task succeeded; its result is being stored.</summary>
    /// <param name="outcome">The outcome.</param>
    public virtual void OnSucceeded(TaskOutcome outcome)
    {
    }

    /// <summary>The task failed for good (retries exhausted, not retryable, or a time limit): FAILURE.</summary>
    /// <param name="outcome">The outcome, with its <see cref="TaskOutcome.Error"/>.</param>
    public virtual void OnFailed(TaskOutcome outcome)
    {
    }

    /// <summary>The task failed and is rescheduled: RETRY.</summary>
    /// <param name="outcome">The outcome, with its <see cref="TaskOutcome.Error"/> and <see cref="TaskOutcome.RetryDelay"/>.</param>
    public virtual void OnRetried(TaskOutcome outcome)
    {
    }

    /// <summary>The task was revoked (before or while it ran) or expired before it ran: REVOKED.</summary>
    /// <param name="outcome">The outcome; <see cref="TaskOutcome.Reason"/> is <c>revoked</c> or <c>expired</c>.</param>
    public virtual void OnRevoked(TaskOutcome outcome)
    {
    }

    /// <summary>The message was set aside (dead letter) with a reason.</summary>
    /// <param name="outcome">The outcome, with its <see cref="TaskOutcome.Reason"/>.</param>
    public virtual void OnDeadLettered(TaskOutcome outcome)
    {
    }

    /// <summary>The worker is ready: connected to the broker and consuming.</summary>
    /// <param name="worker">The worker's name.</param>
    public virtual void OnWorkerReady(string worker)
    {
    }

    /// <summary>The worker stops fetching and begins its graceful shutdown.</summary>
    /// <param name="worker">The worker's name.</param>
    public virtual void OnWorkerStopping(string worker)
    {
    }
}

/// <summary>A task being sent, as <see cref="CeleriacMiddleware.OnSending"/> and <see cref="CeleriacMiddleware.OnSent"/> see it.</summary>
public sealed class SendingTask
{
    private Dictionary<string, string>? _headers;

    internal SendingTask(string taskId, string taskName, string queue, Dictionary<string, string>? headers)
    {
        TaskId = taskId;
        TaskName = taskName;
        Queue = queue;
        _headers = headers;
    }

    /// <summary>The task's id.</summary>
    public string TaskId { get; }

    /// <summary>The task's wire name.</summary>
    public string TaskName { get; }

    /// <summary>The queue it is sent to.</summary>
    public string Queue { get; }

    /// <summary>
    /// The message's application headers (those of <see cref="TaskOptions.Headers"/> first): add to them in
    /// <see cref="CeleriacMiddleware.OnSending"/> and the worker's <see cref="TaskContext.Headers"/> has them; changes
    /// made in <see cref="CeleriacMiddleware.OnSent"/> go nowhere.
    /// </summary>
    public IDictionary<string, string> Headers => _headers ??= new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>The headers, or <see langword="null"/> when there are none.</summary>
    internal Dictionary<string, string>? HeadersOrNull => _headers is { Count: > 0 } ? _headers : null;
}

/// <summary>What became of a run, as the outcome hooks of <see cref="CeleriacMiddleware"/> see it.</summary>
public sealed class TaskOutcome
{
    internal TaskOutcome(string taskId, string? taskName, string queue, string worker)
    {
        TaskId = taskId;
        TaskName = taskName;
        Queue = queue;
        Worker = worker;
    }

    /// <summary>The task's id.</summary>
    public string TaskId { get; }

    /// <summary>The task's name, when known (a dead letter of an undecodable message has none).</summary>
    public string? TaskName { get; }

    /// <summary>The queue it came from.</summary>
    public string Queue { get; }

    /// <summary>The worker's name.</summary>
    public string Worker { get; }

    /// <summary>How many times the task had been retried before this run.</summary>
    public int Retries { get; init; }

    /// <summary>The error of a failure, retry, revocation or dead letter; <see langword="null"/> for a success.</summary>
    public TaskError? Error { get; init; }

    /// <summary>A dead letter's reason code, or <c>revoked</c>/<c>expired</c> for a revocation; else <see langword="null"/>.</summary>
    public string? Reason { get; init; }

    /// <summary>How long the run took (success, failure, retry); <see cref="TimeSpan.Zero"/> when it did not run.</summary>
    public TimeSpan Elapsed { get; init; }

    /// <summary>A retry's delay before it is due; else <see cref="TimeSpan.Zero"/>.</summary>
    public TimeSpan RetryDelay { get; init; }

    /// <summary>The message's application headers (empty when none or when it could not be decoded).</summary>
    public IReadOnlyDictionary<string, string> Headers { get; init; } = Empty;

    private static readonly IReadOnlyDictionary<string, string> Empty = new Dictionary<string, string>();
}
