namespace Celeriac;

/// <summary>
/// What a running task may know about its own run. Declare a parameter of this type on a <c>[Task]</c> method and the
/// worker passes it in; it is never serialized. Tests of task code can construct one directly.
/// </summary>
public sealed class TaskContext
{
    private static readonly IReadOnlyDictionary<string, string> NoHeaders = new Dictionary<string, string>();

    /// <summary>The task's id.</summary>
    public required string TaskId { get; init; }

    /// <summary>The task's wire name.</summary>
    public required string TaskName { get; init; }

    /// <summary>The queue the task was delivered from.</summary>
    public string Queue { get; init; } = TaskAttribute.DefaultQueue;

    /// <summary>How many times this task has been retried before this run (0 on the first run).</summary>
    public int Retries { get; init; }

    /// <summary>How many times the broker has delivered this message, this delivery included (more than 1 after a worker died).</summary>
    public int DeliveryCount { get; init; } = 1;

    /// <summary>The instant the task was due, if it had an ETA or countdown.</summary>
    public DateTimeOffset? Eta { get; init; }

    /// <summary>The instant after which the task would not have been run, if any.</summary>
    public DateTimeOffset? Expires { get; init; }

    /// <summary>The id of the task that sent this one, if any.</summary>
    public string? ParentId { get; init; }

    /// <summary>The id of the first task of this workflow; the task's own id when it has no parent.</summary>
    public string? RootId { get; init; }

    /// <summary>Application headers sent with the message.</summary>
    public IReadOnlyDictionary<string, string> Headers { get; init; } = NoHeaders;

    /// <summary>The services of the run's dependency-injection scope.</summary>
    public IServiceProvider? Services
    {
        get => _services;
        init => _services = value;
    }

    /// <summary>Cancelled when the run must stop: worker shutdown past its grace period, revoke, or a time limit.</summary>
    /// <remarks>
    /// It belongs to the run: once the task has returned, the worker resets its source for the consumer's next run (as
    /// ASP.NET Core does with a pooled request's token), so work that outlives the task must not keep it.
    /// </remarks>
    public CancellationToken CancellationToken
    {
        get => _cancellationToken;
        init => _cancellationToken = value;
    }

    private IServiceProvider? _services;
    private CancellationToken _cancellationToken;

    /// <summary>
    /// A context the worker reuses from run to run for tasks whose method takes no <see cref="TaskContext"/> (see
    /// <see cref="TaskNeeds"/>): their generated invoker reads only <see cref="CancellationToken"/> and
    /// <see cref="Services"/>, before it calls the method, and task code never sees it. Its other members are empty.
    /// </summary>
    internal static TaskContext CreateReusable() => new() { TaskId = string.Empty, TaskName = string.Empty };

    /// <summary>Points a reusable context (<see cref="CreateReusable"/>) at the next run.</summary>
    internal void Reuse(CancellationToken cancellationToken, IServiceProvider? services)
    {
        _cancellationToken = cancellationToken;
        _services = services;
    }

    /// <summary>Asks for this task to be retried (Celery's <c>self.retry</c>): always throws; let it propagate.</summary>
    /// <param name="countdown">How long to wait before the retry; <see langword="null"/> uses the task's backoff.</param>
    /// <param name="reason">The error that made the task ask, if any.</param>
    /// <returns>Never returns; the return type lets callers write <c>throw ctx.Retry(...)</c>.</returns>
    /// <exception cref="TaskRetryException">Always.</exception>
    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    public Exception Retry(TimeSpan? countdown = null, Exception? reason = null) => throw new TaskRetryException(countdown, reason);
}
