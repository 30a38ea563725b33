namespace Celeriac;

/// <summary>
/// Marks a method as a Celeriac task. The Celeriac source generator emits, in the containing (partial) type, a nested
/// static class named <c>{Method}Task</c> with typed <c>DelayAsync</c>/<c>ApplyAsync</c> entry points, the argument
/// formatter and the worker's invoker.
/// </summary>
/// <remarks>
/// The task's wire name is <see cref="Name"/> when set, otherwise <c>{Namespace}.{Type}.{Method}</c> (nested types joined
/// with '.'), which is stable across builds and independent of declaration order.
/// </remarks>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false, Inherited = false)]
public sealed class TaskAttribute : Attribute
{
    /// <summary>The default queue, used when neither the task nor a route names one.</summary>
    public const string DefaultQueue = QueueNameRules.DefaultQueue;

    /// <summary>The explicit wire name of the task. <see langword="null"/> selects the canonical default name.</summary>
    public string? Name { get; set; }

    /// <summary>The queue the task is sent to unless a call overrides it. <see langword="null"/> means <see cref="DefaultQueue"/>.</summary>
    public string? Queue { get; set; }

    /// <summary>
    /// How many times a failed run is retried; 0 never retries. The default is 0 (retries are opt-in).
    /// Retries follow <see cref="RetryBackoff"/>, <see cref="RetryOn"/> and <see cref="DontRetryOn"/>; the state is RETRY in between.
    /// </summary>
    public int MaxRetries { get; set; }

    /// <summary>The first retry's delay, as a duration string (<c>500ms</c>, <c>10s</c>, <c>5m</c>, <c>1h</c>). Each further retry doubles it, up to <see cref="RetryBackoffMax"/>. Default <c>1s</c>.</summary>
    public string? RetryBackoff { get; set; }

    /// <summary>The longest delay between retries, as a duration string. Default <c>10m</c>.</summary>
    public string? RetryBackoffMax { get; set; }

    /// <summary>Whether retry delays are randomized (full jitter: a uniform delay between zero and the backoff) so that many failing tasks do not retry in lockstep. Default <see langword="true"/>.</summary>
    public bool RetryJitter { get; set; } = true;

    /// <summary>The exception types (and their subclasses) that are retried. <see langword="null"/> or empty: every exception is retried, except those in <see cref="DontRetryOn"/>.</summary>
    public Type[]? RetryOn { get; set; }

    /// <summary>The exception types (and their subclasses) that are never retried; this wins over <see cref="RetryOn"/>.</summary>
    public Type[]? DontRetryOn { get; set; }

    /// <summary>When retries are exhausted (or the exception is not retried), also set the message aside in the queue's dead letters, from where it can be requeued. Default <see langword="false"/>: the task simply ends in FAILURE.</summary>
    public bool DeadLetterOnFailure { get; set; }

    /// <summary>The hard time limit, as a duration string: past it the run is abandoned, the task ends in FAILURE with a time-limit error and its slot is freed. <see langword="null"/>: no limit.</summary>
    public string? TimeLimit { get; set; }

    /// <summary>The soft time limit, as a duration string: past it the run's <see cref="CancellationToken"/> is cancelled so the task can stop cleanly. <see langword="null"/>: no limit.</summary>
    public string? SoftTimeLimit { get; set; }

    /// <summary>
    /// A rate limit as <c>count/unit</c> with unit <c>s</c>, <c>m</c> or <c>h</c> (<c>100/s</c>, <c>10/m</c>), validated at
    /// compile time. Per worker, as Celery's <c>rate_limit</c>: each worker starts the task at most that often, spaced
    /// evenly (<c>10/m</c>: one start every 6 s), so N workers run it up to N times the rate. A task that must wait keeps
    /// its lease and its run slot meanwhile: give rate-limited tasks a queue of their own when other tasks must not wait
    /// behind them (docs/workers.md). <see langword="null"/>: no limit.
    /// </summary>
    public string? RateLimit { get; set; }

    /// <summary>
    /// The default priority of the task's messages, 0 (lowest) to 9 (highest). The default is 0.
    /// Within a queue, higher priorities are delivered first (FIFO within one level); see docs/routing.md.
    /// </summary>
    public int Priority { get; set; }

    /// <summary>
    /// Where the worker runs the method: <see cref="TaskExecution.Pool"/> (the default) or <see cref="TaskExecution.Cpu"/>,
    /// the worker's dedicated CPU threads, for methods that compute or block for a long time (docs/workers.md).
    /// </summary>
    public TaskExecution Execution { get; set; }
}
