namespace Celeriac.TestTasks;

/// <summary>Static tasks: arithmetic and a task that always fails.</summary>
public static partial class Calc
{
    [Task]
    public static int Add(int x, int y) => x + y;

    [Task]
    public static int Fail(string message) => throw new InvalidOperationException(message);

    /// <summary>Waits without touching anything else (no ledger): a task that can run through a Redis outage.</summary>
    [Task(Queue = "slow")]
    public static async Task<int> Nap(int n, int milliseconds)
    {
        await Task.Delay(milliseconds).ConfigureAwait(false);
        return n;
    }
}
