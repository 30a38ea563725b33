using System.Buffers;
using Celeriac.Brokers;
using StackExchange.Redis;

namespace Celeriac.Redis;

internal sealed partial class RedisBroker
{
    /// <inheritdoc />
    public Task CompleteManyAsync(IReadOnlyList<CompleteItem> items, TimeSpan ttl, int[] completed, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(completed);
        cancellationToken.ThrowIfCancellationRequested();
        return ForEachQueueAsync(items, static item => item.Delivery.Queue, (queue, filter) => CompleteQueueAsync(items, queue, filter, ttl, completed));
    }

    /// <inheritdoc />
    public Task MarkStartedManyAsync(IReadOnlyList<StartItem> items, TimeSpan ttl, int[] runs, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(runs);
        cancellationToken.ThrowIfCancellationRequested();
        return ForEachQueueAsync(items, static item => item.Delivery.Queue, (queue, filter) => StartQueueAsync(items, queue, filter, ttl, runs));
    }

    /// <summary>One script call per queue (a queue's keys share a hash slot): usually one queue, so one call.</summary>
    private static Task ForEachQueueAsync<T>(IReadOnlyList<T> items, Func<T, string> queueOf, Func<string, bool, Task> send)
    {
        if (items.Count == 0)
        {
            return Task.CompletedTask;
        }

        string first = queueOf(items[0]);
        bool mixed = false;
        for (int i = 1; i < items.Count && !mixed; i++)
        {
            mixed = !string.Equals(queueOf(items[i]), first, StringComparison.Ordinal);
        }

        if (!mixed)
        {
            return send(first, false);
        }

        var queues = new HashSet<string>(StringComparer.Ordinal);
        var calls = new List<Task>();
        for (int i = 0; i < items.Count; i++)
        {
            string queue = queueOf(items[i]);
            if (queues.Add(queue))
            {
                calls.Add(send(queue, true));
            }
        }

        return Task.WhenAll(calls);
    }

    private async Task CompleteQueueAsync(IReadOnlyList<CompleteItem> items, string queue, bool filter, TimeSpan ttl, int[] completed)
    {
        int count = filter ? Count(items, queue) : items.Count;
        QueueKeys qk = KeysOf(queue);
        var args = new RedisValue[4 + (count * 5)];
        args[0] = Ms(ttl);
        args[1] = qk.TaskPrefix;
        args[2] = Keys.DoneChannelPrefix;
        args[3] = Keys.ResultPrefix;

        // Every record of the call goes into one buffer; the arguments are slices of it (no array per record).
        var records = new ArrayBufferWriter<byte>(count * 160);
        DateTimeOffset now = _time.GetUtcNow();
        int at = 4;
        for (int i = 0; i < items.Count; i++)
        {
            Delivery delivery = items[i].Delivery;
            if (filter && !string.Equals(delivery.Queue, queue, StringComparison.Ordinal))
            {
                continue;
            }

            TaskResult result = items[i].Result;
            args[at++] = delivery.Id;
            args[at++] = delivery.LeaseToken;
            args[at++] = delivery.ReplyTo ?? string.Empty;
            args[at++] = RedisResultCodec.StateName(result.State);
            int start = records.WrittenCount;
            RedisResultCodec.Write(records, delivery.Id, result, now);
            args[at++] = records.WrittenMemory[start..];
        }

        RedisResult reply = await _db.ScriptEvaluateAsync(RedisScripts.CompleteMany, qk.ActiveOnly, args).ConfigureAwait(false);
        var flags = (RedisResult[])reply!;
        int j = 0;
        for (int i = 0; i < items.Count; i++)
        {
            if (!filter || string.Equals(items[i].Delivery.Queue, queue, StringComparison.Ordinal))
            {
                completed[i] = (int)flags[j++];
            }
        }
    }

    private async Task StartQueueAsync(IReadOnlyList<StartItem> items, string queue, bool filter, TimeSpan ttl, int[] runs)
    {
        int count = filter ? Count(items, queue) : items.Count;
        var args = new RedisValue[3 + (count * 4)];
        args[0] = Ms(ttl);
        args[1] = KeysOf(queue).TaskPrefix;
        args[2] = Keys.ResultPrefix;
        ArrayBufferWriter<byte>? records = null;
        DateTimeOffset now = _time.GetUtcNow();
        int at = 3;
        for (int i = 0; i < items.Count; i++)
        {
            Delivery delivery = items[i].Delivery;
            if (filter && !string.Equals(delivery.Queue, queue, StringComparison.Ordinal))
            {
                continue;
            }

            args[at++] = delivery.Id;
            args[at++] = delivery.LeaseToken;
            if (items[i].State is { } state)
            {
                records ??= new ArrayBufferWriter<byte>(count * 128);
                args[at++] = RedisResultCodec.StateName(state.State);
                int start = records.WrittenCount;
                RedisResultCodec.Write(records, delivery.Id, state, now);
                args[at++] = records.WrittenMemory[start..];
            }
            else
            {
                args[at++] = RedisValue.EmptyString;
                args[at++] = RedisValue.EmptyString;
            }
        }

        RedisResult reply = await _db.ScriptEvaluateAsync(RedisScripts.StartMany, [], args).ConfigureAwait(false);
        var counts = (RedisResult[])reply!;
        int j = 0;
        for (int i = 0; i < items.Count; i++)
        {
            if (!filter || string.Equals(items[i].Delivery.Queue, queue, StringComparison.Ordinal))
            {
                runs[i] = (int)counts[j++];
            }
        }
    }

    /// <summary>A queue's keys used by the batched scripts, built once per queue (not per call).</summary>
    private sealed class QueueKeys(RedisKeys keys, string queue)
    {
        public string TaskPrefix { get; } = keys.TaskPrefix(queue);

        /// <summary>The KEYS array of CompleteMany (<c>P:{q}:active</c>): SE.Redis only reads it, so one array serves every call.</summary>
        public RedisKey[] ActiveOnly { get; } = [keys.Active(queue)];
    }

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, QueueKeys> _queueKeys = new(StringComparer.Ordinal);

    private QueueKeys KeysOf(string queue)
        => _queueKeys.TryGetValue(queue, out QueueKeys? cached) ? cached : _queueKeys.GetOrAdd(queue, static (q, keys) => new QueueKeys(keys, q), Keys);

    private static int Count(IReadOnlyList<CompleteItem> items, string queue)
    {
        int n = 0;
        for (int i = 0; i < items.Count; i++)
        {
            n += string.Equals(items[i].Delivery.Queue, queue, StringComparison.Ordinal) ? 1 : 0;
        }

        return n;
    }

    private static int Count(IReadOnlyList<StartItem> items, string queue)
    {
        int n = 0;
        for (int i = 0; i < items.Count; i++)
        {
            n += string.Equals(items[i].Delivery.Queue, queue, StringComparison.Ordinal) ? 1 : 0;
        }

        return n;
    }
}
