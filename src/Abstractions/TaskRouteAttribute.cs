namespace Celeriac;

/// <summary>
/// Routes the assembly's tasks whose wire name matches <see cref="Pattern"/> to <see cref="Queue"/>:
/// <c>[assembly: TaskRoute("billing.*", Queue = "billing")]</c>. Celery <c>task_routes</c> glob semantics: <c>*</c> matches
/// any run of characters (including '.' and none), <c>?</c> exactly one character, anything else itself; the first
/// matching route in declaration order wins. A task's own <c>[Task(Queue = ...)]</c> wins over every route; a task no
/// route matches goes to <see cref="TaskAttribute.DefaultQueue"/>. Resolved at compile time into each task's
/// <c>Queue</c> constant.
/// </summary>
[AttributeUsage(AttributeTargets.Assembly, AllowMultiple = true, Inherited = false)]
public sealed class TaskRouteAttribute : Attribute
{
    /// <summary>Declares a route.</summary>
    /// <param name="pattern">The glob over task names.</param>
    public TaskRouteAttribute(string pattern) => Pattern = pattern;

    /// <summary>The glob over task names (<c>*</c>, <c>?</c>).</summary>
    public string Pattern { get; }

    /// <summary>The declared queue that matching tasks are sent to.</summary>
    public string? Queue { get; set; }
}
