using Celeriac.Control;

namespace Celeriac.Brokers.InMemory;

/// <summary>
/// The task event stream in process, with the Redis stream's semantics: entries with ids <c>&lt;ms&gt;-&lt;seq&gt;</c>,
/// rising; capped to the newest entries; read after an id; a switch with change notifications.
/// </summary>
internal sealed partial class InMemoryBroker : IEventStream
{
    private readonly object _eventsGate = new();
    private readonly LinkedList<(long Ms, long Seq, TaskEvent Event)> _events = new();
    private readonly List<Action> _switchHandlers = [];
    private long _lastEventMs;
    private long _lastEventSeq;
    private bool? _eventsSwitch;

    /// <inheritdoc />
    public Task AppendEventsAsync(IReadOnlyList<EventRecord> events, int maxLength, CancellationToken cancellationToken)
    {
        lock (_eventsGate)
        {
            foreach (EventRecord record in events)
            {
                long ms = Math.Max(NowMs, _lastEventMs);
                long seq = ms == _lastEventMs ? _lastEventSeq + 1 : 0;
                (_lastEventMs, _lastEventSeq) = (ms, seq);
                string id = ms + "-" + seq;
                TaskEvent e = EventsCodec.FromFields(id, EventsCodec.ToFields(record))!;
                _events.AddLast((ms, seq, e));
            }

            while (maxLength > 0 && _events.Count > maxLength)
            {
                _events.RemoveFirst();
            }
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<TaskEvent>> ReadEventsAsync(string after, int max, CancellationToken cancellationToken)
    {
        (long afterMs, long afterSeq) = ParseEventId(after);
        var read = new List<TaskEvent>();
        lock (_eventsGate)
        {
            foreach ((long ms, long seq, TaskEvent e) in _events)
            {
                if ((ms > afterMs || (ms == afterMs && seq > afterSeq)) && read.Count < max)
                {
                    read.Add(e);
                }
            }
        }

        return Task.FromResult<IReadOnlyList<TaskEvent>>(read);
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<TaskEvent>> ReadLatestEventsAsync(int max, CancellationToken cancellationToken)
    {
        lock (_eventsGate)
        {
            return Task.FromResult<IReadOnlyList<TaskEvent>>([.. _events.Skip(Math.Max(0, _events.Count - max)).Select(static e => e.Event)]);
        }
    }

    /// <inheritdoc />
    public Task<string> LastEventIdAsync(CancellationToken cancellationToken)
    {
        lock (_eventsGate)
        {
            return Task.FromResult(_events.Last is { } last ? last.Value.Event.Id : "0-0");
        }
    }

    /// <inheritdoc />
    public Task<bool?> GetEventsSwitchAsync(CancellationToken cancellationToken)
    {
        lock (_eventsGate)
        {
            return Task.FromResult(_eventsSwitch);
        }
    }

    /// <inheritdoc />
    public Task SetEventsSwitchAsync(bool? on, CancellationToken cancellationToken)
    {
        Action[] handlers;
        lock (_eventsGate)
        {
            _eventsSwitch = on;
            handlers = [.. _switchHandlers];
        }

        foreach (Action handler in handlers)
        {
            handler();
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task SubscribeEventsSwitchAsync(Action onChanged, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(onChanged);
        lock (_eventsGate)
        {
            _switchHandlers.Add(onChanged);
        }

        return Task.CompletedTask;
    }

    /// <summary>An id <c>ms-seq</c> (or <c>ms</c>, as Redis reads it: <c>ms-0</c>); a bad one reads from the start.</summary>
    private static (long Ms, long Seq) ParseEventId(string id)
    {
        int dash = id.IndexOf('-', StringComparison.Ordinal);
        return dash < 0
            ? (long.TryParse(id, System.Globalization.CultureInfo.InvariantCulture, out long whole) ? whole : 0, -1)
            : (long.TryParse(id.AsSpan(0, dash), System.Globalization.CultureInfo.InvariantCulture, out long ms) ? ms : 0,
               long.TryParse(id.AsSpan(dash + 1), System.Globalization.CultureInfo.InvariantCulture, out long seq) ? seq : -1);
    }
}
