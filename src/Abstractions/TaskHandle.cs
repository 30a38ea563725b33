using MessagePack;
using MessagePack.Formatters;

namespace Celeriac;

/// <summary>A handle on a sent task whose result carries no value (Celery's <c>AsyncResult</c>).</summary>
public class TaskHandle
{
    /// <summary>Creates a handle on task <paramref name="taskId"/> read through <paramref name="client"/>.</summary>
    /// <param name="client">The client to read the result with.</param>
    /// <param name="taskId">The task id.</param>
    public TaskHandle(ITaskClient client, string taskId)
        : this(client, taskId, null)
    {
    }

    /// <summary>Creates a handle on task <paramref name="taskId"/>, sent to <paramref name="queue"/>, read through <paramref name="client"/>.</summary>
    /// <param name="client">The client to read the result with.</param>
    /// <param name="taskId">The task id.</param>
    /// <param name="queue">The queue the task was sent to (its result is read there), or <see langword="null"/> when not known.</param>
    public TaskHandle(ITaskClient client, string taskId, string? queue)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentException.ThrowIfNullOrEmpty(taskId);
        Client = client;
        Id = taskId;
        Queue = queue;
    }

    /// <summary>The task id.</summary>
    public string Id { get; }

    /// <summary>The queue the task was sent to, when the handle knows it (handles made by a send do); <see langword="null"/> otherwise.</summary>
    public string? Queue { get; }

    /// <summary>The client the handle reads through.</summary>
    protected ITaskClient Client { get; }

    /// <summary>Reads the task's current state.</summary>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The current state.</returns>
    public async ValueTask<TaskState> GetStateAsync(CancellationToken cancellationToken = default)
        => (await Client.GetResultAsync(Id, Queue, cancellationToken).ConfigureAwait(false)).State;

    /// <summary>Reads the task's current result record.</summary>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The current record.</returns>
    public ValueTask<TaskResult> GetResultAsync(CancellationToken cancellationToken = default)
        => Client.GetResultAsync(Id, Queue, cancellationToken);

    /// <summary>
    /// Revokes the task (<see cref="ITaskClient.RevokeAsync"/>): queued or scheduled, it ends <see cref="TaskState.Revoked"/>
    /// without running; running, its cancellation token is cancelled.
    /// </summary>
    /// <param name="keepFor">How long the broker remembers the revocation, or <see langword="null"/> for the client's default.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>A task that completes when the broker has stored the revocation.</returns>
    public Task RevokeAsync(TimeSpan? keepFor = null, CancellationToken cancellationToken = default)
        => Client.RevokeAsync(Id, keepFor, cancellationToken);

    /// <summary>Waits for the task to succeed.</summary>
    /// <param name="timeout">How long to wait.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <exception cref="TimeoutException">The task was not ready in time.</exception>
    /// <exception cref="TaskFailedException">The task failed; carries the remote error.</exception>
    /// <exception cref="TaskRevokedException">The task was revoked or expired.</exception>
    /// <returns>A task that completes when the remote task succeeded.</returns>
    public async Task WaitAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
        => _ = await WaitReadyAsync(timeout, cancellationToken).ConfigureAwait(false);

    /// <summary>Waits for a final state and turns failure, revocation and timeout into exceptions.</summary>
    /// <param name="timeout">How long to wait.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>The successful record.</returns>
    protected async ValueTask<TaskResult> WaitReadyAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        TaskResult result = await Client.WaitAsync(Id, Queue, timeout, cancellationToken).ConfigureAwait(false);
        return result.State switch
        {
            TaskState.Success => result,
            TaskState.Failure => throw new TaskFailedException(Id, result.Error ?? new TaskError("Celeriac.Unknown", "The task failed without an error record.", null)),
            TaskState.Revoked => throw new TaskRevokedException(Id, result.Error?.Message),
            _ => throw new TimeoutException($"Task {Id} was not ready after {timeout.TotalMilliseconds:0} ms (state {result.State})."),
        };
    }

    /// <inheritdoc/>
    public override string ToString() => Id;
}

/// <summary>A handle on a sent task whose result is a <typeparamref name="T"/>.</summary>
/// <typeparam name="T">The task's return type.</typeparam>
public sealed class TaskHandle<T> : TaskHandle
{
    private readonly IMessagePackFormatter<T> _formatter;
    private readonly MessagePackSerializerOptions _options;

    /// <summary>Creates a handle. Generated stubs call this; use <c>{Method}Task.Handle(client, id)</c> to re-create one from an id.</summary>
    /// <param name="client">The client to read the result with.</param>
    /// <param name="taskId">The task id.</param>
    /// <param name="formatter">The formatter of the result type.</param>
    /// <param name="options">The options of the generated resolver.</param>
    public TaskHandle(ITaskClient client, string taskId, IMessagePackFormatter<T> formatter, MessagePackSerializerOptions options)
        : this(client, taskId, null, formatter, options)
    {
    }

    /// <summary>Creates a handle on a task sent to <paramref name="queue"/>. Generated stubs call this.</summary>
    /// <param name="client">The client to read the result with.</param>
    /// <param name="taskId">The task id.</param>
    /// <param name="queue">The queue the task was sent to (its result is read there), or <see langword="null"/> when not known.</param>
    /// <param name="formatter">The formatter of the result type.</param>
    /// <param name="options">The options of the generated resolver.</param>
    public TaskHandle(ITaskClient client, string taskId, string? queue, IMessagePackFormatter<T> formatter, MessagePackSerializerOptions options)
        : base(client, taskId, queue)
    {
        _formatter = formatter;
        _options = options;
    }

    /// <summary>The formatter of the result type (a workflow's handles over arrays of it are built from it).</summary>
    internal IMessagePackFormatter<T> Formatter => _formatter;

    /// <summary>The options of the generated resolver.</summary>
    internal MessagePackSerializerOptions Options => _options;

    /// <summary>Waits for the task and returns its result.</summary>
    /// <param name="timeout">How long to wait.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <exception cref="TimeoutException">The task was not ready in time.</exception>
    /// <exception cref="TaskFailedException">The task failed; carries the remote error type, message and stack trace.</exception>
    /// <exception cref="TaskRevokedException">The task was revoked or expired.</exception>
    /// <returns>The task's return value.</returns>
    public async Task<T> GetAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        TaskResult result = await WaitReadyAsync(timeout, cancellationToken).ConfigureAwait(false);
        return Decode(result.Value);
    }

    private T Decode(ReadOnlyMemory<byte> value)
    {
        var reader = new MessagePackReader(value);
        return _formatter.Deserialize(ref reader, _options);
    }
}
