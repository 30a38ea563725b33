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
