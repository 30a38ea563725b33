using Celeriac.Brokers;
using StackExchange.Redis;

namespace Celeriac.Redis;

internal sealed partial class RedisBroker
{
    /// <inheritdoc />
    public async Task EnqueueAsync(IReadOnlyList<EnqueueItem> items, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(items);
        cancellationToken.ThrowIfCancellationRequested();
        if (items.Count == 0)
        {
            return;
        }

        var calls = new List<(Task<RedisResult> Call, int First)>();
        try
        {
            // A queue this process has not sent to yet joins the registry first (once per queue per process).
            string? checkedQueue = null;
            for (int i = 0; i < items.Count; i++)
            {
                if (!ReferenceEquals(items[i].Queue, checkedQueue))
                {
                    checkedQueue = items[i].Queue;
                    await RegisterQueueAsync(checkedQueue).ConfigureAwait(false);
                }
            }

            // One script call per run of up to MaxEnqueueBatch consecutive messages of one queue, all calls issued before
            // any is awaited: a bulk send is a few round trips, not one per message.
            RedisValue now = NowMs;
            int startIndex = 0;
            while (startIndex < items.Count)
            {
                string queue = items[startIndex].Queue;
                int end = startIndex + 1;
                while (end < items.Count && end - startIndex < MaxEnqueueBatch && items[end].Queue == queue)
                {
                    end++;
                }

                var args = new RedisValue[2 + ((end - startIndex) * 4)];
                args[0] = Keys.TaskPrefix(queue);
                args[1] = now;
                for (int i = startIndex, a = 2; i < end; i++, a += 4)
                {
                    EnqueueItem item = items[i];
                    args[a] = item.Id;
                    args[a + 1] = item.Envelope;
                    args[a + 2] = item.DueAtMs;
                    args[a + 3] = Math.Clamp(item.Priority, 0, 9);
                }

                calls.Add((Eval(RedisScripts.Enqueue, [Keys.Pending(queue), Keys.Scheduled(queue), Keys.Notify(queue)], args), startIndex));
                startIndex = end;
            }

            // Any failure propagates (Task.WhenAll observes every call): never report a task Redis did not take as stored.
            await Task.WhenAll(calls.Select(c => c.Call)).ConfigureAwait(false);
        }
        catch (Exception ex) when (RedisErrors.IsUnavailable(ex))
        {
            throw RedisErrors.Unconfirmed(items, ex); // the registration or a send: unconfirmed, whichever failed
        }

        foreach ((Task<RedisResult> call, int first) in calls)
        {
            var reply = (RedisResult[])call.Result!;
            if (reply.Length > 1)
            {
                EnqueueItem refused = items[first + (int)reply[1] - 1];
                ThrowIdInUse(refused.Id, refused.Queue);
            }
        }
    }

    /// <summary>The latest instant <see cref="DateTimeOffset"/> holds, in unix ms (a corrupt score is clamped to it).</summary>
    private const long MaxUnixMs = 253_402_300_799_999;

    /// <summary>The most messages stored by one enqueue script call.</summary>
    internal const int MaxEnqueueBatch = 500;

    /// <inheritdoc />
    public Task<long> GetQueueLengthAsync(string queue, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return CountAsync(queue);

        async Task<long> CountAsync(string name)
            => (long)await Eval(RedisScripts.QueueLength, [Keys.Pending(name)]).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<DeadLetter>> GetDeadLettersAsync(string queue, int max, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (max <= 0)
        {
            return [];
        }

        SortedSetEntry[] entries = await _db.SortedSetRangeByRankWithScoresAsync(Keys.Dead(queue), 0, max - 1).ConfigureAwait(false);
        var reads = new Task<RedisValue[]>[entries.Length];
        RedisValue[] fields = ["msg", "reason"];
        for (int i = 0; i < entries.Length; i++)
        {
            // By the id's exact bytes: an id that is not UTF-8 reads its own hash, not the one its lossy decoding names.
            reads[i] = _db.HashGetAsync(Keys.Task(queue, (byte[])entries[i].Element!), fields);
        }

        var letters = new List<DeadLetter>(entries.Length);
        for (int i = 0; i < entries.Length; i++)
        {
            DateTimeOffset at = DateTimeOffset.FromUnixTimeMilliseconds(Math.Clamp((long)entries[i].Score, 0, MaxUnixMs));
            RedisValue[] values;
            try
            {
                values = await reads[i].ConfigureAwait(false);
            }
            catch (RedisServerException ex) when (ex.Message.StartsWith("WRONGTYPE", StringComparison.Ordinal))
            {
                // Set aside by the fetch because its key is not a hash: listed, with nothing to show.
                letters.Add(new DeadLetter(entries[i].Element!, queue, DeadLetterReasons.Corrupt + ": the message key is not a hash", at, ReadOnlyMemory<byte>.Empty));
                continue;
            }

            if (values[0].IsNull && values[1].IsNull)
            {
                continue; // the message hash is gone: nothing left to show or requeue
            }

            letters.Add(DeadLetter.Read(
                entries[i].Element!,
                queue,
                values[1].IsNull ? "unknown" : (string)values[1]!,
                at,
                values[0].IsNull ? ReadOnlyMemory<byte>.Empty : (byte[])values[0]!));
        }

        return letters;
    }

    /// <inheritdoc />
    public async Task<long> PurgeDeadLettersAsync(string queue, IReadOnlyList<string>? ids, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        RedisKey[] keys = [Keys.Dead(queue)];
        if (ids is not null)
        {
            if (ids.Count == 0)
            {
                return 0;
            }

            RedisValue[] args = [Keys.TaskPrefix(queue), .. ids.Select(id => (RedisValue)id)];
            return (long)await Eval(RedisScripts.PurgeDead, keys, args).ConfigureAwait(false);
        }

        long total = 0;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            long purged = (long)await Eval(RedisScripts.PurgeDead, keys, [Keys.TaskPrefix(queue)]).ConfigureAwait(false);
            total += purged;
            if (purged == 0)
            {
                return total;
            }
        }
    }

    /// <inheritdoc />
    public async Task<int> RequeueDeadLettersAsync(string queue, IReadOnlyList<string> ids, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(ids);
        cancellationToken.ThrowIfCancellationRequested();
        int requeued = 0;
        IReadOnlyList<string> pending = ids;
        for (int attempt = 0; pending.Count > 0; attempt++)
        {
            // The envelopes are read first so that each requeue resets the retry count of exactly the bytes it read: the
            // script refuses (-1) when the stored envelope changed in between, and that id is read again.
            var reads = new Task<RedisValue>[pending.Count];
            for (int i = 0; i < pending.Count; i++)
            {
                reads[i] = _db.HashGetAsync(Keys.Task(queue, pending[i]), "msg");
            }

            var calls = new Task<RedisResult>[pending.Count];
            for (int i = 0; i < pending.Count; i++)
            {
                string id = pending[i];
                RedisValue stored = await reads[i].ConfigureAwait(false);
                byte[]? reset = stored.IsNull ? null : Protocol.EnvelopeFormats.For((byte[])stored!).ResetRetries((byte[])stored!);
                calls[i] = Eval(
                    RedisScripts.Requeue,
                    [Keys.Dead(queue), Keys.Task(queue, id), Keys.Pending(queue), Keys.Notify(queue), Keys.Result(queue, id)],
                    reset is null ? [id] : [id, reset, stored]);
            }

            var changed = new List<string>();
            for (int i = 0; i < calls.Length; i++)
            {
                int reply = (int)await calls[i].ConfigureAwait(false);
                if (reply < 0)
                {
                    changed.Add(pending[i]);
                }
                else
                {
                    requeued += reply;
                }
            }

            if (changed.Count > 0 && attempt >= 2)
            {
                throw new InvalidOperationException($"The dead letters {string.Join(", ", changed)} of queue '{queue}' changed while being requeued; try again.");
            }

            pending = changed;
        }

        return requeued;
    }
}
