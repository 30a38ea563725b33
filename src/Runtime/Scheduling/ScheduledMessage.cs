using Celeriac.Brokers;
using Celeriac.Protocol;

namespace Celeriac.Scheduling;

/// <summary>Builds the message a schedule sends: the task with its stored arguments, the schedule headers, and an expiry at the next tick.</summary>
internal static class ScheduledMessage
{
    /// <summary>The encoded empty argument list (a MessagePack array of 0 elements): what a task with no serialized parameters takes.</summary>
    public static readonly byte[] NoArgs = [0x90];

    public static EnqueueItem Build(ITaskBroker broker, ScheduleRecord schedule, long tickMs, long? expiresMs, long nowMs, bool manual = false)
    {
        string id = broker.NewTaskId();
        var headers = new Dictionary<string, string>(manual ? 3 : 2, StringComparer.Ordinal)
        {
            [ScheduleHeaders.Schedule] = schedule.Name,
            [ScheduleHeaders.Tick] = ScheduleHeaders.FormatTick(tickMs),
        };
        if (manual)
        {
            headers[ScheduleHeaders.Trigger] = "manual";
        }

        var envelope = new Envelope
        {
            Id = id,
            Task = schedule.TaskName,
            Args = schedule.Args.IsEmpty ? NoArgs : schedule.Args,
            Queue = schedule.Queue,
            ExpiresMs = expiresMs is long.MaxValue ? null : expiresMs,
            Headers = headers,
            Priority = Math.Clamp(schedule.Priority, 0, 9),
            CreatedMs = nowMs,
        };
        envelope.SetRootIsId();
        return new EnqueueItem(id, schedule.Queue, EnvelopeCodec.Encode(envelope), 0, envelope.Priority);
    }
}
