namespace Celeriac.Worker;

/// <summary>
/// A task's rate limit in one worker (<see cref="TaskPolicy.RateLimitInterval"/>): starts are spaced at least the interval
/// apart, as Celery's token bucket of capacity one spaces them. A start reserves the next free instant; concurrent
/// reservations each get their own, in order.
/// </summary>
/// <param name="interval">The shortest time between two starts.</param>
internal sealed class RateGate(TimeSpan interval)
{
    private readonly long _intervalTicks = Math.Max(1, interval.Ticks);
    private long _nextTicks = long.MinValue;

    /// <summary>Reserves the next start at or after <paramref name="now"/>; returns how long to wait for it (zero: now).</summary>
    /// <param name="now">The current instant.</param>
    /// <returns>The wait before this start.</returns>
    public TimeSpan Reserve(DateTimeOffset now)
    {
        long nowTicks = now.UtcTicks;
        while (true)
        {
            long next = Volatile.Read(ref _nextTicks);
            long start = Math.Max(next, nowTicks);
            if (Interlocked.CompareExchange(ref _nextTicks, start + _intervalTicks, next) == next)
            {
                return TimeSpan.FromTicks(start - nowTicks);
            }
        }
    }
}
