namespace Celeriac;

/// <summary>A stored or static schedule as listed by <see cref="ScheduleClient.ListAsync"/>.</summary>
public sealed class ScheduleInfo
{
    /// <summary>The schedule's name.</summary>
    public required string Name { get; init; }

    /// <summary>The wire name of the task it sends.</summary>
    public required string TaskName { get; init; }

    /// <summary>The queue the task is sent to.</summary>
    public required string Queue { get; init; }

    /// <summary>The cron expression, or <see langword="null"/> for an interval.</summary>
    public string? Cron { get; init; }

    /// <summary>The interval, or <see cref="TimeSpan.Zero"/> for a cron schedule.</summary>
    public TimeSpan Every { get; init; }

    /// <summary>The IANA time zone of the cron expression, or <see langword="null"/> for UTC.</summary>
    public string? TimeZone { get; init; }

    /// <summary>What the scheduler does with missed ticks.</summary>
    public MissedTicks MissedTicks { get; init; }

    /// <summary>Declared in code with <see cref="PeriodicAttribute"/> (listed once a worker that knows it has started), not stored at run time.</summary>
    public bool IsStatic { get; init; }

    /// <summary>Paused: its ticks pass without sending anything.</summary>
    public bool Paused { get; init; }

    /// <summary>The next tick after the last one claimed (or after now), or <see langword="null"/> when none comes.</summary>
    public DateTimeOffset? NextTick { get; init; }

    /// <summary>The last tick claimed, or <see langword="null"/> when none was.</summary>
    public DateTimeOffset? LastTick { get; init; }

    /// <summary>The id of the task sent for the last tick (its result can be read with it).</summary>
    public string? LastTaskId { get; init; }

    /// <summary>When the last tick was claimed and its task sent (the claiming worker's clock).</summary>
    public DateTimeOffset? LastSentAt { get; init; }

    /// <summary>The worker whose scheduler claimed the last tick.</summary>
    public string? LastClaimedBy { get; init; }
}
