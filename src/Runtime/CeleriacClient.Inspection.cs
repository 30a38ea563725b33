using Celeriac.Brokers;
using Celeriac.Inspection;

namespace Celeriac;

/// <summary>The read side an operator's tool needs (the <c>celeriac</c> CLI, a dashboard): queues, their counts, where a task is, and purging a queue.</summary>
public sealed partial class CeleriacClient
{
    /// <summary>The most messages <see cref="PurgeQueueAsync"/> deletes in one broker call (one progress step).</summary>
    public const int PurgeBatchSize = 1000;

    /// <summary>
    /// The queues in use: every queue a worker has listened on or a client has sent to (the broker's registry,
    /// <c>P:queues</c> on Redis), sorted ordinally. A queue stays listed after it empties.
    /// </summary>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The queue names.</returns>
    public async Task<IReadOnlyList<string>> GetQueuesAsync(CancellationToken cancellationToken = default)
    {
        ITaskBroker broker = await _brokers.GetAsync(cancellationToken).ConfigureAwait(false);
        return await broker.GetQueuesAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>How many messages <paramref name="queue"/> holds pending, scheduled, active (leased) and dead.</summary>
    /// <param name="queue">The queue.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The four counts.</returns>
    public async Task<QueueCounts> GetQueueCountsAsync(string queue, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(queue);
        ITaskBroker broker = await _brokers.GetAsync(cancellationToken).ConfigureAwait(false);
        return await broker.GetQueueCountsAsync(queue, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads one dead letter of <paramref name="queue"/> by task id.</summary>
    /// <param name="queue">The queue.</param>
    /// <param name="taskId">The task's id.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The dead letter, or <see langword="null"/> when that id is not a dead letter of the queue.</returns>
    public async Task<DeadLetter?> GetDeadLetterAsync(string queue, string taskId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(queue);
        ArgumentException.ThrowIfNullOrEmpty(taskId);
        ITaskBroker broker = await _brokers.GetAsync(cancellationToken).ConfigureAwait(false);
        return await broker.GetDeadLetterAsync(queue, taskId, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Finds where the message of task <paramref name="taskId"/> is held: which queue, and whether it is pending,
    /// scheduled, active or dead. A task that has finished (or was never sent, or was purged) has no message:
    /// <see langword="null"/>; read its outcome with <see cref="GetResultAsync(string, CancellationToken)"/>.
    /// </summary>
    /// <param name="taskId">The task's id.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>Where the message is, or <see langword="null"/> when no queue of the registry holds it.</returns>
    public async Task<TaskLocation?> FindTaskAsync(string taskId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(taskId);
        ITaskBroker broker = await _brokers.GetAsync(cancellationToken).ConfigureAwait(false);
        return await broker.FindTaskAsync(taskId, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Deletes every waiting (pending) message of <paramref name="queue"/> for good, as Celery's <c>purge</c> does:
    /// scheduled messages (ETA, retry backoff), running ones and dead letters stay, and so do stored results (a client
    /// waiting on a purged task is never answered). Deletes in batches of <see cref="PurgeBatchSize"/>, each one atomic;
    /// messages sent meanwhile may be deleted too.
    /// </summary>
    /// <param name="queue">The queue.</param>
    /// <param name="progress">Told the running total after each batch, or <see langword="null"/>.</param>
    /// <param name="cancellationToken">Cancels between batches (what was deleted stays deleted).</param>
    /// <returns>How many messages were deleted.</returns>
    public async Task<long> PurgeQueueAsync(string queue, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(queue);
        ITaskBroker broker = await _brokers.GetAsync(cancellationToken).ConfigureAwait(false);
        long total = 0;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            long purged = await broker.PurgeQueueAsync(queue, PurgeBatchSize, cancellationToken).ConfigureAwait(false);
            if (purged == 0)
            {
                return total;
            }

            total += purged;
            progress?.Report(total);
        }
    }
}
