using Cronos;

namespace Celeriac.Scheduling;

/// <summary>
/// When a schedule's ticks fall: a cron expression read in an IANA time zone (Cronos does the calendar and the DST
/// rules: a local time skipped by a spring-forward runs at the transition, a local time repeated by a fall-back runs
/// once), or an interval whose ticks are the whole multiples of it since the Unix epoch (so every scheduler agrees).
/// All instants are unix milliseconds.
/// </summary>
internal sealed class ScheduleSpec
{
    private readonly CronExpression? _cron;
    private readonly TimeZoneInfo _zone;
    private readonly long _everyMs;

    private ScheduleSpec(CronExpression? cron, TimeZoneInfo zone, long everyMs)
    {
        _cron = cron;
        _zone = zone;
        _everyMs = everyMs;
    }

    /// <summary>Parses a schedule; throws <see cref="ArgumentException"/> naming what is wrong.</summary>
    /// <param name="cron">The cron expression (5 or 6 fields, or a macro), or <see langword="null"/> for an interval.</param>
    /// <param name="everyMs">The interval in milliseconds (at least 1000), or 0 for a cron schedule.</param>
    /// <param name="timeZone">The IANA time zone id, or <see langword="null"/> for UTC.</param>
    public static ScheduleSpec Parse(string? cron, long everyMs, string? timeZone)
    {
        if ((cron is null) == (everyMs == 0))
        {
            throw new ArgumentException("A schedule has either a cron expression or an interval, not both and not neither.", nameof(cron));
        }

        if (cron is null)
        {
            if (everyMs < 1000)
            {
                throw new ArgumentOutOfRangeException(nameof(everyMs), everyMs, "A schedule's interval is at least one second.");
            }

            if (timeZone is not null)
            {
                throw new ArgumentException("An interval schedule takes no time zone (an interval is the same in every zone).", nameof(timeZone));
            }

            return new ScheduleSpec(null, TimeZoneInfo.Utc, everyMs);
        }

        return new ScheduleSpec(ParseCron(cron), FindZone(timeZone), 0);
    }

    /// <summary>The time zone of <paramref name="id"/> (an IANA id), UTC for <see langword="null"/>; throws <see cref="ArgumentException"/> for an unknown id.</summary>
    public static TimeZoneInfo FindZone(string? id)
    {
        if (id is null or "UTC" or "Etc/UTC")
        {
            return TimeZoneInfo.Utc;
        }

        try
        {
            return TimeZoneInfo.FindSystemTimeZoneById(id);
        }
        catch (Exception ex) when (ex is TimeZoneNotFoundException or InvalidTimeZoneException)
        {
            throw new ArgumentException($"'{id}' is not a time zone of this system (an IANA id such as 'Europe/Berlin' is expected).", nameof(id), ex);
        }
    }

    private static CronExpression ParseCron(string text)
    {
        string trimmed = text.Trim();
        try
        {
            if (trimmed.StartsWith('@'))
            {
                // Cronos parses the macros in either format; @every_second needs the seconds field.
                return CronExpression.Parse(trimmed, trimmed.Equals("@every_second", StringComparison.OrdinalIgnoreCase) ? CronFormat.IncludeSeconds : CronFormat.Standard);
            }

            int fields = trimmed.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries).Length;
            return CronExpression.Parse(trimmed, fields == 6 ? CronFormat.IncludeSeconds : CronFormat.Standard);
        }
        catch (CronFormatException ex)
        {
            throw new ArgumentException($"'{text}' is not a valid cron expression: {ex.Message}", nameof(text), ex);
        }
    }

    /// <summary>The first tick strictly after <paramref name="afterMs"/>, or <see cref="long.MaxValue"/> when there is none (a date that never comes).</summary>
    public long NextAfter(long afterMs)
    {
        if (_cron is null)
        {
            return ((Math.Max(afterMs, -1) / _everyMs) + 1) * _everyMs;
        }

        DateTimeOffset? next = _cron.GetNextOccurrence(DateTimeOffset.FromUnixTimeMilliseconds(afterMs), _zone, inclusive: false);
        return next?.ToUnixTimeMilliseconds() ?? long.MaxValue;
    }

    /// <summary>
    /// The latest (at most <paramref name="keep"/>) ticks in (<paramref name="afterMs"/>, <paramref name="nowMs"/>], in
    /// ascending order. Looks back in growing windows, so that a schedule last run long ago costs no walk over every tick since.
    /// </summary>
    public List<long> DueTicks(long afterMs, long nowMs, int keep)
    {
        var ticks = new List<long>();
        if (nowMs <= afterMs || keep <= 0)
        {
            return ticks;
        }

        if (_cron is null)
        {
            long last = nowMs / _everyMs;
            long first = Math.Max((Math.Max(afterMs, -1) / _everyMs) + 1, last - keep + 1);
            for (long k = first; k <= last; k++)
            {
                ticks.Add(k * _everyMs);
            }

            return ticks;
        }

        const long MaxLookBackMs = 400L * 24 * 3600 * 1000;
        for (long window = 60_000; ; window *= 4)
        {
            long start = Math.Max(afterMs, nowMs - window);
            ticks.Clear();
            foreach (DateTimeOffset occurrence in _cron.GetOccurrences(
                DateTimeOffset.FromUnixTimeMilliseconds(start), DateTimeOffset.FromUnixTimeMilliseconds(nowMs), _zone, fromInclusive: false, toInclusive: true))
            {
                ticks.Add(occurrence.ToUnixTimeMilliseconds());
                if (ticks.Count > keep)
                {
                    ticks.RemoveAt(0);
                }
            }

            if (ticks.Count >= keep || start == afterMs || window >= MaxLookBackMs)
            {
                return ticks;
            }
        }
    }
}
