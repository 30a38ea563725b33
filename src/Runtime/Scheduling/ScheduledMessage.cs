using Celeriac.Brokers;
using Celeriac.Client;

namespace Celeriac.Scheduling;

/// <summary>The message a schedule sends (made by the one <see cref="EnvelopeFactory"/>): the task with its stored arguments, the schedule headers, and an expiry at the next tick.</summary>
internal static class ScheduledMessage
{
    /// <summary>The encoded empty argument list (a MessagePack array of 0 elements): what a task with no serialized parameters takes.</summary>
    public static readonly byte[] NoArgs = [0x90];

    public static EnqueueItem Build(EnvelopeFactory envelopes, ITaskTransport ids, ScheduleRecord schedule, long tickMs, long? expiresMs, bool manual = false)
    {
        var headers = new Dictionary<string, string>(manual ? 3 : 2, StringComparer.Ordinal)
        {
            [ScheduleHeaders.Schedule] = schedule.Name,
            [ScheduleHeaders.Tick] = ScheduleHeaders.FormatTick(tickMs),
        };
        if (manual)
        {
            headers[ScheduleHeaders.Trigger] = "manual";
        }

        return envelopes.Scheduled(schedule.TaskName, schedule.Queue, schedule.Priority, schedule.Args.IsEmpty ? NoArgs : schedule.Args, headers, expiresMs is long.MaxValue ? null : expiresMs, ids);
    }
}
