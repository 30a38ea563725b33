namespace Celeriac.Brokers;

/// <summary>
/// The control channel: what is said to running workers rather than carried in a message. Today revocation (recorded, announced, re-checked); inspect, events and remote control join it.
/// Implemented by every broker (<c>RedisBroker</c>, <c>InMemoryBroker</c>) as part of <see cref="ITaskBroker"/>; see docs/design/brokers.md.
/// </summary>
internal interface IControlChannel
{
    /// <summary>
    /// Records that <paramref name="taskId"/> is revoked until <paramref name="keepFor"/> has passed (held in the broker, so
    /// a worker that is offline now honours it later) and tells running workers at once (a hint; they also re-check).
    /// </summary>
    Task RevokeAsync(string taskId, TimeSpan keepFor, CancellationToken cancellationToken);

    /// <summary>Calls <paramref name="onRevoked"/> with the id of each task revoked from now on (a best-effort hint, e.g. pub/sub).</summary>
    Task SubscribeRevocationsAsync(Action<string> onRevoked, CancellationToken cancellationToken);

    /// <summary>The ids of the <paramref name="deliveries"/> that are revoked (the worker's re-check for running tasks; each is looked up in its own queue's revocations).</summary>
    Task<IReadOnlyList<string>> FindRevokedAsync(IReadOnlyList<Delivery> deliveries, CancellationToken cancellationToken);
}
