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
        // The argument array and the records' buffer are reused from call to call (their sizes follow the batch, so they
        // would otherwise be a per-task cost); they go back for reuse only after a call that completed: a call that
        // failed may still be written by SE.Redis later, and must keep its arguments as they were.
        RedisValue[] args = _completeScratch.RentArgs(4 + (count * 5));
        ArrayBufferWriter<byte> records = _completeScratch.RentBuffer();
        args[0] = Ms(ttl);
        args[1] = qk.TaskPrefix;
        args[2] = Keys.DoneChannelPrefix;
        args[3] = qk.ResultPrefix;

        // Every record of the call goes into one buffer; the arguments are slices of it (no array per record). A slice
        // taken before the buffer grows stays valid: growing copies into a new array and leaves the old one as it was.
        DateTimeOffset now = _time.GetUtcNow();
        int at = 4;
        for (int i = 0; i < items.Count; i++)
        {
            Delivery delivery = items[i].Delivery;
            if (filter && !string.Equals(delivery.Queue, queue, StringComparison.Ordinal))
            {
                continue;
            }

            // The id and token, when they are slices of the fetch reply's pooled buffer (alive only until the consumer
            // returns the delivery, and a failed call may still be in SE.Redis's hands after that), are copied into this
            // call's own buffer, which is not reused before the call completed.
            args[at++] = delivery.IdUtf8.IsEmpty ? delivery.Id : CopyInto(records, delivery.IdUtf8.Span);
            args[at++] = delivery.LeaseTokenUtf8.IsEmpty ? delivery.LeaseToken : CopyInto(records, delivery.LeaseTokenUtf8.Span);
            args[at++] = delivery.ReplyTo ?? string.Empty;
            args[at++] = RedisResultCodec.StateName(items[i].State);
            int start = records.WrittenCount;
            RedisResultCodec.WriteOutcome(records, items[i], now);
            args[at++] = records.WrittenMemory[start..];
        }

        RedisResult reply = await Eval(RedisScripts.CompleteMany, qk.ActiveOnly, args).ConfigureAwait(false);
        _completeScratch.Return(args, records);
        byte[] flags = (byte[]?)reply ?? [];
        if (flags.Length != count)
        {
            ThrowUnexpectedReply(nameof(RedisScripts.CompleteMany), reply);
        }

        int j = 0;
        for (int i = 0; i < items.Count; i++)
        {
            if (!filter || string.Equals(items[i].Delivery.Queue, queue, StringComparison.Ordinal))
            {
                completed[i] = flags[j++] == (byte)'1' ? 1 : 0;
            }
        }
    }

    private async Task StartQueueAsync(IReadOnlyList<StartItem> items, string queue, bool filter, TimeSpan ttl, int[] runs)
    {
        int count = filter ? Count(items, queue) : items.Count;
        QueueKeys qk = KeysOf(queue);
        var args = new RedisValue[3 + (count * 4)];
        args[0] = Ms(ttl);
        args[1] = qk.TaskPrefix;
        args[2] = qk.ResultPrefix;
        // One buffer per call holds the ids and tokens (copies, as CompleteMany's: addressed by their exact bytes, an id
        // that is not UTF-8 included) and any STARTED records.
        var records = new ArrayBufferWriter<byte>(count * 64);
        DateTimeOffset now = _time.GetUtcNow();
        int at = 3;
        for (int i = 0; i < items.Count; i++)
        {
            Delivery delivery = items[i].Delivery;
            if (filter && !string.Equals(delivery.Queue, queue, StringComparison.Ordinal))
            {
                continue;
            }

            args[at++] = delivery.IdUtf8.IsEmpty ? delivery.Id : CopyInto(records, delivery.IdUtf8.Span);
            args[at++] = delivery.LeaseTokenUtf8.IsEmpty ? delivery.LeaseToken : CopyInto(records, delivery.LeaseTokenUtf8.Span);
            if (items[i].State is { } state)
            {
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

        RedisResult reply = await Eval(RedisScripts.StartMany, qk.ActiveOnly, args).ConfigureAwait(false);
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

    /// <summary>
    /// The delivery's id as an argument of a single call (retry, release, dead letter, extend): a copy of the fetch
    /// reply's bytes when it has them. Every fenced call addresses the message by these exact bytes: an id that is not
    /// UTF-8 has a lossy string that names another key. (A copy: a failed call may still be written after the delivery
    /// went back to its pool.)
    /// </summary>
    private static RedisValue IdOf(Delivery delivery) => delivery.IdUtf8.IsEmpty ? (RedisValue)delivery.Id : (RedisValue)delivery.IdUtf8.ToArray();

    /// <summary>The delivery's message hash <c>P:{q}:t:&lt;id&gt;</c>, by the id's exact bytes when the broker gave bytes.</summary>
    private RedisKey TaskKeyOf(Delivery delivery) => delivery.IdUtf8.IsEmpty ? Keys.Task(delivery.Queue, delivery.Id) : Keys.Task(delivery.Queue, delivery.IdUtf8);

    /// <summary>The delivery's result hash <c>P:r:&lt;id&gt;</c>, likewise.</summary>
    private RedisKey ResultKeyOf(Delivery delivery) => delivery.IdUtf8.IsEmpty ? Keys.Result(delivery.Queue, delivery.Id) : Keys.Result(delivery.Queue, delivery.IdUtf8);

    /// <summary>The delivery's completion channel <c>P:done:&lt;id&gt;</c> as a script argument, likewise.</summary>
    private RedisValue DoneChannelOf(Delivery delivery)
    {
        if (delivery.IdUtf8.IsEmpty)
        {
            return Keys.DoneChannelName(delivery.Id);
        }

        string prefix = Keys.DoneChannelPrefix;
        byte[] channel = new byte[System.Text.Encoding.UTF8.GetByteCount(prefix) + delivery.IdUtf8.Length];
        int at = System.Text.Encoding.UTF8.GetBytes(prefix, channel);
        delivery.IdUtf8.Span.CopyTo(channel.AsSpan(at));
        return channel;
    }

    /// <summary>The delivery's lease token as an argument of a single call, likewise.</summary>
    private static RedisValue TokenOf(Delivery delivery) => delivery.LeaseTokenUtf8.IsEmpty ? (RedisValue)delivery.LeaseToken : (RedisValue)delivery.LeaseTokenUtf8.ToArray();

    /// <summary>Copies <paramref name="bytes"/> to the end of <paramref name="buffer"/>; returns the copy as an argument (no string made).</summary>
    private static RedisValue CopyInto(ArrayBufferWriter<byte> buffer, ReadOnlySpan<byte> bytes)
    {
        int start = buffer.WrittenCount;
        buffer.Write(bytes);
        return buffer.WrittenMemory[start..];
    }

    /// <summary>A queue's keys used by the batched scripts, built once per queue (not per call).</summary>
    private sealed class QueueKeys(RedisKeys keys, string queue)
    {
        public string TaskPrefix { get; } = keys.TaskPrefix(queue);

        public string ResultPrefix { get; } = keys.ResultPrefix(queue);

        /// <summary>The KEYS array of CompleteMany and StartMany (<c>P:{q}:active</c>): SE.Redis only reads it, so one array serves every call.</summary>
        public RedisKey[] ActiveOnly { get; } = [keys.Active(queue)];
    }

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, QueueKeys> _queueKeys = new(StringComparer.Ordinal);

    private readonly CallScratch _completeScratch = new();

    /// <summary>
    /// Reusable argument arrays (one per length: SE.Redis sends an array's whole length) and a reusable buffer for a
    /// batched call. Safe under concurrent calls: each rent takes the object out, so two calls never share one.
    /// </summary>
    private sealed class CallScratch
    {
        private const int MaxCachedLength = 4 + (5 * 256) + 1;
        private readonly RedisValue[]?[] _args = new RedisValue[]?[MaxCachedLength];
        private ArrayBufferWriter<byte>? _buffer;

        public RedisValue[] RentArgs(int length)
            => (length < MaxCachedLength ? Interlocked.Exchange(ref _args[length], null) : null) ?? new RedisValue[length];

        public ArrayBufferWriter<byte> RentBuffer()
        {
            ArrayBufferWriter<byte> buffer = Interlocked.Exchange(ref _buffer, null) ?? new ArrayBufferWriter<byte>(16 * 1024);
            buffer.ResetWrittenCount();
            return buffer;
        }

        public void Return(RedisValue[] args, ArrayBufferWriter<byte> buffer)
        {
            if (args.Length < MaxCachedLength)
            {
                Array.Clear(args); // no references kept to the batch's strings and buffers
                Volatile.Write(ref _args[args.Length], args);
            }

            Volatile.Write(ref _buffer, buffer);
        }
    }

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
