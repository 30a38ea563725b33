namespace Celeriac.Inspection;

/// <summary>Where a task's message is held by the broker.</summary>
public enum TaskPlace
{
    /// <summary>Runnable now, waiting for a worker.</summary>
    Pending = 0,

    /// <summary>Waiting for its time (an ETA or countdown, or a retry's backoff).</summary>
    Scheduled = 1,

    /// <summary>Leased to a worker: running, or prefetched by it.</summary>
    Active = 2,

    /// <summary>Set aside as a dead letter.</summary>
    Dead = 3,
}

/// <summary>A task's message found in the broker: which queue holds it, in which place, and what its envelope says.</summary>
/// <param name="Id">The task id.</param>
/// <param name="Queue">The queue that holds the message.</param>
/// <param name="Place">Where in the queue it is.</param>
/// <param name="Since">For <see cref="TaskPlace.Scheduled"/> when it becomes due; for <see cref="TaskPlace.Active"/> when its lease ends; for <see cref="TaskPlace.Dead"/> when it was set aside; <see langword="null"/> for <see cref="TaskPlace.Pending"/>.</param>
/// <param name="Deliveries">How many times the broker has handed the message to a worker.</param>
/// <param name="TaskName">The task's wire name, read from the envelope; <see langword="null"/> when the envelope cannot be decoded.</param>
public sealed record TaskLocation(string Id, string Queue, TaskPlace Place, DateTimeOffset? Since, int Deliveries, string? TaskName);
