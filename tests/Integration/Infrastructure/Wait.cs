using System.Diagnostics;

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
