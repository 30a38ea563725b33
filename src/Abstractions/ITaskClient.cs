namespace Celeriac;

/// <summary>
/// Sends tasks and reads their results. Generated stubs (<c>MathTasks.AddTask.DelayAsync(client, 4, 5)</c>) call it;
/// application code rarely needs to. Implementations are thread-safe and meant to be shared.
/// </summary>
public interface ITaskClient
{
    /// <summary>Encodes <paramref name="args"/> with the task's generated formatter and enqueues the message.</summary>
    /// <typeparam name="TArgs">The task's generated argument list.</typeparam>
    /// <param name="task">The generated definition of the task.</param>
    /// <param name="args">The arguments.</param>
    /// <param name="options">Per-call options, or <see langword="null"/> for the task's defaults.</param>
    /// <param name="cancellationToken">Cancels the send (the task may still have been stored).</param>
    /// <returns>The task id, once the broker has stored the message.</returns>
    ValueTask<string> SendAsync<TArgs>(TaskDefinition<TArgs> task, TArgs args, TaskOptions? options, CancellationToken cancellationToken);

    /// <summary>Sends many tasks of one kind in as few broker round trips as possible (bulk enqueue).</summary>
    /// <typeparam name="TArgs">The task's generated argument list.</typeparam>
    /// <param name="task">The generated definition of the task.</param>
    /// <param name="argsList">One argument list per task.</param>
    /// <param name="options">Options applied to every task (a fixed <see cref="TaskOptions.TaskId"/> is not allowed), or <see langword="null"/>.</param>
    /// <param name="cancellationToken">Cancels the send (some tasks may still have been stored).</param>
    /// <returns>The task ids, in the order of <paramref name="argsList"/>, once the broker has stored every message.</returns>
    ValueTask<string[]> SendManyAsync<TArgs>(TaskDefinition<TArgs> task, IReadOnlyList<TArgs> argsList, TaskOptions? options, CancellationToken cancellationToken);

    /// <summary>Reads the current result record of a task (<see cref="TaskResult.Pending"/> when unknown).</summary>
    /// <param name="taskId">The task id.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The current record.</returns>
    ValueTask<TaskResult> GetResultAsync(string taskId, CancellationToken cancellationToken);

    /// <summary>Reads the current result record of a task sent to <paramref name="queue"/> (<see cref="TaskResult.Pending"/> when unknown).</summary>
    /// <param name="taskId">The task id.</param>
    /// <param name="queue">The queue the task was sent to: its result is read there with one read; <see langword="null"/> when not known (the broker then looks in every queue in use).</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The current record.</returns>
    ValueTask<TaskResult> GetResultAsync(string taskId, string? queue, CancellationToken cancellationToken);

    /// <summary>Waits until the task is ready (success, failure or revoked) or <paramref name="timeout"/> passes; woken by a notification, not by polling.</summary>
    /// <param name="taskId">The task id.</param>
    /// <param name="timeout">How long to wait.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>The record: ready, or the latest state seen when the timeout passed.</returns>
    ValueTask<TaskResult> WaitAsync(string taskId, TimeSpan timeout, CancellationToken cancellationToken);

    /// <summary>Waits until a task sent to <paramref name="queue"/> is ready or <paramref name="timeout"/> passes; woken by a notification, not by polling.</summary>
    /// <param name="taskId">The task id.</param>
    /// <param name="queue">The queue the task was sent to, or <see langword="null"/> when not known (see <see cref="GetResultAsync(string, string?, CancellationToken)"/>).</param>
    /// <param name="timeout">How long to wait.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>The record: ready, or the latest state seen when the timeout passed.</returns>
    ValueTask<TaskResult> WaitAsync(string taskId, string? queue, TimeSpan timeout, CancellationToken cancellationToken);

    /// <summary>
    /// Revokes a task by id, wherever it is: queued, scheduled (ETA or retry backoff) or running. The broker keeps the
    /// revocation for <paramref name="keepFor"/> (the client's default when <see langword="null"/>), so a worker that is
    /// offline now honours it later: the task ends <see cref="TaskState.Revoked"/> instead of running, and a running
    /// task sees its cancellation token cancelled.
    /// </summary>
    /// <param name="taskId">The task id.</param>
    /// <param name="keepFor">How long the broker remembers the revocation, or <see langword="null"/> for the default.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>A task that completes when the broker has stored the revocation.</returns>
    Task RevokeAsync(string taskId, TimeSpan? keepFor, CancellationToken cancellationToken);
}
