using Celeriac.Control;

namespace Celeriac.Brokers;

/// <summary>
/// The task event stream and its on/off switch (docs/observability.md, "Task events"): a capped, append-only log that a
/// monitor follows and catches up on from the last id it read, and a flag every worker follows. Implemented by the
/// Redis broker (one stream key, its own slot) and the in-process broker, with the same semantics.
/// </summary>
internal interface IEventStream
{
    /// <summary>Appends <paramref name="events"/> in order, keeping about the last <paramref name="maxLength"/> entries.</summary>
    Task AppendEventsAsync(IReadOnlyList<EventRecord> events, int maxLength, CancellationToken cancellationToken);

    /// <summary>Up to <paramref name="max"/> events after the entry <paramref name="after"/> (exclusive; <c>0-0</c>: from the oldest kept), oldest first.</summary>
    Task<IReadOnlyList<TaskEvent>> ReadEventsAsync(string after, int max, CancellationToken cancellationToken);

    /// <summary>The newest <paramref name="max"/> events, oldest first.</summary>
    Task<IReadOnlyList<TaskEvent>> ReadLatestEventsAsync(int max, CancellationToken cancellationToken);

    /// <summary>The id of the newest entry, or <c>0-0</c> when the stream is empty.</summary>
    Task<string> LastEventIdAsync(CancellationToken cancellationToken);

    /// <summary>The run-time switch: <see langword="true"/> on, <see langword="false"/> off, <see langword="null"/> unset (each worker follows <see cref="WorkerOptions.Events"/>).</summary>
    Task<bool?> GetEventsSwitchAsync(CancellationToken cancellationToken);

    /// <summary>Stores the switch (<see langword="null"/> clears it), then tells every subscriber (a hint: they also re-read it on their heartbeat).</summary>
    Task SetEventsSwitchAsync(bool? on, CancellationToken cancellationToken);

    /// <summary>Calls <paramref name="onChanged"/> whenever the switch is set from now on (best effort).</summary>
    Task SubscribeEventsSwitchAsync(Action onChanged, CancellationToken cancellationToken);
}
