namespace Celeriac.TestTasks;

/// <summary>
/// Tasks with large arguments that record how many of them ran at once, so that a test can see the worker's memory
/// budget (<c>WorkerOptions.MaxMemoryInFlight</c>) bound them whatever the concurrency.
/// </summary>
public static partial class Bulky
{
    private static int s_running;
    private static int s_peak;

    /// <summary>The most runs at once since <see cref="Reset"/>.</summary>
    public static int Peak => Volatile.Read(ref s_peak);

    /// <summary>Forgets the peak.</summary>
    public static void Reset() => Volatile.Write(ref s_peak, 0);

    /// <summary>Holds a large string argument for <paramref name="milliseconds"/>; returns its length.</summary>
    [Task]
    public static async Task<int> Hold(string payload, int milliseconds)
    {
        Enter();
        try
        {
            await Task.Delay(milliseconds).ConfigureAwait(false);
            return payload.Length;
        }
        finally
        {
            Interlocked.Decrement(ref s_running);
        }
    }

    /// <summary>Holds an argument of many elements for <paramref name="milliseconds"/>; returns their count.</summary>
    [Task]
    public static async Task<int> HoldMany(int[] values, int milliseconds)
    {
        Enter();
        try
        {
            await Task.Delay(milliseconds).ConfigureAwait(false);
            return values.Length;
        }
        finally
        {
            Interlocked.Decrement(ref s_running);
        }
    }

    private static void Enter()
    {
        int now = Interlocked.Increment(ref s_running);
        int peak;
        while (now > (peak = Volatile.Read(ref s_peak)) && Interlocked.CompareExchange(ref s_peak, now, peak) != peak)
        {
        }
    }
}
