namespace Celeriac.Control;

/// <summary>
/// A live worker's entry in the worker registry, as listed by <see cref="WorkerRegistry.ListAsync"/>: who it is, what it
/// consumes, and its counts as of its last heartbeat. Entries are refreshed every <see cref="WorkerOptions.RegistryInterval"/>
/// and expire three intervals after the last refresh, so a worker that died is gone from the list by then.
/// </summary>
public sealed class WorkerInfo
{
    /// <summary>The worker's id (<see cref="WorkerOptions.Name"/>, or <c>{host}:{pid}:{random}</c>): what commands address.</summary>
    public required string Id { get; init; }

    /// <summary>The machine it runs on.</summary>
    public required string Host { get; init; }

    /// <summary>Its process id.</summary>
    public required int ProcessId { get; init; }

    /// <summary>The version of the Celeriac runtime it runs.</summary>
    public required string Version { get; init; }

    /// <summary>The queues it consumes now (changed at run time by <see cref="WorkerController.AddConsumerAsync"/> and <see cref="WorkerController.CancelConsumerAsync"/>).</summary>
    public required IReadOnlyList<string> Queues { get; init; }

    /// <summary>How many tasks it runs at once now (changed at run time by <see cref="WorkerController.GrowAsync"/> and <see cref="WorkerController.ShrinkAsync"/>).</summary>
    public required int Concurrency { get; init; }

    /// <summary>How many tasks it holds at once, running and waiting (<see cref="WorkerOptions.Prefetch"/>, following the concurrency).</summary>
    public required int Prefetch { get; init; }

    /// <summary>When it started.</summary>
    public required DateTimeOffset StartedAt { get; init; }

    /// <summary>When it last refreshed its entry.</summary>
    public required DateTimeOffset LastHeartbeat { get; init; }

    /// <summary>When its entry expires unless it is refreshed: after that the worker is taken for dead and no longer listed.</summary>
    public required DateTimeOffset ExpiresAt { get; init; }

    /// <summary>How many messages it has finished with (run, refused or handed back) since it started.</summary>
    public required long Processed { get; init; }

    /// <summary>How many runs raised an exception (failed, retried or timed out) since it started.</summary>
    public required long Failed { get; init; }

    /// <summary>How many tasks were running at its last heartbeat.</summary>
    public required int Active { get; init; }
}
