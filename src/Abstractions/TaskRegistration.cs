using System.Buffers;
using Microsoft.Extensions.DependencyInjection;

namespace Celeriac;

/// <summary>
/// Runs one task from its encoded arguments: decodes them (throwing <see cref="TaskPayloadException"/> when it cannot),
/// calls the task method, and writes the MessagePack encoding of its return value to <paramref name="result"/>.
/// Generated per task; no reflection.
/// </summary>
/// <param name="args">The encoded argument list.</param>
/// <param name="context">The run's context; <see cref="TaskContext.Services"/> is the run's DI scope.</param>
/// <param name="result">Receives the encoded return value.</param>
/// <returns>A task that completes when the method has returned.</returns>
[System.ComponentModel.EditorBrowsable(System.ComponentModel.EditorBrowsableState.Never)] // used by generated code
public delegate ValueTask TaskInvoker(ReadOnlyMemory<byte> args, TaskContext context, IBufferWriter<byte> result);

/// <summary>One entry of the worker's dispatch table. Generated per task.</summary>
[System.ComponentModel.EditorBrowsable(System.ComponentModel.EditorBrowsableState.Never)] // used by generated code
public sealed class TaskRegistration
{
    /// <summary>Creates an entry.</summary>
    /// <param name="name">The task's wire name.</param>
    /// <param name="queue">The queue the task is routed to.</param>
    /// <param name="invoker">The generated invoker.</param>
    /// <param name="configureServices">Registers what the task needs in DI (its containing type, for instance tasks), or <see langword="null"/>.</param>
    /// <param name="maxRetries">The task's retry limit (used when <paramref name="policy"/> is <see langword="null"/>).</param>
    /// <param name="policy">The task's retry and time-limit policy; <see langword="null"/> means defaults with <paramref name="maxRetries"/>.</param>
    /// <param name="needs">What the invoker reads from its context beyond the cancellation token (generated; the default assumes everything).</param>
    public TaskRegistration(string name, string queue, TaskInvoker invoker, Action<IServiceCollection>? configureServices = null, int maxRetries = 0, TaskPolicy? policy = null, TaskNeeds needs = TaskNeeds.All)
    {
        Needs = needs;
        Name = name;
        Queue = queue;
        Invoker = invoker;
        ConfigureServices = configureServices;
        Policy = policy ?? (maxRetries == 0 ? TaskPolicy.Default : new TaskPolicy { MaxRetries = maxRetries });
        MaxRetries = Policy.MaxRetries;
    }

    /// <summary>The task's retry and time-limit policy.</summary>
    public TaskPolicy Policy { get; }

    /// <summary>The task's wire name.</summary>
    public string Name { get; }

    /// <summary>The queue the task is routed to.</summary>
    public string Queue { get; }

    /// <summary>The generated invoker.</summary>
    public TaskInvoker Invoker { get; }

    /// <summary>Registers the task's services, or <see langword="null"/>.</summary>
    public Action<IServiceCollection>? ConfigureServices { get; }

    /// <summary>The task's retry limit.</summary>
    public int MaxRetries { get; }

    /// <summary>What the invoker reads from its context beyond the cancellation token: the worker makes only that per run.</summary>
    public TaskNeeds Needs { get; }
}

/// <summary>
/// What a task's generated invoker needs from the worker for a run, beyond the cancellation token (which every run has).
/// The worker makes only what is asked for, so that a task that needs nothing costs no allocation per run.
/// </summary>
[Flags]
[System.ComponentModel.EditorBrowsable(System.ComponentModel.EditorBrowsableState.Never)] // used by generated code
public enum TaskNeeds
{
    /// <summary>Only the cancellation token: a static method that takes no <see cref="TaskContext"/>.</summary>
    None = 0,

    /// <summary>The method takes a <see cref="TaskContext"/>: it gets one of its own, with every member set.</summary>
    Context = 1,

    /// <summary>A dependency-injection scope for the run (<see cref="TaskContext.Services"/>): an instance method, or a method that takes the context.</summary>
    Services = 2,

    /// <summary>Everything (what a registration written by hand gets unless it says otherwise).</summary>
    All = Context | Services,
}
