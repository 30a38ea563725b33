namespace Celeriac.TestTasks;

/// <summary>Tasks for the middleware tests: what the task's own context holds.</summary>
public static partial class Hooks
{
    /// <summary>The value of header <paramref name="name"/> in the run's <see cref="TaskContext.Headers"/>, or "(none)".</summary>
    [Task]
    public static string Header(string name, TaskContext context)
        => context.Headers.TryGetValue(name, out string? value) ? value : "(none)";
}
