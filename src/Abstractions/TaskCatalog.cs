using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;

namespace Celeriac;

/// <summary>
/// The set of tasks a worker can run. Generated module initializers add every task of the compiling assembly and of
/// the task assemblies it references to <see cref="Global"/>; a worker uses <see cref="Global"/> unless told otherwise.
/// </summary>
public sealed class TaskCatalog
{
    private readonly ConcurrentDictionary<string, TaskRegistration> _tasks = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte> _assemblies = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte> _queues = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, PeriodicSchedule> _schedules = new(StringComparer.Ordinal);

    /// <summary>The process-wide catalog filled by generated module initializers.</summary>
    public static TaskCatalog Global { get; } = new();

    /// <summary>The registered tasks, in no particular order.</summary>
    public ICollection<TaskRegistration> Tasks => _tasks.Values;

    /// <summary>The number of registered tasks.</summary>
    public int Count => _tasks.Count;

    /// <summary>Adds an assembly's tasks once, however many times it is offered.</summary>
    /// <param name="assemblyKey">A key identifying the assembly (its name).</param>
    /// <param name="register">The assembly's generated registration method.</param>
    public void AddAssembly(string assemblyKey, Action<TaskCatalog> register)
    {
        ArgumentNullException.ThrowIfNull(register);
        if (_assemblies.TryAdd(assemblyKey, 0))
        {
            register(this);
        }
    }

    /// <summary>Adds a task.</summary>
    /// <param name="registration">The task.</param>
    /// <exception cref="InvalidOperationException">Another task with the same name is registered.</exception>
    public void Add(TaskRegistration registration)
    {
        ArgumentNullException.ThrowIfNull(registration);
        if (!_tasks.TryAdd(registration.Name, registration) && !ReferenceEquals(_tasks[registration.Name].Invoker.Method, registration.Invoker.Method))
        {
            throw new InvalidOperationException($"Two tasks are named '{registration.Name}'. Task names must be unique across the assemblies a worker loads; set [Task(Name = ...)] on one of them.");
        }
    }

    /// <summary>The periodic schedules known when the program was built (generated from <see cref="PeriodicAttribute"/>), in no particular order.</summary>
    public ICollection<PeriodicSchedule> Schedules => _schedules.Values;

    /// <summary>Adds a periodic schedule (generated from <see cref="PeriodicAttribute"/>; a worker's scheduler runs every schedule of its catalog).</summary>
    /// <param name="schedule">The schedule.</param>
    /// <exception cref="InvalidOperationException">Another schedule with the same name is registered.</exception>
    public void AddSchedule(PeriodicSchedule schedule)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        if (!_schedules.TryAdd(schedule.Name, schedule) && !ReferenceEquals(_schedules[schedule.Name], schedule))
        {
            throw new InvalidOperationException($"Two periodic schedules are named '{schedule.Name}'. Schedule names must be unique across the assemblies a worker loads.");
        }
    }

    /// <summary>
    /// The queues declared with <c>[assembly: TaskQueue(...)]</c> by the loaded task assemblies, sorted ordinally; empty
    /// when no assembly declares queues (declarations are not used, and any queue is accepted). When not empty it
    /// includes <see cref="TaskAttribute.DefaultQueue"/>.
    /// </summary>
    public IReadOnlyList<string> DeclaredQueues
    {
        get
        {
            var queues = new List<string>(_queues.Keys);
            queues.Sort(StringComparer.Ordinal);
            return queues;
        }
    }

    /// <summary>Whether any loaded assembly declares queues.</summary>
    public bool HasQueueDeclarations => !_queues.IsEmpty;

    /// <summary>Declares a queue (generated from <c>[assembly: TaskQueue(...)]</c>); also declares <see cref="TaskAttribute.DefaultQueue"/>.</summary>
    /// <param name="name">The queue name.</param>
    /// <exception cref="ArgumentException"><paramref name="name"/> is not a valid queue name.</exception>
    public void DeclareQueue(string name)
    {
        if (QueueName.Validate(name) is { } problem)
        {
            throw new ArgumentException($"'{name}' is not a valid queue name: {problem}.", nameof(name));
        }

        _queues.TryAdd(TaskAttribute.DefaultQueue, 0);
        _queues.TryAdd(name, 0);
    }

    /// <summary>Whether a worker may listen on <paramref name="queue"/>: declared, or no assembly declares queues at all.</summary>
    /// <param name="queue">The queue name.</param>
    /// <returns><see langword="true"/> when declared or when declarations are not used.</returns>
    public bool IsQueueDeclared(string queue) => _queues.IsEmpty || _queues.ContainsKey(queue);

    /// <summary>Finds a task by its wire name.</summary>
    /// <param name="name">The wire name.</param>
    /// <param name="registration">The task, when found.</param>
    /// <returns>Whether the task is registered.</returns>
    public bool TryGet(string name, [NotNullWhen(true)] out TaskRegistration? registration) => _tasks.TryGetValue(name, out registration);
}

/// <summary>
/// Marks an assembly that contains generated Celeriac tasks and names its generated registry, so that the generator
/// of an assembly referencing it (a worker application) can register those tasks without reflection.
/// </summary>
[AttributeUsage(AttributeTargets.Assembly, AllowMultiple = false)]
[System.ComponentModel.EditorBrowsable(System.ComponentModel.EditorBrowsableState.Never)] // used by generated code
public sealed class TaskAssemblyAttribute : Attribute
{
    /// <summary>Creates the marker.</summary>
    /// <param name="registry">The generated registry type, a static class with <c>public static void Register(TaskCatalog)</c>.</param>
    public TaskAssemblyAttribute(Type registry) => Registry = registry;

    /// <summary>The generated registry type.</summary>
    public Type Registry { get; }
}
