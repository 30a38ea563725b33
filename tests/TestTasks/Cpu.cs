using System.Diagnostics;

namespace Celeriac.TestTasks;

/// <summary>
/// CPU-bound tasks (<see cref="TaskExecution.Cpu"/>): each spins for a while and records how many of them were computing
/// at once and on which kind of thread, so that a test can see the worker's CPU threads bound them.
/// </summary>
public static partial class Cpu
{
    private static int s_running;
    private static int s_peak;
    private static int s_onPool;

    /// <summary>The most spins that computed at once since <see cref="Reset"/>.</summary>
    public static int Peak => Volatile.Read(ref s_peak);

    /// <summary>How many spins ran on a thread-pool thread since <see cref="Reset"/>.</summary>
    public static int OnPool => Volatile.Read(ref s_onPool);

    /// <summary>Forgets the counts.</summary>
    public static void Reset()
    {
        Volatile.Write(ref s_peak, 0);
        Volatile.Write(ref s_onPool, 0);
    }

    /// <summary>Computes for <paramref name="milliseconds"/> without yielding its thread; returns its thread's name.</summary>
    [Task(Execution = TaskExecution.Cpu)]
    public static string Spin(int milliseconds)
    {
        if (milliseconds < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(milliseconds), milliseconds, "a spin cannot be negative");
        }

        int now = Interlocked.Increment(ref s_running);
        int peak;
        while (now > (peak = Volatile.Read(ref s_peak)) && Interlocked.CompareExchange(ref s_peak, now, peak) != peak)
        {
        }

        if (Thread.CurrentThread.IsThreadPoolThread)
        {
            Interlocked.Increment(ref s_onPool);
        }

        try
        {
            var clock = Stopwatch.StartNew();
            double x = 1;
            while (clock.ElapsedMilliseconds < milliseconds)
            {
                x = Math.Sqrt(x + 1);
            }

            return Thread.CurrentThread.Name ?? "(unnamed)";
        }
        finally
        {
            Interlocked.Decrement(ref s_running);
        }
    }

    /// <summary>The same spin on the thread pool (the default execution), for comparison.</summary>
    [Task]
    public static string SpinOnPool(int milliseconds) => Spin(milliseconds);
}
