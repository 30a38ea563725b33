using Celeriac.Brokers;
using Celeriac.Control;
using StackExchange.Redis;

namespace Celeriac.Redis;

/// <summary>
/// The task event stream over Redis: one stream key <c>P:events</c> (XADD … MAXLEN ~ N, XREAD, XREVRANGE), a switch key
/// <c>P:events:on</c> and the channel <c>P:events:switch</c>. Every command touches one key, so the stream works
/// on Redis Cluster in whichever slot its key falls; no script.
/// </summary>
internal sealed partial class RedisBroker : IEventStream
{
    /// <inheritdoc />
    public async Task AppendEventsAsync(IReadOnlyList<EventRecord> events, int maxLength, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(events);
        RedisKey stream = Keys.Events();
        var writes = new Task[events.Count];
        for (int i = 0; i < writes.Length; i++)
        {
            List<KeyValuePair<string, string>> fields = EventsCodec.ToFields(events[i]);
            var pairs = new NameValueEntry[fields.Count];
            for (int f = 0; f < pairs.Length; f++)
            {
                pairs[f] = new NameValueEntry(fields[f].Key, fields[f].Value);
            }

            // Pipelined: every XADD of the batch is on the wire before the first reply is awaited.
            writes[i] = _db.StreamAddAsync(stream, pairs, null, maxLength, true);
        }

        await Task.WhenAll(writes).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<TaskEvent>> ReadEventsAsync(string after, int max, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return Decode(await _db.StreamReadAsync(Keys.Events(), after, max).ConfigureAwait(false));
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<TaskEvent>> ReadLatestEventsAsync(int max, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        StreamEntry[] newestFirst = await _db.StreamRangeAsync(Keys.Events(), "-", "+", max, Order.Descending).ConfigureAwait(false);
        Array.Reverse(newestFirst);
        return Decode(newestFirst);
    }

    private static List<TaskEvent> Decode(StreamEntry[] entries)
    {
        var events = new List<TaskEvent>(entries.Length);
        foreach (StreamEntry entry in entries)
        {
            if (EventsCodec.FromFields(entry.Id!, entry.Values.Select(static v => new KeyValuePair<string, string>(v.Name!, v.Value!))) is { } e)
            {
                events.Add(e);
            }
        }

        return events;
    }

    /// <inheritdoc />
    public async Task<string> LastEventIdAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        StreamEntry[] last = await _db.StreamRangeAsync(Keys.Events(), "-", "+", 1, Order.Descending).ConfigureAwait(false);
        return last.Length == 0 ? "0-0" : (string)last[0].Id!;
    }

    /// <inheritdoc />
    public async Task<bool?> GetEventsSwitchAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        RedisValue value = await _db.StringGetAsync(Keys.EventsSwitch()).ConfigureAwait(false);
        return value.IsNull ? null : value == "1";
    }

    /// <inheritdoc />
    public async Task SetEventsSwitchAsync(bool? on, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (on is { } value)
        {
            await _db.StringSetAsync(Keys.EventsSwitch(), value ? "1" : "0").ConfigureAwait(false);
        }
        else
        {
            await _db.KeyDeleteAsync(Keys.EventsSwitch()).ConfigureAwait(false);
        }

        await _db.PublishAsync(Keys.EventsSwitchChannel(), on is null ? "unset" : on.Value ? "on" : "off").ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task SubscribeEventsSwitchAsync(Action onChanged, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(onChanged);
        cancellationToken.ThrowIfCancellationRequested();

        // A hint only (pub/sub can miss a message during a reconnect): subscribers re-read the switch on their heartbeat too.
        await _multiplexer.GetSubscriber().SubscribeAsync(Keys.EventsSwitchChannel(), (_, _) => onChanged()).ConfigureAwait(false);
    }
}
