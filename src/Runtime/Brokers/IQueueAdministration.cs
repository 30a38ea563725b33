namespace Celeriac.Brokers;

/// <summary>
/// Administration: operator actions on a queue's dead letters (delete for good, put back).
/// Implemented by every broker (<c>RedisBroker</c>, <c>InMemoryBroker</c>) as part of <see cref="ITaskBroker"/>; see docs/design/brokers.md.
/// </summary>
internal interface IQueueAdministration
{
    /// <summary>Deletes dead letters of a queue for good: the given ids, or all of them when <paramref name="ids"/> is <see langword="null"/>; returns how many were deleted.</summary>
    Task<long> PurgeDeadLettersAsync(string queue, IReadOnlyList<string>? ids, CancellationToken cancellationToken);

    /// <summary>Puts dead letters back on their queue (by id) as new deliveries; returns how many were requeued.</summary>
    Task<int> RequeueDeadLettersAsync(string queue, IReadOnlyList<string> ids, CancellationToken cancellationToken);

    /// <summary>
    /// Deletes up to <paramref name="max"/> waiting (pending) messages of a queue for good, highest priority first;
    /// returns how many were deleted (0 once the queue is empty). Scheduled, active and dead messages are not touched.
    /// </summary>
    Task<long> PurgeQueueAsync(string queue, int max, CancellationToken cancellationToken);

}
