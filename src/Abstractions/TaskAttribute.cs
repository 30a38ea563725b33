namespace Celeriac;

/// <summary>
/// Marks a method as a Celeriac task. The Celeriac source generator emits, in the containing (partial) type, a nested
/// static class named <c>{Method}Task</c> with typed <c>DelayAsync</c>/<c>ApplyAsync</c> entry points, the argument
/// formatter and the worker's invoker.
/// </summary>
/// <remarks>
/// The task's wire name is <see cref="Name"/> when set, otherwise <c>{Namespace}.{Type}.{Method}</c> (nested types joined
/// with '.'), which is stable across builds and independent of declaration order.
/// </remarks>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false, Inherited = false)]
public sealed class TaskAttribute : Attribute
{
    /// <summary>The default queue, used when neither the task nor a route names one.</summary>
    public const string DefaultQueue = "default";

    /// <summary>The explicit wire name of the task. <see langword="null"/> selects the canonical default name.</summary>
    public string? Name { get; set; }

    /// <summary>The queue the task is sent to unless a call overrides it. <see langword="null"/> means <see cref="DefaultQueue"/>.</summary>
    public string? Queue { get; set; }

    /// <summary>
    /// How many times a failed run is retried; 0 never retries. The default is 0 (retries are opt-in).
    /// Carried in the task's registration; this version of the worker does not retry yet, so a failure is final.
    /// </summary>
    public int MaxRetries { get; set; }

    /// <summary>
    /// The default priority of the task's messages, 0 (lowest) to 9 (highest). The default is 0.
    /// Carried in every message; this version of the brokers does not order by priority yet.
    /// </summary>
    public int Priority { get; set; }
}
