using Microsoft.Extensions.Logging;

namespace Celeriac.Scheduling;

/// <summary>The scheduler's log messages (event ids 2100-2199).</summary>
internal static partial class SchedulerLog
{
    [LoggerMessage(2100, LogLevel.Information, "Celeriac scheduler {Scheduler} started with {Count} schedules")]
    public static partial void Started(ILogger logger, string scheduler, int count);

    [LoggerMessage(2101, LogLevel.Warning, "Scheduler pass failed; retrying in {DelayMs} ms")]
    public static partial void PollFailed(ILogger logger, Exception exception, int delayMs);

    [LoggerMessage(2102, LogLevel.Error, "Schedule {Schedule} is not valid and is not run: {Problem}")]
    public static partial void InvalidSchedule(ILogger logger, string schedule, string problem);

    [LoggerMessage(2103, LogLevel.Information, "Schedule {Schedule}: tick {Tick} skipped, {LateMs} ms late (MissedTicks.Skip)")]
    public static partial void TickSkipped(ILogger logger, string schedule, string tick, long lateMs);
}
