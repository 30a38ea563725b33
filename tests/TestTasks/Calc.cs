namespace Celeriac.TestTasks;

/// <summary>Static tasks: arithmetic and a task that always fails.</summary>
public static partial class Calc
{
    [Task]
    public static int Add(int x, int y) => x + y;

    [Task]
    public static int Fail(string message) => throw new InvalidOperationException(message);

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

    /// <summary>Waits without touching anything else (no ledger): a task that can run through a Redis outage.</summary>
    [Task(Queue = "slow")]
    public static async Task<int> Nap(int n, int milliseconds)
    {
        await Task.Delay(milliseconds).ConfigureAwait(false);
        return n;
    }
}
