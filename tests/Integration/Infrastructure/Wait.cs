using System.Diagnostics;
using StackExchange.Redis;

namespace Celeriac.IntegrationTests.Infrastructure;

/// <summary>Bounded waits for conditions: every wait has a deadline and a message that explains what did not happen.</summary>
public static class Wait
{
    /// <summary>Polls <paramref name="condition"/> every <paramref name="pollMs"/> ms until it holds; fails after <paramref name="timeout"/>.</summary>
    /// <returns>How long it took.</returns>
    public static async Task<TimeSpan> UntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what, int pollMs = 20)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (await condition().ConfigureAwait(false))
            {
                return clock.Elapsed;
            }

            if (clock.Elapsed > timeout)
            {
                throw new TimeoutException($"Waited {timeout.TotalSeconds:0.#} s for: {what}. It did not happen.");
            }

            await Task.Delay(pollMs).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Waits until some client listens on <paramref name="channel"/> (<c>PUBSUB NUMSUB</c>): a result wait that has
    /// subscribed, so what is published from now on reaches it as a message rather than by its first read.
    /// </summary>
    public static Task<TimeSpan> SubscribedAsync(IDatabase db, string channel, TimeSpan timeout, string what) =>
        UntilAsync(async () => (long)((RedisResult[])(await db.ExecuteAsync("PUBSUB", "NUMSUB", channel).ConfigureAwait(false))!)[1] > 0, timeout, what);

    /// <summary>Awaits <paramref name="task"/> for at most <paramref name="timeout"/>, failing with <paramref name="what"/>.</summary>
    public static async Task<T> WithinAsync<T>(Task<T> task, TimeSpan timeout, string what)
    {
        try
        {
            return await task.WaitAsync(timeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"Waited {timeout.TotalSeconds:0.#} s for: {what}. It did not finish.");
        }
    }
}
