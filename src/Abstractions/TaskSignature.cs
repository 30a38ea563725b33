using System.Buffers;
using MessagePack;
using MessagePack.Formatters;

namespace Celeriac;

/// <summary>
/// A task with all its arguments, not yet sent (Celery's <c>.s()</c>): the first step of a chain, a member of a group
/// or chord. Generated as <c>{Method}Task.Sig(args…)</c> for every task; immutable (the <c>With…</c> methods return a copy).
/// </summary>
/// <typeparam name="TResult">The task's return type (<see cref="Nothing"/> for a task that returns no value).</typeparam>
public sealed class TaskSignature<TResult>
{
    private TaskSignature(StepHeader header, ReadOnlyMemory<byte> args, IMessagePackFormatter<TResult> resultFormatter, MessagePackSerializerOptions serializerOptions)
    {
        Header = header;
        Args = args;
        ResultFormatter = resultFormatter;
        SerializerOptions = serializerOptions;
    }

    /// <summary>Creates a signature. Called by generated code (<c>Sig</c>); user code calls <c>Sig</c>.</summary>
    /// <typeparam name="TArgs">The task's generated argument list.</typeparam>
    /// <param name="task">The generated definition of the task.</param>
    /// <param name="args">The arguments.</param>
    /// <param name="resultFormatter">The formatter of the result type.</param>
    /// <param name="serializerOptions">The options of the generated resolver of the task's assembly.</param>
    /// <returns>The signature, its arguments encoded once.</returns>
    public static TaskSignature<TResult> Create<TArgs>(TaskDefinition<TArgs> task, TArgs args, IMessagePackFormatter<TResult> resultFormatter, MessagePackSerializerOptions serializerOptions)
    {
        ArgumentNullException.ThrowIfNull(task);
        var buffer = new ArrayBufferWriter<byte>(64);
        var writer = new MessagePackWriter(buffer);
        task.ArgsFormatter.Serialize(ref writer, args, task.SerializerOptions);
        writer.Flush();
        return new TaskSignature<TResult>(new StepHeader(task.Name, task.Queue, task.Priority, null, null), buffer.WrittenMemory, resultFormatter, serializerOptions);
    }

    /// <summary>The task's wire name.</summary>
    public string TaskName => Header.TaskName;

    /// <summary>The queue the task is sent to: its routed queue, or the one set with <see cref="WithQueue(string)"/>.</summary>
    public string Queue => Header.Queue;

    /// <summary>The message priority, 0 (lowest) to 9 (highest).</summary>
    public int Priority => Header.Priority;

    /// <summary>How long after the step is sent it runs at the earliest, or <see langword="null"/> for at once.</summary>
    public TimeSpan? Countdown => Header.Countdown;

    /// <summary>How long after the step is sent it may still run (else it ends revoked), or <see langword="null"/> for no limit.</summary>
    public TimeSpan? ExpiresIn => Header.ExpiresIn;

    internal StepHeader Header { get; }

    /// <summary>The encoded argument list (a MessagePack array, as the task's formatter writes it).</summary>
    internal ReadOnlyMemory<byte> Args { get; }

    internal IMessagePackFormatter<TResult> ResultFormatter { get; }

    internal MessagePackSerializerOptions SerializerOptions { get; }

    /// <summary>A copy sent to <paramref name="queue"/> instead of the task's routed queue (checked at send as <see cref="TaskOptions.Queue"/> is).</summary>
    /// <param name="queue">The queue.</param>
    /// <returns>The copy.</returns>
    public TaskSignature<TResult> WithQueue(string queue) => new(Header.WithQueue(queue), Args, ResultFormatter, SerializerOptions);

    /// <summary>A copy sent to <paramref name="queue"/>, a generated constant of a declared queue.</summary>
    /// <param name="queue">The queue.</param>
    /// <returns>The copy.</returns>
    public TaskSignature<TResult> WithQueue(QueueName queue) => WithQueue(queue.Value);

    /// <summary>A copy with another priority.</summary>
    /// <param name="priority">0 (lowest) to 9 (highest).</param>
    /// <returns>The copy.</returns>
    public TaskSignature<TResult> WithPriority(int priority) => new(Header.WithPriority(priority), Args, ResultFormatter, SerializerOptions);

    /// <summary>A copy that runs no earlier than <paramref name="countdown"/> after it is sent (for a later step: after its previous step succeeded).</summary>
    /// <param name="countdown">The delay.</param>
    /// <returns>The copy.</returns>
    public TaskSignature<TResult> WithCountdown(TimeSpan countdown) => new(Header.WithCountdown(countdown), Args, ResultFormatter, SerializerOptions);

    /// <summary>A copy that ends revoked instead of running when it starts later than <paramref name="expiresIn"/> after it is sent.</summary>
    /// <param name="expiresIn">How long the step may wait.</param>
    /// <returns>The copy.</returns>
    public TaskSignature<TResult> WithExpiresIn(TimeSpan expiresIn) => new(Header.WithExpiresIn(expiresIn), Args, ResultFormatter, SerializerOptions);

    /// <inheritdoc/>
    public override string ToString() => TaskName;
}

/// <summary>
/// A task with every argument but its first (Celery's partial signature): a later step of a chain, whose first argument
/// is the result of the step before it, or a chord's callback, whose first argument is the members' results in call
/// order. Generated as <c>{Method}Task.Then(rest…)</c> for every task with at least one serialized parameter; the type
/// parameters make a step that does not fit a compile error.
/// </summary>
/// <typeparam name="TInput">The type of the task's first parameter: what the previous step must return.</typeparam>
/// <typeparam name="TResult">The task's return type (<see cref="Nothing"/> for a task that returns no value).</typeparam>
public sealed class TaskStep<TInput, TResult>
{
    private TaskStep(StepHeader header, int argCount, ReadOnlyMemory<byte> restArgs, IMessagePackFormatter<TResult> resultFormatter, MessagePackSerializerOptions serializerOptions)
    {
        Header = header;
        ArgCount = argCount;
        RestArgs = restArgs;
        ResultFormatter = resultFormatter;
        SerializerOptions = serializerOptions;
    }

    /// <summary>Creates a step. Called by generated code (<c>Then</c>); user code calls <c>Then</c>.</summary>
    /// <typeparam name="TArgs">The task's generated argument list.</typeparam>
    /// <param name="task">The generated definition of the task.</param>
    /// <param name="args">The arguments, the first one a placeholder (it is not kept).</param>
    /// <param name="resultFormatter">The formatter of the result type.</param>
    /// <param name="serializerOptions">The options of the generated resolver of the task's assembly.</param>
    /// <returns>The step, the arguments after the first encoded once.</returns>
    public static TaskStep<TInput, TResult> Create<TArgs>(TaskDefinition<TArgs> task, TArgs args, IMessagePackFormatter<TResult> resultFormatter, MessagePackSerializerOptions serializerOptions)
    {
        ArgumentNullException.ThrowIfNull(task);
        var buffer = new ArrayBufferWriter<byte>(64);
        var writer = new MessagePackWriter(buffer);
        task.ArgsFormatter.Serialize(ref writer, args, task.SerializerOptions);
        writer.Flush();

        // The list is written whole (the task's own formatter, so the bytes are what the worker reads); the placeholder
        // first element is cut off here and the previous step's result takes its place when the step is sent.
        var reader = new MessagePackReader(buffer.WrittenMemory);
        int count = reader.ReadArrayHeader();
        if (count < 1)
        {
            throw new ArgumentException($"Task '{task.Name}' takes no argument, so it cannot follow another step.", nameof(args));
        }

        reader.Skip();
        ReadOnlyMemory<byte> rest = buffer.WrittenMemory[(int)reader.Consumed..];
        return new TaskStep<TInput, TResult>(new StepHeader(task.Name, task.Queue, task.Priority, null, null), count, rest, resultFormatter, serializerOptions);
    }

    /// <summary>The task's wire name.</summary>
    public string TaskName => Header.TaskName;

    /// <summary>The queue the task is sent to: its routed queue, or the one set with <see cref="WithQueue(string)"/>.</summary>
    public string Queue => Header.Queue;

    /// <summary>The message priority, 0 (lowest) to 9 (highest).</summary>
    public int Priority => Header.Priority;

    /// <summary>How long after the step is sent (its previous step succeeded) it runs at the earliest, or <see langword="null"/> for at once.</summary>
    public TimeSpan? Countdown => Header.Countdown;

    /// <summary>How long after the step is sent it may still run (else it ends revoked), or <see langword="null"/> for no limit.</summary>
    public TimeSpan? ExpiresIn => Header.ExpiresIn;

    internal StepHeader Header { get; }

    /// <summary>How many arguments the task takes, the first one included.</summary>
    internal int ArgCount { get; }

    /// <summary>The encoded arguments after the first: MessagePack values one after the other, no array header.</summary>
    internal ReadOnlyMemory<byte> RestArgs { get; }

    internal IMessagePackFormatter<TResult> ResultFormatter { get; }

    internal MessagePackSerializerOptions SerializerOptions { get; }

    /// <summary>A copy sent to <paramref name="queue"/> instead of the task's routed queue (checked at send as <see cref="TaskOptions.Queue"/> is).</summary>
    /// <param name="queue">The queue.</param>
    /// <returns>The copy.</returns>
    public TaskStep<TInput, TResult> WithQueue(string queue) => new(Header.WithQueue(queue), ArgCount, RestArgs, ResultFormatter, SerializerOptions);

    /// <summary>A copy sent to <paramref name="queue"/>, a generated constant of a declared queue.</summary>
    /// <param name="queue">The queue.</param>
    /// <returns>The copy.</returns>
    public TaskStep<TInput, TResult> WithQueue(QueueName queue) => WithQueue(queue.Value);

    /// <summary>A copy with another priority.</summary>
    /// <param name="priority">0 (lowest) to 9 (highest).</param>
    /// <returns>The copy.</returns>
    public TaskStep<TInput, TResult> WithPriority(int priority) => new(Header.WithPriority(priority), ArgCount, RestArgs, ResultFormatter, SerializerOptions);

    /// <summary>A copy that runs no earlier than <paramref name="countdown"/> after its previous step succeeded.</summary>
    /// <param name="countdown">The delay.</param>
    /// <returns>The copy.</returns>
    public TaskStep<TInput, TResult> WithCountdown(TimeSpan countdown) => new(Header.WithCountdown(countdown), ArgCount, RestArgs, ResultFormatter, SerializerOptions);

    /// <summary>A copy that ends revoked instead of running when it starts later than <paramref name="expiresIn"/> after it is sent.</summary>
    /// <param name="expiresIn">How long the step may wait.</param>
    /// <returns>The copy.</returns>
    public TaskStep<TInput, TResult> WithExpiresIn(TimeSpan expiresIn) => new(Header.WithExpiresIn(expiresIn), ArgCount, RestArgs, ResultFormatter, SerializerOptions);

    /// <inheritdoc/>
    public override string ToString() => TaskName;
}

/// <summary>What a signature or step carries besides its arguments: task, queue and per-signature options.</summary>
internal sealed record StepHeader(string TaskName, string Queue, int Priority, TimeSpan? Countdown, TimeSpan? ExpiresIn)
{
    public StepHeader WithQueue(string queue)
    {
        if (QueueName.Validate(queue) is { } problem)
        {
            throw new ArgumentException($"'{queue}' is not a valid queue name: {problem}.", nameof(queue));
        }

        return this with { Queue = queue };
    }

    public StepHeader WithPriority(int priority)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(priority);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(priority, 9);
        return this with { Priority = priority };
    }

    public StepHeader WithCountdown(TimeSpan countdown)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(countdown, TimeSpan.Zero);
        return this with { Countdown = countdown };
    }

    public StepHeader WithExpiresIn(TimeSpan expiresIn)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(expiresIn, TimeSpan.Zero);
        return this with { ExpiresIn = expiresIn };
    }
}
