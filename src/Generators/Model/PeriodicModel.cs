namespace Celeriac.Generators.Model;

/// <summary>
/// The parsed <c>[Periodic]</c> schedule of a task, as the generated code states it. Immutable, with structural
/// equality; strings and numbers only.
/// </summary>
/// <param name="Cron">The normalized cron expression, or null for an interval.</param>
/// <param name="EveryMs">The interval in milliseconds, or 0 for a cron schedule.</param>
/// <param name="TimeZone">The IANA time zone id, or null for UTC.</param>
/// <param name="MissedTicks">The value of <c>Celeriac.MissedTicks</c>.</param>
/// <param name="MaxMissedRuns">The bound of <c>MissedTicks.RunEach</c>.</param>
internal sealed record PeriodicModel(string? Cron, long EveryMs, string? TimeZone, int MissedTicks, int MaxMissedRuns);
