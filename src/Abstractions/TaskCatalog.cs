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
public sealed class TaskAssemblyAttribute : Attribute
{
    /// <summary>Creates the marker.</summary>
    /// <param name="registry">The generated registry type, a static class with <c>public static void Register(TaskCatalog)</c>.</param>
    public TaskAssemblyAttribute(Type registry) => Registry = registry;

    /// <summary>The generated registry type.</summary>
    public Type Registry { get; }
}
