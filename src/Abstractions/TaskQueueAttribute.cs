namespace Celeriac;

/// <summary>
/// Declares a queue of the assembly: <c>[assembly: TaskQueue("billing")]</c>. The generator checks every route and
/// <c>[Task(Queue = ...)]</c> against the declared queues, emits a typed constant per queue
/// (<c>Celeriac.Generated.{Assembly}.Queues.Billing</c>) for per-call overrides, and registers the declarations so a
/// worker refuses at start to listen on a queue nobody declared. <see cref="TaskAttribute.DefaultQueue"/> is always declared.
/// </summary>
/// <remarks>Queue names use ASCII letters, digits, '.', '_', '-' and ':' and are at most <see cref="QueueName.MaxLength"/> characters.</remarks>
[AttributeUsage(AttributeTargets.Assembly, AllowMultiple = true, Inherited = false)]
public sealed class TaskQueueAttribute : Attribute
{
    /// <summary>Declares a queue.</summary>
    /// <param name="name">The queue name.</param>
    public TaskQueueAttribute(string name) => Name = name;

    /// <summary>The queue name.</summary>
    public string Name { get; }
}
