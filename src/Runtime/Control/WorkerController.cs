namespace Celeriac.Control;

/// <summary>
/// Changes running workers (Celery's <c>control</c>): what they consume, how many tasks they run at once, whether they
/// run at all. Each call goes to one worker or to every live worker and collects the replies until all answered or the
/// timeout passed; a worker that does not answer is listed in <see cref="ControlReplies{T}.Missing"/> (it may still carry
/// the command out if it reads it before the timeout passes; a command read later is dropped). Get it from
/// <see cref="CeleriacClient.Control"/>. Changes last until the worker stops: they are not written back to its options.
/// </summary>
public sealed class WorkerController
{
    private readonly ControlRequests _requests;
    private readonly Func<string, TimeSpan?, CancellationToken, Task> _revoke;

    internal WorkerController(ControlRequests requests, Func<string, TimeSpan?, CancellationToken, Task> revoke)
    {
        _requests = requests;
        _revoke = revoke;
    }

    /// <summary>Revokes a task by id (the same as <see cref="CeleriacClient.RevokeAsync"/>: kept in the broker, so workers that are offline now honour it too).</summary>
    /// <param name="taskId">The task's id.</param>
    /// <param name="keepFor">How long the broker remembers the revocation; <see langword="null"/> for <see cref="CeleriacOptions.RevokeTtl"/>.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>A task that completes when the broker has stored the revocation.</returns>
    public Task RevokeAsync(string taskId, TimeSpan? keepFor = null, CancellationToken cancellationToken = default) => _revoke(taskId, keepFor, cancellationToken);

    /// <summary>
    /// Makes workers consume <paramref name="queue"/> too (after the queues they consume, so last in a strict order). A
    /// worker blocked in a fetch on its old queues sees the change when that wait ends (<see cref="WorkerOptions.FetchWait"/>).
    /// Each reply is the worker's queues after the change, comma-separated.
    /// </summary>
    /// <param name="queue">The queue.</param>
    /// <param name="worker">The worker's id, or <see langword="null"/> for every live worker.</param>
    /// <param name="timeout">How long to wait for replies; <see langword="null"/> for <see cref="WorkerInspector.DefaultTimeout"/>.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>The replies and the workers that did not answer.</returns>
    public Task<ControlReplies<string>> AddConsumerAsync(string queue, string? worker = null, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        CheckQueue(queue);
        return _requests.SendAsync(ControlCommands.AddConsumer, queue, 0, worker, timeout, ControlCodec.ReadString, cancellationToken);
    }

    /// <summary>
    /// Makes workers stop consuming <paramref name="queue"/>: they fetch no more from it (tasks already fetched from it run).
    /// A worker refuses to cancel the only queue it consumes. Each reply is the worker's queues after the change.
    /// </summary>
    /// <param name="queue">The queue.</param>
    /// <param name="worker">The worker's id, or <see langword="null"/> for every live worker.</param>
    /// <param name="timeout">How long to wait for replies; <see langword="null"/> for <see cref="WorkerInspector.DefaultTimeout"/>.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>The replies and the workers that did not answer.</returns>
    public Task<ControlReplies<string>> CancelConsumerAsync(string queue, string? worker = null, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        CheckQueue(queue);
        return _requests.SendAsync(ControlCommands.CancelConsumer, queue, 0, worker, timeout, ControlCodec.ReadString, cancellationToken);
    }

    /// <summary>Makes workers run <paramref name="by"/> more tasks at once (and hold as many more). Each reply is the worker's concurrency after the change.</summary>
    /// <param name="by">How many more (at least 1).</param>
    /// <param name="worker">The worker's id, or <see langword="null"/> for every live worker.</param>
    /// <param name="timeout">How long to wait for replies; <see langword="null"/> for <see cref="WorkerInspector.DefaultTimeout"/>.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>The replies and the workers that did not answer.</returns>
    public Task<ControlReplies<int>> GrowAsync(int by = 1, string? worker = null, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(by, 1);
        return _requests.SendAsync(ControlCommands.Grow, null, by, worker, timeout, ControlCodec.ReadInt, cancellationToken);
    }

    /// <summary>
    /// Makes workers run <paramref name="by"/> fewer tasks at once (never below 1). No running task is interrupted: the
    /// worker starts no new task until fewer than the new concurrency run. Each reply is the worker's concurrency after the change.
    /// </summary>
    /// <param name="by">How many fewer (at least 1).</param>
    /// <param name="worker">The worker's id, or <see langword="null"/> for every live worker.</param>
    /// <param name="timeout">How long to wait for replies; <see langword="null"/> for <see cref="WorkerInspector.DefaultTimeout"/>.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>The replies and the workers that did not answer.</returns>
    public Task<ControlReplies<int>> ShrinkAsync(int by = 1, string? worker = null, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(by, 1);
        return _requests.SendAsync(ControlCommands.Shrink, null, by, worker, timeout, ControlCodec.ReadInt, cancellationToken);
    }

    /// <summary>
    /// Stops one worker warmly, as SIGTERM would: it stops fetching, hands back what it prefetched, lets running tasks
    /// finish within <see cref="WorkerOptions.ShutdownTimeout"/>, removes itself from the registry and stops its host.
    /// The reply comes before the stop begins.
    /// </summary>
    /// <param name="worker">The worker's id (one worker: there is no broadcast shutdown).</param>
    /// <param name="timeout">How long to wait for the reply; <see langword="null"/> for <see cref="WorkerInspector.DefaultTimeout"/>.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>The reply, or the worker in <see cref="ControlReplies{T}.Missing"/>.</returns>
    public Task<ControlReplies<string>> ShutdownAsync(string worker, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(worker);
        return _requests.SendAsync(ControlCommands.Shutdown, null, 0, worker, timeout, ControlCodec.ReadString, cancellationToken);
    }

    private static void CheckQueue(string queue)
    {
        ArgumentNullException.ThrowIfNull(queue);
        if (QueueName.Validate(queue) is { } problem)
        {
            throw new ArgumentException($"'{queue}' is not a valid queue name: {problem}.", nameof(queue));
        }
    }
}
