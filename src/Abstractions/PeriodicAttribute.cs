namespace Celeriac;

/// <summary>
/// Runs a task on a schedule: a cron expression (<c>[Periodic("0 3 * * *", TimeZone = "Europe/Berlin")]</c>) or an
/// interval (<c>[Periodic(Every = "30s")]</c>). Every worker with its scheduler on (the default) races for each tick,
/// and one atomic broker operation per tick both claims it and sends the task, so each tick is sent once while at
/// least one worker lives. The generator checks the schedule at compile time (CEL0301–CEL0319); the task must take no
/// serialized arguments (a <see cref="TaskContext"/> and a <see cref="CancellationToken"/> are fine). See docs/scheduling.md.
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false, Inherited = false)]
public sealed class PeriodicAttribute : Attribute
{
    /// <summary>A schedule given by named arguments only (<see cref="Every"/>).</summary>
    public PeriodicAttribute()
    {
    }

    /// <summary>A cron schedule.</summary>
    /// <param name="cron">
    /// Five fields (minute hour day-of-month month day-of-week) or six with seconds first, or a macro such as
    /// <c>@hourly</c>, <c>@daily</c>, <c>@weekly</c>, <c>@monthly</c>, <c>@yearly</c>, <c>@every_minute</c>, <c>@every_second</c>.
    /// </param>
    public PeriodicAttribute(string cron) => Cron = cron;

    /// <summary>The cron expression, or <see langword="null"/> when the schedule is an interval (<see cref="Every"/>).</summary>
    public string? Cron { get; }

    /// <summary>
    /// An interval instead of a cron expression: a number and a unit, optionally several (<c>"500ms"</c>, <c>"30s"</c>,
    /// <c>"5m"</c>, <c>"1h30m"</c>, <c>"1d"</c>); at least one second. Ticks fall on whole multiples of the interval since
    /// the Unix epoch, so every worker agrees on them.
    /// </summary>
    public string? Every { get; set; }

    /// <summary>The IANA time zone the cron expression is read in (<c>Europe/Berlin</c>); UTC when not set. Not allowed with <see cref="Every"/>.</summary>
    public string? TimeZone { get; set; }

    /// <summary>What to do with ticks that fell due while no scheduler ran. Default <see cref="Celeriac.MissedTicks.RunOnce"/>.</summary>
    public MissedTicks MissedTicks { get; set; } = MissedTicks.RunOnce;

    /// <summary>Under <see cref="Celeriac.MissedTicks.RunEach"/>, the most missed ticks sent at once (the latest ones). Default 10; 1 to 1000.</summary>
    public int MaxMissedRuns { get; set; } = PeriodicSchedule.DefaultMaxMissedRuns;
}

/// <summary>What a scheduler does with the ticks of a schedule that fell due while no scheduler was running (or could reach the broker).</summary>
public enum MissedTicks
{
    /// <summary>Send the task once, for the latest tick that fell due (the default: a nightly report missed at 03:00 runs once when a worker comes back).</summary>
    RunOnce = 0,

    /// <summary>Send nothing for a missed tick: only a tick reached within <c>WorkerOptions.SchedulerMisfireThreshold</c> of its instant is sent.</summary>
    Skip = 1,

    /// <summary>Send the task for each missed tick, the latest ones first up to the schedule's bound (<see cref="PeriodicAttribute.MaxMissedRuns"/>), each with its own tick instant.</summary>
    RunEach = 2,
}
