namespace Celeriac;

/// <summary>The headers a scheduled task carries (<see cref="TaskContext.Headers"/>): which schedule sent it, for which tick.</summary>
public static class ScheduleHeaders
{
    /// <summary>The name of the schedule that sent the task.</summary>
    public const string Schedule = "celeriac-schedule";

    /// <summary>The tick's instant, ISO 8601 in UTC with milliseconds (<c>2026-03-29T01:00:00.000Z</c>); for a run triggered by hand, the instant of the trigger.</summary>
    public const string Tick = "celeriac-tick";

    /// <summary>Present (value <c>manual</c>) on a run sent by <c>TriggerAsync</c> rather than by a tick.</summary>
    public const string Trigger = "celeriac-trigger";

    /// <summary>Formats a tick instant as carried in <see cref="Tick"/>.</summary>
    /// <param name="unixMs">The instant in unix milliseconds.</param>
    /// <returns>The ISO 8601 text.</returns>
    public static string FormatTick(long unixMs)
        => DateTimeOffset.FromUnixTimeMilliseconds(unixMs).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture);
}
