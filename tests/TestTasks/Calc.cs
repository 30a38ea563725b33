namespace Celeriac.TestTasks;

/// <summary>Static tasks: arithmetic and a task that always fails.</summary>
public static partial class Calc
{
    [Task]
    public static int Add(int x, int y) => x + y;

    [Task]
    public static int Fail(string message) => throw new InvalidOperationException(message);

    /// <summary>Rate-limited to 5 starts a second per worker; returns when it started (a <see cref="System.Diagnostics.Stopwatch"/> timestamp).</summary>
    [Task(RateLimit = "5/s", Queue = "slow")]
    public static long Paced(int n) => System.Diagnostics.Stopwatch.GetTimestamp();

    /// <summary>Resolves the run's scope twice: one scope within a run, a new one for each run.</summary>
    [Task]
    public static int ScopeIdentity(TaskContext context)
    {
        IServiceProvider services = context.Services ?? throw new InvalidOperationException("the run has no services");
        object first = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<IServiceProvider>(services);
        object second = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<IServiceProvider>(services);
        return ReferenceEquals(first, second)
            ? System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(first)
            : throw new InvalidOperationException("two scopes in one run");
    }

    /// <summary>A task with a hard time limit (its run gets its context built apart, off the consumer's loop).</summary>
    [Task(TimeLimit = "10s")]
    public static int Limited(int x) => x;

    /// <summary>Describes the context it was given: its id, name, delivery count and identity (a context of its own per run).</summary>
    [Task]
    public static string ContextOf(TaskContext context)
        => $"{context.TaskId}|{context.TaskName}|{context.DeliveryCount}|{System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(context):x8}";

    /// <summary>Waits on the run's token only (a static task with no context): revoke, shutdown and time limits cancel it.</summary>
    [Task]
    public static async Task<int> Hold(int milliseconds, CancellationToken cancellationToken)
    {
        await Task.Delay(milliseconds, cancellationToken).ConfigureAwait(false);
        return milliseconds;
    }

    /// <summary>Waits without touching anything else (no ledger): a task that can run through a Redis outage.</summary>
    [Task(Queue = "slow")]
    public static async Task<int> Nap(int n, int milliseconds)
    {
        await Task.Delay(milliseconds).ConfigureAwait(false);
        return n;
    }
}
