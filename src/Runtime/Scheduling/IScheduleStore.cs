using Celeriac.Brokers;

namespace Celeriac.Scheduling;

/// <summary>One tick to claim: the schedule, the tick's instant, and the message to store if the claim wins.</summary>
/// <param name="Schedule">The schedule's name.</param>
/// <param name="TickMs">The tick's instant (unix ms).</param>
/// <param name="Item">The task message for this tick (its queue is the schedule's).</param>
internal readonly record struct TickClaim(string Schedule, long TickMs, EnqueueItem Item);

/// <summary>What happened to one <see cref="TickClaim"/>.</summary>
internal static class ClaimOutcome
{
    /// <summary>Claimed: the tick is this caller's and its task is stored.</summary>
    public const long Claimed = 0;

    /// <summary>The schedule is paused: the tick is consumed, no task stored.</summary>
    public const long Paused = -1;

    /// <summary>A message with the task id exists: nothing changed (the caller retries the tick with a new id).</summary>
    public const long IdInUse = -2;

    // Any positive value: the schedule's last claimed tick, not older than this one (another scheduler claimed it).
}

/// <summary>
/// A schedule as the broker stores it: its definition (what to send, when) and its state (the last tick claimed, by
/// whom, the task it sent, paused). Static schedules (from <see cref="PeriodicAttribute"/>) are stored by the workers
/// that know them, so that they are listed too; their definition comes from the code.
/// </summary>
internal sealed record ScheduleRecord
{
    public required string Name { get; init; }

    public required string Queue { get; init; }

    public required string TaskName { get; init; }

    public string? Cron { get; init; }

    public long EveryMs { get; init; }

    public string? TimeZone { get; init; }

    public MissedTicks MissedTicks { get; init; }

    public int MaxMissedRuns { get; init; } = PeriodicSchedule.DefaultMaxMissedRuns;

    public int Priority { get; init; }

    /// <summary>The encoded argument list sent with every tick.</summary>
    public ReadOnlyMemory<byte> Args { get; init; }

    /// <summary>Declared in code (<see cref="PeriodicAttribute"/>), not added at run time.</summary>
    public bool IsStatic { get; init; }

    public bool Paused { get; init; }

    /// <summary>The last tick claimed (unix ms), or <see langword="null"/>.</summary>
    public long? LastTickMs { get; init; }

    public string? LastTaskId { get; init; }

    /// <summary>When the last tick was claimed (unix ms, the claimer's clock).</summary>
    public long? LastClaimMs { get; init; }

    /// <summary>The scheduler (worker name) that claimed the last tick.</summary>
    public string? LastClaimedBy { get; init; }
}

/// <summary>
/// The scheduler's role of a broker: claim-and-enqueue per tick, and the stored schedules. Implemented by the Redis
/// and the in-process broker with one contract (tests/Integration/Scheduling/ScheduleStoreContract).
/// </summary>
internal interface IScheduleStore
{
    /// <summary>
    /// Claims ticks of schedules whose tasks go to <paramref name="queue"/>, each atomically on its own: when the tick is
    /// later than the schedule's last claimed tick, the schedule's last tick becomes this one and — unless the schedule is
    /// paused — the tick's message is stored and made runnable, in the same atomic step. Claims of one schedule must be
    /// in ascending tick order. Writes one <see cref="ClaimOutcome"/> per claim into <paramref name="outcomes"/>.
    /// </summary>
    Task ClaimTicksAsync(string queue, IReadOnlyList<TickClaim> claims, string claimer, long[] outcomes, CancellationToken cancellationToken);

    /// <summary>Reads every stored schedule (definition and state).</summary>
    Task<IReadOnlyList<ScheduleRecord>> ListSchedulesAsync(CancellationToken cancellationToken);

    /// <summary>Reads the state (last tick, paused) of the named schedules; a schedule never claimed has no last tick.</summary>
    Task<IReadOnlyList<ScheduleRecord?>> ReadSchedulesAsync(IReadOnlyList<(string Name, string Queue)> schedules, CancellationToken cancellationToken);

    /// <summary>A number that changes whenever a stored schedule is added, changed or removed (schedulers re-read them then).</summary>
    Task<long> GetSchedulesVersionAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Stores a schedule's definition (adding it to the index), keeping its state (last tick, paused). A schedule of the
    /// same name on another queue is replaced. With <paramref name="onlyIfAbsent"/>, an existing definition is kept.
    /// </summary>
    Task UpsertScheduleAsync(ScheduleRecord schedule, bool onlyIfAbsent, CancellationToken cancellationToken);

    /// <summary>Removes a schedule and its state; returns whether it existed.</summary>
    Task<bool> RemoveScheduleAsync(string name, CancellationToken cancellationToken);

    /// <summary>Pauses or resumes a schedule (the claim of a paused schedule's tick stores nothing); returns whether it exists.</summary>
    Task<bool> SetPausedAsync(string name, bool paused, CancellationToken cancellationToken);
}
