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

        // Pipelined: every call is issued before any is awaited (one round trip for the batch, not one per item).
        RedisValue now = NowMs;
        var calls = new Task<RedisResult>[items.Count];
        for (int i = 0; i < items.Count; i++)
        {
            EnqueueItem item = items[i];
            calls[i] = _db.ScriptEvaluateAsync(
                RedisScripts.Enqueue,
                [Keys.Task(item.Queue, item.Id), Keys.Pending(item.Queue), Keys.Scheduled(item.Queue), Keys.Notify(item.Queue)],
                [item.Id, item.Envelope, item.DueAtMs, now]);
        }

        // Any failure propagates (Task.WhenAll observes every call): never report a task Redis did not take as stored.
        await Task.WhenAll(calls).ConfigureAwait(false);

        for (int i = 0; i < calls.Length; i++)
        {
            if ((int)calls[i].Result != 1)
            {
                ThrowIdInUse(items[i].Id, items[i].Queue);
            }
        }
    }

    /// <inheritdoc />
    public Task<long> GetQueueLengthAsync(string queue, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return _db.ListLengthAsync(Keys.Pending(queue));
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
            reads[i] = _db.HashGetAsync(Keys.Task(queue, entries[i].Element!), fields);
        }

        var letters = new List<DeadLetter>(entries.Length);
        for (int i = 0; i < entries.Length; i++)
        {
            RedisValue[] values = await reads[i].ConfigureAwait(false);
            if (values[0].IsNull)
            {
                continue; // the message hash is gone: nothing left to show or requeue
            }

            letters.Add(new DeadLetter(
                entries[i].Element!,
                queue,
                values[1].IsNull ? "unknown" : (string)values[1]!,
                DateTimeOffset.FromUnixTimeMilliseconds((long)entries[i].Score),
                (byte[])values[0]!));
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
            return (long)await _db.ScriptEvaluateAsync(RedisScripts.PurgeDead, keys, args).ConfigureAwait(false);
        }

        long total = 0;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            long purged = (long)await _db.ScriptEvaluateAsync(RedisScripts.PurgeDead, keys, [Keys.TaskPrefix(queue)]).ConfigureAwait(false);
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
        var calls = new Task<RedisResult>[ids.Count];
        for (int i = 0; i < ids.Count; i++)
        {
            string id = ids[i];
            calls[i] = _db.ScriptEvaluateAsync(
                RedisScripts.Requeue,
                [Keys.Dead(queue), Keys.Task(queue, id), Keys.Pending(queue), Keys.Notify(queue), Keys.Result(id)],
                [id]);
        }

        int requeued = 0;
        foreach (Task<RedisResult> call in calls)
        {
            requeued += (int)await call.ConfigureAwait(false);
        }

        return requeued;
    }
}
