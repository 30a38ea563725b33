namespace Celeriac.TestTasks;

/// <summary>
/// A generated periodic schedule, run end to end by tests/Integration/Scheduling/PeriodicEndToEndUnitTests on a fake
/// clock. Its cron fires only on leap days (next: 2028-02-29 04:00 Asia/Kolkata), so the other tests' workers, which
/// run the scheduler over the same catalog on the real clock, never send it.
/// </summary>
public sealed partial class PeriodicJobs(ILedger ledger)
{
    /// <summary>The ledger run the leap-day task records its tick instants under.</summary>
    public const string LeapDayRun = "periodic:leap-day";

    [Task(Name = "test.leap-day"), Periodic("0 0 4 29 2 *", TimeZone = "Asia/Kolkata")]
    public Task LeapDay(TaskContext context)
        => ledger.RecordAsync(LeapDayRun, context.Headers[ScheduleHeaders.Schedule] + "@" + context.Headers[ScheduleHeaders.Tick]);
}
