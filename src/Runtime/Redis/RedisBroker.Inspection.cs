using Celeriac.Brokers;
using Celeriac.Inspection;
using StackExchange.Redis;

namespace Celeriac.Redis;

internal sealed partial class RedisBroker
{
    /// <inheritdoc />
    public async Task<IReadOnlyList<string>> GetQueuesAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        RedisValue[] members = await _db.SetMembersAsync(Keys.Queues()).ConfigureAwait(false);
        return [.. members.Select(m => (string)m!).Where(RedisKeys.IsTaggable).Order(StringComparer.Ordinal)];
    }

    /// <inheritdoc />
    public async Task<DeadLetter?> GetDeadLetterAsync(string queue, string taskId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(taskId);
        cancellationToken.ThrowIfCancellationRequested();
        Task<double?> scoreRead = _db.SortedSetScoreAsync(Keys.Dead(queue), taskId);
        Task<RedisValue[]> hash = _db.HashGetAsync(Keys.Task(queue, taskId), ["msg", "reason"]);
        double? score = await scoreRead.ConfigureAwait(false);
        RedisValue[] values;
        try
        {
            values = await hash.ConfigureAwait(false);
        }
        catch (RedisServerException ex) when (score is not null && ex.Message.StartsWith("WRONGTYPE", StringComparison.Ordinal))
        {
            return new DeadLetter(taskId, queue, DeadLetterReasons.Corrupt + ": the message key is not a hash", At(score.Value), ReadOnlyMemory<byte>.Empty);
        }

        if (score is not { } ms)
        {
            return null;
        }

        DateTimeOffset at = At(ms);
        return values[0].IsNull && values[1].IsNull
            ? null // the message hash is gone: nothing left to show or requeue (as the listing skips it)
            : DeadLetter.Read(taskId, queue, values[1].IsNull ? "unknown" : (string)values[1]!, at, values[0].IsNull ? ReadOnlyMemory<byte>.Empty : (byte[])values[0]!);
    }

    private static DateTimeOffset At(double unixMs) => DateTimeOffset.FromUnixTimeMilliseconds(Math.Clamp((long)unixMs, 0, MaxUnixMs));

    /// <inheritdoc />
    public async Task<QueueCounts> GetQueueCountsAsync(string queue, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();

        // Four reads of one slot, sent together: one round trip.
        Task<RedisResult> pending = Eval(RedisScripts.QueueLength, [Keys.Pending(queue)]);
        Task<long> scheduled = _db.SortedSetLengthAsync(Keys.Scheduled(queue));
        Task<long> active = _db.SortedSetLengthAsync(Keys.Active(queue));
        Task<long> dead = _db.SortedSetLengthAsync(Keys.Dead(queue));
        return new QueueCounts(
            queue,
            (long)await pending.ConfigureAwait(false),
            await scheduled.ConfigureAwait(false),
            await active.ConfigureAwait(false),
            await dead.ConfigureAwait(false));
    }

    /// <inheritdoc />
    public async Task<TaskLocation?> FindTaskAsync(string taskId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(taskId);
        IReadOnlyList<string> queues = await GetQueuesAsync(cancellationToken).ConfigureAwait(false);

        // Per queue: the message hash and the id's score in each sorted set, all sent before any is awaited (under
        // Cluster each queue's reads go to its own node). Reads, not a script: a message moving meanwhile is seen in
        // one place or the other.
        var reads = new (Task<RedisValue[]> Hash, Task<double?> Scheduled, Task<double?> Active, Task<double?> Dead)[queues.Count];
        RedisValue[] fields = ["msg", "dc"];
        for (int i = 0; i < queues.Count; i++)
        {
            string queue = queues[i];
            reads[i] = (
                _db.HashGetAsync(Keys.Task(queue, taskId), fields),
                _db.SortedSetScoreAsync(Keys.Scheduled(queue), taskId),
                _db.SortedSetScoreAsync(Keys.Active(queue), taskId),
                _db.SortedSetScoreAsync(Keys.Dead(queue), taskId));
        }

        TaskLocation? found = null;
        for (int i = 0; i < queues.Count; i++)
        {
            RedisValue[] hash;
            try
            {
                hash = await reads[i].Hash.ConfigureAwait(false);
            }
            catch (RedisServerException ex) when (ex.Message.StartsWith("WRONGTYPE", StringComparison.Ordinal))
            {
                hash = [RedisValue.Null, RedisValue.Null];
            }

            double? scheduled = await reads[i].Scheduled.ConfigureAwait(false);
            double? active = await reads[i].Active.ConfigureAwait(false);
            double? dead = await reads[i].Dead.ConfigureAwait(false);
            if (found is not null || (hash[0].IsNull && scheduled is null && active is null && dead is null))
            {
                continue;
            }

            (TaskPlace place, double? score) = dead is not null ? (TaskPlace.Dead, dead)
                : active is not null ? (TaskPlace.Active, active)
                : scheduled is not null ? (TaskPlace.Scheduled, scheduled)
                : (TaskPlace.Pending, (double?)null);
            string? name = null;
            if (!hash[0].IsNull)
            {
                byte[] envelope = (byte[])hash[0]!;
                name = Protocol.EnvelopeFormats.For(envelope).TryReadSummary(envelope, out string? task, out _) ? task : null;
            }

            int deliveries = hash[1].TryParse(out int dc) ? dc : 0;
            DateTimeOffset? since = score is { } ms ? DateTimeOffset.FromUnixTimeMilliseconds(Math.Clamp((long)ms, 0, MaxUnixMs)) : null;
            found = new TaskLocation(taskId, queues[i], place, since, deliveries, name);
        }

        return found;
    }

    /// <inheritdoc />
    public async Task<long> PurgeQueueAsync(string queue, int max, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (max <= 0)
        {
            return 0;
        }

        RedisKey[] keys = new RedisKey[10];
        for (int p = 9; p >= 1; p--)
        {
            keys[9 - p] = Keys.Pending(queue).Append(":" + p.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        keys[9] = Keys.Pending(queue);
        return (long)await Eval(RedisScripts.PurgeQueue, keys, [Keys.TaskPrefix(queue), max]).ConfigureAwait(false);
    }
}
