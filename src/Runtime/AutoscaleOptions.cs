namespace Celeriac;

/// <summary>
/// Autoscale (Celery's <c>--autoscale=max,min</c>): the worker's concurrency moves between <see cref="Min"/> and
/// <see cref="Max"/>, grown while work waits and shrunk when run slots stay unused (docs/workers.md, "Autoscale").
/// Set <see cref="WorkerOptions.Autoscale"/> to turn it on; off by default.
/// </summary>
public sealed class AutoscaleOptions
{
    /// <summary>The default of <see cref="Min"/>: 1.</summary>
    public const int DefaultMin = 1;

    /// <summary>The default of <see cref="Max"/>: <see cref="WorkerOptions.DefaultConcurrency"/>.</summary>
    public const int DefaultMax = WorkerOptions.DefaultConcurrency;

    /// <summary>The default of <see cref="Interval"/>: 1 second.</summary>
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromSeconds(1);

    /// <summary>The default of <see cref="IdleTime"/>: 30 seconds (Celery's autoscaler keep-alive).</summary>
    public static readonly TimeSpan DefaultIdleTime = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The least concurrency, and the one the worker starts with (<see cref="WorkerOptions.Concurrency"/> is not used
    /// while autoscale is on). Default 1; at least 1.
    /// </summary>
    public int Min { get; set; } = DefaultMin;

    /// <summary>The most concurrency the autoscaler grows to. Default 256 (<see cref="DefaultMax"/>); at least <see cref="Min"/>.</summary>
    public int Max { get; set; } = DefaultMax;

    /// <summary>
    /// How often the autoscaler looks at the worker: each look that finds work waiting grows the concurrency (doubles
    /// it, up to <see cref="Max"/>). A look reads counters the worker keeps anyway; it makes no broker call. Default 1 s;
    /// between 10 ms and 1 minute.
    /// </summary>
    public TimeSpan Interval { get; set; } = DefaultInterval;

    /// <summary>
    /// How long run slots must stay unused, with no work waiting, before the autoscaler shrinks the concurrency (by half
    /// the slots that stayed unused, down to <see cref="Min"/>; a shrink interrupts no running task). Default 30 s; at
    /// least <see cref="Interval"/>.
    /// </summary>
    public TimeSpan IdleTime { get; set; } = DefaultIdleTime;

    /// <summary>Validates the options; returns the first problem, or <see langword="null"/>.</summary>
    /// <returns>A message naming the offending setting, or <see langword="null"/> when the options are valid.</returns>
    public string? Validate()
    {
        if (Min < 1)
        {
            return $"Celeriac:Worker:Autoscale:Min must be at least 1 (it is {Min}).";
        }

        if (Max < Min)
        {
            return $"Celeriac:Worker:Autoscale:Max must be at least Min ({Min}); it is {Max}.";
        }

        if (Interval < TimeSpan.FromMilliseconds(10) || Interval > TimeSpan.FromMinutes(1))
        {
            return $"Celeriac:Worker:Autoscale:Interval must be between 10 ms and 1 minute (it is {Interval}).";
        }

        return IdleTime < Interval
            ? $"Celeriac:Worker:Autoscale:IdleTime must be at least Interval ({Interval}); it is {IdleTime}."
            : null;
    }
}
