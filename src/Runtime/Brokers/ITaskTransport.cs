namespace Celeriac.Brokers;

/// <summary>
/// The transport: stores messages and hands them out under leases; every operation of the hot path is batched (one broker call per queue). The worker's fetch loop, consumer loop and outcome writer use it, and the client's send.
/// Implemented by every broker (<c>RedisBroker</c>, <c>InMemoryBroker</c>) as part of <see cref="ITaskBroker"/>; see docs/design/brokers.md.
/// </summary>
internal interface ITaskTransport
{
    /// <summary>A short name for logs ("redis" or "in-memory").</summary>
    string Name { get; }

    /// <summary>A new unique task id. Ids made here let <see cref="IResultStore.WaitResultAsync"/> know the task was sent by this process (with <see cref="IResultStore.ReplyChannel"/>).</summary>
    string NewTaskId();

    /// <summary>
    /// Stores messages; returns when the broker has them. Throws when an id is in use, and
    /// <see cref="BrokerUnavailableException"/> (never a client library's own exception) when the broker could not confirm
    /// the write (unreachable, restarting, failing over).
    /// </summary>
    Task EnqueueAsync(IReadOnlyList<EnqueueItem> items, CancellationToken cancellationToken);

    /// <summary>
    /// Records <paramref name="queues"/> in the broker's queue registry (a worker at start; a client's first send to a
    /// queue does it by itself): results read by id only and revocations are looked up over the registered queues.
    /// </summary>
    Task RegisterQueuesAsync(IReadOnlyList<string> queues, CancellationToken cancellationToken);

    /// <summary>
    /// Leases up to <see cref="FetchRequest.MaxCount"/> runnable messages, taking queues in the order given. Promotes due
    /// scheduled messages and reclaims expired leases on the way. When nothing is runnable, blocks (in the broker, not
    /// by polling) up to <see cref="FetchRequest.MaxWait"/> or until the next scheduled message is due, and returns 0
    /// if still nothing came.
    /// </summary>
    Task<int> FetchAsync(FetchRequest request, List<Delivery> into, CancellationToken cancellationToken);

    /// <summary>Extends the leases of running messages (heartbeat). Returns how many were still held.</summary>
    Task<int> ExtendLeasesAsync(IReadOnlyList<Delivery> deliveries, TimeSpan lease, CancellationToken cancellationToken);

    /// <summary>
    /// Issues the same lease extensions as <see cref="ExtendLeasesAsync"/> and returns the broker's own pending operations,
    /// with no continuation attached: the worker's heartbeat thread waits on them synchronously, so renewing leases never
    /// needs a thread-pool thread (handlers doing synchronous CPU work may hold every one of them).
    /// </summary>
    IReadOnlyList<Task> StartExtendLeases(IReadOnlyList<Delivery> deliveries, TimeSpan lease);

    /// <summary>
    /// Counts the start of a run of each leased message (the redelivery cap counts runs started without an outcome, so
    /// that messages merely prefetched by a worker that died are not blamed) and, when the item has a state, records it
    /// (STARTED) unless the result is final; in as few broker calls as the broker allows (one per queue for Redis), each
    /// item fenced on its own. Writes the runs started so far (this one included) into <paramref name="runs"/>[i] for
    /// <paramref name="items"/>[i], or 0 when that lease was lost (nothing changed for it; the worker must not run it).
    /// </summary>
    Task MarkStartedManyAsync(IReadOnlyList<StartItem> items, TimeSpan ttl, int[] runs, CancellationToken cancellationToken);

    /// <summary>
    /// Atomically for each item whose lease is still held: stores the final result (with its TTL), acknowledges the
    /// message and notifies waiters; in as few broker calls as the broker allows (one per queue for Redis). Each item is
    /// fenced on its own: a lease lost to another delivery changes nothing for that id.
    /// Writes 1 (completed) or 0 (lease lost) into <paramref name="completed"/>[i] for <paramref name="items"/>[i].
    /// Throws when the broker is unreachable; then some items may have been completed and others not (repeating is safe: fenced).
    /// </summary>
    Task CompleteManyAsync(IReadOnlyList<CompleteItem> items, TimeSpan ttl, int[] completed, CancellationToken cancellationToken);

    /// <summary>
    /// Hands leased messages back to the front of their queue at once (graceful shutdown). Fenced like completion. A
    /// delivery whose run was started (<see cref="Delivery.RunStarted"/>) has that run uncounted: it was interrupted,
    /// not crashed, so it must not count towards the redelivery cap nor make the message a suspect.
    /// </summary>
    Task ReleaseAsync(IReadOnlyList<Delivery> deliveries, CancellationToken cancellationToken);

    /// <summary>
    /// Moves a leased message to its queue's dead-letter set with <paramref name="reason"/>, and, when <paramref name="result"/>
    /// is given, stores it as the task's final result and notifies waiters. Fenced like completion.
    /// </summary>
    Task<bool> DeadLetterAsync(Delivery delivery, string reason, TaskResult? result, TimeSpan ttl, CancellationToken cancellationToken);

    /// <summary>
    /// Atomically, if the lease is still held: replaces the message's envelope with <paramref name="envelope"/> (the
    /// retry's, with its retry count raised), resets its delivery count, moves it from the leased set to the scheduled
    /// set due at <paramref name="dueAtMs"/>, and records <paramref name="state"/> (RETRY with the error). Fenced like completion.
    /// </summary>
    Task<bool> RetryAsync(Delivery delivery, ReadOnlyMemory<byte> envelope, long dueAtMs, TaskResult state, TimeSpan ttl, CancellationToken cancellationToken);
}
