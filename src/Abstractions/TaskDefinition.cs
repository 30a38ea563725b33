using MessagePack;
using MessagePack.Formatters;

namespace Celeriac;

/// <summary>
/// A task as the client sees it: its wire name, routed queue, defaults, and how to encode its arguments.
/// Instances are generated (<c>MathTasks.AddTask.Definition</c>); user code does not create them.
/// </summary>
/// <typeparam name="TArgs">The generated argument list of the task.</typeparam>
public sealed class TaskDefinition<TArgs>
{
    /// <summary>Creates a definition. Called by generated code.</summary>
    /// <param name="name">The task's wire name.</param>
    /// <param name="queue">The queue the task is routed to.</param>
    /// <param name="priority">The default priority (0–9).</param>
    /// <param name="argsFormatter">The generated formatter of the argument list.</param>
    /// <param name="serializerOptions">The options of the generated resolver of the task's assembly.</param>
    public TaskDefinition(string name, string queue, int priority, IMessagePackFormatter<TArgs> argsFormatter, MessagePackSerializerOptions serializerOptions)
    {
        Name = name;
        Queue = queue;
        Priority = priority;
        ArgsFormatter = argsFormatter;
        SerializerOptions = serializerOptions;
    }

    /// <summary>The task's wire name.</summary>
    public string Name { get; }

    /// <summary>The queue the task is routed to.</summary>
    public string Queue { get; }

    /// <summary>The default priority (0–9).</summary>
    public int Priority { get; }

    /// <summary>The generated formatter of the argument list.</summary>
    public IMessagePackFormatter<TArgs> ArgsFormatter { get; }

    /// <summary>The options of the generated resolver of the task's assembly (no dynamic resolver).</summary>
    public MessagePackSerializerOptions SerializerOptions { get; }
}
