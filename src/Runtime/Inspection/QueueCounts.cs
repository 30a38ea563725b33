namespace Celeriac.Inspection;

/// <summary>How many messages a queue holds in each of its places, read at one moment (each count on its own; not a snapshot across them).</summary>
/// <param name="Queue">The queue.</param>
/// <param name="Pending">Runnable now and waiting for a worker (every priority level).</param>
/// <param name="Scheduled">Waiting for their time: an ETA or countdown, or a retry's backoff.</param>
/// <param name="Active">Leased to a worker: running, or prefetched by it.</param>
/// <param name="Dead">Set aside as dead letters (see <see cref="Brokers.DeadLetter"/>).</param>
public sealed record QueueCounts(string Queue, long Pending, long Scheduled, long Active, long Dead);
