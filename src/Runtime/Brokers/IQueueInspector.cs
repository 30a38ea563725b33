namespace Celeriac.Brokers;

/// <summary>
/// The read-only inspector: what a CLI or dashboard shows, read without changing anything.
/// Implemented by every broker (<c>RedisBroker</c>, <c>InMemoryBroker</c>) as part of <see cref="ITaskBroker"/>; see docs/design/brokers.md.
/// </summary>
internal interface IQueueInspector
{
    /// <summary>How many messages are waiting (runnable, not scheduled, not leased) in a queue.</summary>
    Task<long> GetQueueLengthAsync(string queue, CancellationToken cancellationToken);

    /// <summary>Lists a queue's dead letters, oldest first.</summary>
    Task<IReadOnlyList<DeadLetter>> GetDeadLettersAsync(string queue, int max, CancellationToken cancellationToken);

    /// <summary>Reads one dead letter of a queue by task id; <see langword="null"/> when the id is not a dead letter there.</summary>
    Task<DeadLetter?> GetDeadLetterAsync(string queue, string taskId, CancellationToken cancellationToken);

    /// <summary>The queues in use (the registry workers and clients add theirs to), sorted ordinally.</summary>
    Task<IReadOnlyList<string>> GetQueuesAsync(CancellationToken cancellationToken);

    /// <summary>How many messages a queue holds pending, scheduled, active and dead.</summary>
    Task<Inspection.QueueCounts> GetQueueCountsAsync(string queue, CancellationToken cancellationToken);

    /// <summary>Finds the message of task <paramref name="taskId"/> in any queue of the registry; <see langword="null"/> when no queue holds it.</summary>
    Task<Inspection.TaskLocation?> FindTaskAsync(string taskId, CancellationToken cancellationToken);
}
