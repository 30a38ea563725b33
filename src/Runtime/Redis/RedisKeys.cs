using StackExchange.Redis;

namespace Celeriac.Redis;

/// <summary>
/// Builds every Redis key and channel name Celeriac uses (docs/protocol.md, "Key layout"). A queue's keys carry the
/// queue name as a Redis Cluster hash tag (<c>prefix:{queue}:…</c>) so that one queue's keys share a slot and its
/// scripts stay single-slot.
/// </summary>
internal sealed class RedisKeys
{
    /// <summary>Creates the key builder for <paramref name="prefix"/> (for example <c>celeriac</c>).</summary>
    public RedisKeys(string prefix)
    {
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        Prefix = prefix;
        DoneChannelPrefix = prefix + ":done:";
        ResultPrefix = prefix + ":r:";
    }

    /// <summary>The key prefix.</summary>
    public string Prefix { get; }

    /// <summary><c>P:{q}:pending</c>: LIST of runnable task ids (LPUSH to enqueue, RPOP to fetch).</summary>
    public RedisKey Pending(string queue) => QueuePart(queue) + "pending";

    /// <summary><c>P:{q}:active</c>: ZSET of leased ids scored by lease deadline (unix ms).</summary>
    public RedisKey Active(string queue) => QueuePart(queue) + "active";

    /// <summary><c>P:{q}:scheduled</c>: ZSET of ids scored by due time (unix ms).</summary>
    public RedisKey Scheduled(string queue) => QueuePart(queue) + "scheduled";

    /// <summary><c>P:{q}:dead</c>: ZSET of dead-lettered ids scored by when they were set aside (unix ms).</summary>
    public RedisKey Dead(string queue) => QueuePart(queue) + "dead";

    /// <summary><c>P:{q}:notify</c>: LIST holding at most one wake-up token for blocked fetchers.</summary>
    public RedisKey Notify(string queue) => QueuePart(queue) + "notify";

    /// <summary><c>P:{q}:t:&lt;id&gt;</c>: HASH holding one message (<c>msg</c>, <c>dc</c>, <c>lease</c>, <c>reason</c>, <c>dead_at</c>).</summary>
    public RedisKey Task(string queue, string id) => QueuePart(queue) + "t:" + id;

    /// <summary><c>P:{q}:t:&lt;id&gt;</c> for an id given as its exact bytes (an id that is not UTF-8 is addressed as stored, not as its lossy decoding).</summary>
    public RedisKey Task(string queue, ReadOnlyMemory<byte> id) => ((RedisKey)TaskPrefix(queue)).Append(id.ToArray());

    /// <summary>The prefix of a queue's message hashes (<c>P:{q}:t:</c>), passed to scripts that address messages by id.</summary>
    public string TaskPrefix(string queue) => QueuePart(queue) + "t:";

    /// <summary><c>P:r:&lt;id&gt;</c>: HASH holding a task's result record.</summary>
    public RedisKey Result(string id) => ResultPrefix + id;

    /// <summary><c>P:r:&lt;id&gt;</c> for an id given as its exact bytes.</summary>
    public RedisKey Result(ReadOnlyMemory<byte> id) => ((RedisKey)ResultPrefix).Append(id.ToArray());

    /// <summary>The prefix <c>P:r:</c> of result hashes, passed to the batched scripts that address results by id.</summary>
    public string ResultPrefix { get; }

    /// <summary>The prefix <c>P:done:</c> of the per-id completion channels, passed to scripts that publish for many ids.</summary>
    public string DoneChannelPrefix { get; }

    /// <summary>The name of the channel <c>P:done:&lt;id&gt;</c> on which a task's final state is published.</summary>
    public string DoneChannelName(string id) => DoneChannelPrefix + id;

    /// <summary>The channel <c>P:done:&lt;id&gt;</c> as a literal (non-pattern) channel.</summary>
    public RedisChannel DoneChannel(string id) => RedisChannel.Literal(DoneChannelName(id));

    /// <summary><c>P:revoked</c>: ZSET of revoked task ids scored by when the revocation may be forgotten (unix ms).</summary>
    public RedisKey Revoked() => Prefix + ":revoked";

    /// <summary>The channel <c>P:revoke</c> on which revoked ids are announced to running workers (a hint).</summary>
    public RedisChannel RevokeChannel() => RedisChannel.Literal(Prefix + ":revoke");

    private string QueuePart(string queue) => Prefix + ":{" + queue + "}:";
}
