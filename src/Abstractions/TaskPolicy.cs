namespace Celeriac;

/// <summary>
/// How the worker treats a task's failures and time: retries with exponential backoff, which exceptions are retried,
/// time limits and dead-lettering. Generated from <see cref="TaskAttribute"/> (durations parsed at compile time,
/// exception filters compiled to type tests — no reflection).
/// </summary>
public sealed class TaskPolicy
{
    /// <summary>The default first retry delay: 1 second.</summary>
    public static readonly TimeSpan DefaultRetryBackoff = TimeSpan.FromSeconds(1);

    /// <summary>The default longest retry delay: 10 minutes.</summary>
    public static readonly TimeSpan DefaultRetryBackoffMax = TimeSpan.FromMinutes(10);

    /// <summary>The policy of a task that declares nothing: no retries, no time limits.</summary>
    public static TaskPolicy Default { get; } = new();

    /// <summary>How many times a failed run is retried; 0 never retries.</summary>
    public int MaxRetries { get; init; }

    /// <summary>The first retry's delay; each further retry doubles it up to <see cref="RetryBackoffMax"/>.</summary>
    public TimeSpan RetryBackoff { get; init; } = DefaultRetryBackoff;

    /// <summary>The longest delay between retries.</summary>
    public TimeSpan RetryBackoffMax { get; init; } = DefaultRetryBackoffMax;

    /// <summary>Whether delays are drawn uniformly between zero and the backoff (full jitter).</summary>
    public bool RetryJitter { get; init; } = true;

    /// <summary>Whether an exception may be retried (generated from <c>RetryOn</c>/<c>DontRetryOn</c>); <see langword="null"/> retries every exception.</summary>
    public Func<Exception, bool>? ShouldRetry { get; init; }

    /// <summary>Whether a final failure also sets the message aside as a dead letter.</summary>
    public bool DeadLetterOnFailure { get; init; }

    /// <summary>The hard time limit, or <see langword="null"/>.</summary>
    public TimeSpan? TimeLimit { get; init; }

    /// <summary>The soft time limit (the run's token is cancelled), or <see langword="null"/>.</summary>
    public TimeSpan? SoftTimeLimit { get; init; }

    /// <summary>
    /// The shortest time between two starts of this task in one worker (<see cref="TaskAttribute.RateLimit"/>: the unit
    /// over the count, so <c>10/m</c> is 6 s), or <see langword="null"/> for no limit.
    /// </summary>
    public TimeSpan? RateLimitInterval { get; init; }

    /// <summary>Where the worker runs the method (<see cref="TaskAttribute.Execution"/>).</summary>
    public TaskExecution Execution { get; init; }

    /// <summary>The delay before retry number <paramref name="retry"/> (1 for the first retry) without jitter: <c>min(RetryBackoff × 2^(retry-1), RetryBackoffMax)</c>.</summary>
    /// <param name="retry">The retry number, from 1.</param>
    /// <returns>The capped exponential delay.</returns>
    public TimeSpan BackoffFor(int retry)
    {
        double factor = Math.Pow(2, Math.Clamp(retry - 1, 0, 30));
        double ms = Math.Min(RetryBackoff.TotalMilliseconds * factor, RetryBackoffMax.TotalMilliseconds);
        return TimeSpan.FromMilliseconds(ms);
    }
}

/// <summary>
/// Thrown (through <see cref="TaskContext.Retry"/>) by task code to ask for a retry now, with its own countdown,
/// whatever the exception policy says. It still counts against <see cref="TaskPolicy.MaxRetries"/>.
/// </summary>
public sealed class TaskRetryException : Exception
{
    /// <summary>Creates the request.</summary>
    /// <param name="countdown">How long to wait before the retry; <see langword="null"/> uses the task's backoff.</param>
    /// <param name="reason">The error that made the task ask, if any; recorded with the RETRY state.</param>
    public TaskRetryException(TimeSpan? countdown, Exception? reason)
        : base(reason is null ? "The task asked to be retried." : "The task asked to be retried: " + reason.Message, reason)
    {
        Countdown = countdown;
    }

    /// <summary>How long to wait before the retry, or <see langword="null"/> for the task's backoff.</summary>
    public TimeSpan? Countdown { get; }
}
