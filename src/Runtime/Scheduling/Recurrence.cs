using Celeriac.Scheduling;

namespace Celeriac;

/// <summary>When a stored schedule's ticks fall: a cron expression in a time zone, or an interval. Checked when created.</summary>
public sealed class Recurrence
{
    private Recurrence(string? cron, TimeSpan every, string? timeZone)
    {
        CronExpression = cron;
        Every = every;
        TimeZone = timeZone;
        _ = ScheduleSpec.Parse(cron, (long)every.TotalMilliseconds, timeZone); // throws ArgumentException naming the problem
    }

    /// <summary>The cron expression, or <see langword="null"/> for an interval.</summary>
    public string? CronExpression { get; }

    /// <summary>The interval, or <see cref="TimeSpan.Zero"/> for a cron schedule.</summary>
    public TimeSpan Every { get; }

    /// <summary>The IANA time zone of the cron expression, or <see langword="null"/> for UTC.</summary>
    public string? TimeZone { get; }

    /// <summary>A cron schedule: 5 fields, 6 with seconds first, or a macro (<c>@hourly</c>); read in <paramref name="timeZone"/>.</summary>
    /// <param name="expression">The cron expression.</param>
    /// <param name="timeZone">An IANA time zone id (<c>America/New_York</c>), or <see langword="null"/> for UTC.</param>
    /// <returns>The recurrence.</returns>
    /// <exception cref="ArgumentException">The expression or the time zone is not valid.</exception>
    public static Recurrence Cron(string expression, string? timeZone = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(expression);
        return new Recurrence(expression.Trim(), TimeSpan.Zero, timeZone);
    }

    /// <summary>An interval of whole milliseconds, at least one second; ticks fall on its multiples since the Unix epoch.</summary>
    /// <param name="interval">The interval.</param>
    /// <returns>The recurrence.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The interval is shorter than one second.</exception>
    public static Recurrence Interval(TimeSpan interval)
    {
        if (interval < TimeSpan.FromSeconds(1) || interval.Ticks % TimeSpan.TicksPerMillisecond != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(interval), interval, "An interval is a whole number of milliseconds, at least one second.");
        }

        return new Recurrence(null, interval, null);
    }

    /// <inheritdoc/>
    public override string ToString() => CronExpression is null ? "every " + Every : CronExpression + (TimeZone is null ? " (UTC)" : " (" + TimeZone + ")");
}

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
