namespace Celeriac;

/// <summary>
/// A periodic schedule of a task known when the program is built: generated from <see cref="PeriodicAttribute"/> (and
/// added to the <see cref="TaskCatalog"/> with the task), or written by hand for a task that takes no arguments.
/// Schedules added at run time, with arguments, are stored in the broker instead (<c>CeleriacClient.Schedules</c>).
/// </summary>
public sealed class PeriodicSchedule
{
    /// <summary>The default bound of <see cref="MissedTicks.RunEach"/>: 10 ticks.</summary>
    public const int DefaultMaxMissedRuns = 10;

    /// <summary>Creates a schedule. Exactly one of <paramref name="cron"/> and <paramref name="every"/> is given.</summary>
    /// <param name="name">The schedule's name, unique among a broker's schedules (generated: the task's name).</param>
    /// <param name="taskName">The wire name of the task it sends (the task takes no serialized arguments).</param>
    /// <param name="queue">The queue the task is sent to.</param>
    /// <param name="cron">A cron expression (5 or 6 fields, or a macro such as <c>@hourly</c>), or <see langword="null"/>.</param>
    /// <param name="every">An interval of at least one second, or <see cref="TimeSpan.Zero"/> for a cron schedule.</param>
    /// <param name="timeZone">The IANA time zone of the cron expression, or <see langword="null"/> for UTC.</param>
    /// <param name="missedTicks">What to do with ticks missed while no scheduler ran.</param>
    /// <param name="maxMissedRuns">The bound of <see cref="MissedTicks.RunEach"/>.</param>
    /// <param name="priority">The priority of the tasks it sends (0–9).</param>
    public PeriodicSchedule(string name, string taskName, string queue, string? cron, TimeSpan every, string? timeZone = null, MissedTicks missedTicks = MissedTicks.RunOnce, int maxMissedRuns = DefaultMaxMissedRuns, int priority = 0)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentException.ThrowIfNullOrEmpty(taskName);
        ArgumentException.ThrowIfNullOrEmpty(queue);
        if ((cron is null) == (every == TimeSpan.Zero))
        {
            throw new ArgumentException("A schedule has either a cron expression or an interval, not both and not neither.", nameof(cron));
        }

        Name = name;
        TaskName = taskName;
        Queue = queue;
        Cron = cron;
        Every = every;
        TimeZone = timeZone;
        MissedTicks = missedTicks;
        MaxMissedRuns = maxMissedRuns;
        Priority = priority;
    }

    /// <summary>The schedule's name.</summary>
    public string Name { get; }

    /// <summary>The wire name of the task it sends.</summary>
    public string TaskName { get; }

    /// <summary>The queue the task is sent to.</summary>
    public string Queue { get; }

    /// <summary>The cron expression, or <see langword="null"/> for an interval.</summary>
    public string? Cron { get; }

    /// <summary>The interval, or <see cref="TimeSpan.Zero"/> for a cron schedule.</summary>
    public TimeSpan Every { get; }

    /// <summary>The IANA time zone of the cron expression, or <see langword="null"/> for UTC.</summary>
    public string? TimeZone { get; }

    /// <summary>What to do with ticks missed while no scheduler ran.</summary>
    public MissedTicks MissedTicks { get; }

    /// <summary>The bound of <see cref="MissedTicks.RunEach"/>.</summary>
    public int MaxMissedRuns { get; }

    /// <summary>The priority of the tasks it sends (0–9).</summary>
    public int Priority { get; }
}
