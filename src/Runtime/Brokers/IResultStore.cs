namespace Celeriac.Brokers;

/// <summary>
/// The result store: task results and their waiters. Written by the transport's completion (atomically with the acknowledgement), read here by handles.
/// Implemented by every broker (<c>RedisBroker</c>, <c>InMemoryBroker</c>) as part of <see cref="ITaskBroker"/>; see docs/design/brokers.md.
/// </summary>
internal interface IResultStore
{
    /// <summary>
    /// This process's reply channel, which the client writes into each envelope's <c>reply_to</c> so that final results
    /// reach <see cref="WaitResultAsync"/> without a per-call subscription; <see langword="null"/> when the broker has none.
    /// </summary>
    string? ReplyChannel { get; }

    /// <summary>
    /// Reads a task's result record (<see cref="TaskResult.Pending"/> when none). With <paramref name="queue"/> (the queue
    /// the task was sent to) one record is read; with <see langword="null"/> the broker looks in every registered queue.
    /// </summary>
    Task<TaskResult> GetResultAsync(string taskId, string? queue, CancellationToken cancellationToken);

    /// <summary>
    /// Waits until the task's result is final or the timeout passes, woken by a notification (never only by it: it
    /// re-reads on timeout). <paramref name="queue"/> as for <see cref="GetResultAsync"/>.
    /// </summary>
    Task<TaskResult> WaitResultAsync(string taskId, string? queue, TimeSpan timeout, CancellationToken cancellationToken);
}
