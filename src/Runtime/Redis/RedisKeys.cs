using StackExchange.Redis;

namespace Celeriac.Redis;

/// <summary>
/// Builds every Redis key and channel name Celeriac uses (docs/protocol.md, "Key layout"). A queue's keys, its
/// messages and its tasks' results carry the queue name as a Redis Cluster hash tag (<c>prefix:{queue}:…</c>), so
/// that everything a queue's scripts touch shares one slot.
/// </summary>
internal sealed class RedisKeys
{
    /// <summary>Creates the key builder for <paramref name="prefix"/> (for example <c>celeriac</c>).</summary>
    public RedisKeys(string prefix)
    {
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        Prefix = prefix;
        DoneChannelPrefix = prefix + ":done:";
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

    /// <summary><c>P:{q}:r:&lt;id&gt;</c>: HASH holding the result record of a task sent to queue <paramref name="queue"/>.</summary>
    public RedisKey Result(string queue, string id) => QueuePart(queue) + "r:" + id;

    /// <summary><c>P:{q}:r:&lt;id&gt;</c> for an id given as its exact bytes.</summary>
    public RedisKey Result(string queue, ReadOnlyMemory<byte> id) => ((RedisKey)ResultPrefix(queue)).Append(id.ToArray());

    /// <summary>The prefix <c>P:{q}:r:</c> of a queue's result hashes, passed to the batched scripts that address results by id.</summary>
    public string ResultPrefix(string queue) => QueuePart(queue) + "r:";

    /// <summary>
    /// <c>P:r:&lt;id&gt;</c>: where protocol version 1 kept a result, outside any queue's slot. Only read (never written),
    /// so that records written before an upgrade stay readable for as long as their TTL.
    /// </summary>
    public RedisKey LegacyResult(string id) => Prefix + ":r:" + id;

    /// <summary><c>P:queues</c>: SET of the queue names in use (workers add theirs at start, clients on their first send to a queue).</summary>
    public RedisKey Queues() => Prefix + ":queues";

    /// <summary>The prefix <c>P:done:</c> of the per-id completion channels, passed to scripts that publish for many ids.</summary>
    public string DoneChannelPrefix { get; }

    /// <summary>The name of the channel <c>P:done:&lt;id&gt;</c> on which a task's final state is published.</summary>
    public string DoneChannelName(string id) => DoneChannelPrefix + id;

    /// <summary>The channel <c>P:done:&lt;id&gt;</c> as a literal (non-pattern) channel.</summary>
    public RedisChannel DoneChannel(string id) => RedisChannel.Literal(DoneChannelName(id));

    /// <summary>The name of the channel <c>P:batchdone:&lt;batch&gt;</c>, published to once when a batch completes.</summary>
    public string BatchDoneChannelName(string batchId) => Prefix + ":batchdone:" + batchId;

    /// <summary><c>P:{q}:revoked</c>: ZSET of the task ids revoked for queue <paramref name="queue"/>, scored by when the revocation may be forgotten (unix ms).</summary>
    public RedisKey Revoked(string queue) => QueuePart(queue) + "revoked";

    /// <summary>
    /// <c>P:revoked</c>: ZSET of every revocation still remembered, scored likewise. Read by no script: a queue registered
    /// after a revocation copies it from here into its own set (see <see cref="Revoked(string)"/>).
    /// </summary>
    public RedisKey AllRevoked() => Prefix + ":revoked";

    /// <summary>The channel <c>P:revoke</c> on which revoked ids are announced to running workers (a hint).</summary>
    public RedisChannel RevokeChannel() => RedisChannel.Literal(Prefix + ":revoke");

    /// <summary><c>P:{q}:flow</c>: HASH, the queue's workflow outbox: follow-up key → encoded follow-up (docs/workflows.md).</summary>
    public RedisKey Outbox(string queue) => QueuePart(queue) + "flow";

    /// <summary><c>P:{q}:flowq</c>: ZSET of the outbox's follow-up keys scored by when they were stored or last taken (unix ms).</summary>
    public RedisKey OutboxIndex(string queue) => QueuePart(queue) + "flowq";

    /// <summary><c>P:{g:&lt;group&gt;}:g</c>: HASH, a chord's join state (<c>total</c>, <c>done</c>, <c>state</c>, <c>spec</c>, <c>fidx</c>, <c>ferr</c>), in the group's own slot.</summary>
    public RedisKey Group(string groupId) => GroupPart(groupId) + "g";

    /// <summary><c>P:{g:&lt;group&gt;}:gr</c>: HASH, member index → its outcome (a success's value), counted once per index.</summary>
    public RedisKey GroupResults(string groupId) => GroupPart(groupId) + "gr";

    /// <summary><c>P:{g:&lt;group&gt;}:m</c>: STRING, a group's members (each one's last task id and queue, in call order), for handles re-created from its id.</summary>
    public RedisKey GroupMembers(string groupId) => GroupPart(groupId) + "m";

    /// <summary>
    /// <c>P:{g:&lt;name&gt;}:w</c>: SET of the task ids of the workflows sent under <paramref name="name"/> (a root id or a
    /// workflow's handle id), revoked together by <c>Workflow.RevokeAsync</c>. A name that cannot be a hash tag is
    /// used untagged (<c>P:w:&lt;name&gt;</c>): only single-key commands touch it.
    /// </summary>
    public RedisKey Tree(string name) => IsTaggable(name) ? GroupPart(name) + "w" : (RedisKey)(Prefix + ":w:" + name);

    /// <summary><c>P:{g:&lt;batch&gt;}:b</c>: HASH, a batch's state (<c>total</c>, <c>pending</c>, <c>ok</c>, <c>fail</c>, <c>state</c>, <c>spec</c>), in the batch's own slot.</summary>
    public RedisKey Batch(string batchId) => GroupPart(batchId) + "b";

    /// <summary><c>P:{g:&lt;batch&gt;}:bm</c>: HASH, member id → <c>P</c> (pending), <c>S</c> or <c>F</c>: each member counted once.</summary>
    public RedisKey BatchMembers(string batchId) => GroupPart(batchId) + "bm";

    private string GroupPart(string groupId)
    {
        if (!IsTaggable(groupId))
        {
            ThrowUntaggable(groupId);
        }

        return Prefix + ":{g:" + groupId + "}:";
    }
    /// <summary>
    /// <c>P:{q}:s:&lt;name&gt;</c>: HASH of the periodic schedule <paramref name="name"/> whose task goes to queue
    /// <paramref name="queue"/>: its definition (<c>task</c>, <c>cron</c>, <c>every</c>, <c>tz</c>, <c>missed</c>,
    /// <c>max_missed</c>, <c>pri</c>, <c>args</c>, <c>static</c>) and state (<c>last</c>, <c>id</c>, <c>at</c>, <c>by</c>,
    /// <c>paused</c>). In the queue's slot, so that one script claims a tick and stores its task.
    /// </summary>
    public RedisKey Schedule(string queue, string name) => QueuePart(queue) + "s:" + name;

    /// <summary><c>P:schedules</c>: HASH of schedule name → queue, the index of every stored schedule (read across slots).</summary>
    public RedisKey Schedules() => Prefix + ":schedules";

    /// <summary><c>P:schedules:v</c>: a counter raised by every change of a stored schedule (schedulers poll it).</summary>
    public RedisKey SchedulesVersion() => Prefix + ":schedules:v";

    /// <summary>
    /// <c>P:{workers}:reg</c>: ZSET of live worker ids scored by when their entry expires (unix ms). Every key of the worker
    /// registry and of the control commands carries the <c>{workers}</c> hash tag: one slot on Redis Cluster, so that one
    /// script reads the whole registry. (A queue named <c>workers</c> shares the slot, never a key: no queue key ends in
    /// <c>reg</c>, <c>info</c>, <c>cmd:</c> or <c>reply:</c>.)
    /// </summary>
    public RedisKey WorkerRegistry() => Prefix + ":{workers}:reg";

    /// <summary><c>P:{workers}:info</c>: HASH of worker id → its record (JSON, docs/observability.md), for the ids in <see cref="WorkerRegistry"/>.</summary>
    public RedisKey WorkerInfo() => Prefix + ":{workers}:info";

    /// <summary><c>P:{workers}:cmd:&lt;worker&gt;</c>: LIST of the control commands queued for one worker (JSON), expiring with the newest command.</summary>
    public RedisKey WorkerCommands(string workerId) => Prefix + ":{workers}:cmd:" + workerId;

    /// <summary><c>P:{workers}:reply:&lt;request&gt;</c>: LIST of the workers' replies to one control request (JSON), expiring with the request.</summary>
    public RedisKey ControlReplies(string requestId) => Prefix + ":{workers}:reply:" + requestId;

    /// <summary>The channel <c>P:control:&lt;worker&gt;</c> on which a worker is told that a command was queued for it (a hint).</summary>
    public RedisChannel ControlChannel(string workerId) => RedisChannel.Literal(Prefix + ":control:" + workerId);

    /// <summary>
    /// <c>P:events</c>: STREAM of task and worker events, capped (XADD MAXLEN ~); one key, read and written by single-key
    /// commands only, so it lives in whichever Redis Cluster slot its name hashes to (docs/observability.md).
    /// </summary>
    public RedisKey Events() => Prefix + ":events";

    /// <summary><c>P:events:on</c>: STRING, the run-time events switch: <c>1</c> on, <c>0</c> off, absent: each worker's own option.</summary>
    public RedisKey EventsSwitch() => Prefix + ":events:on";

    /// <summary>The channel <c>P:events:switch</c> on which a change of the events switch is announced (a hint).</summary>
    public RedisChannel EventsSwitchChannel() => RedisChannel.Literal(Prefix + ":events:switch");

    /// <summary>Whether <paramref name="queue"/> can be a hash tag: a name holding <c>{</c> or <c>}</c> would move its keys to another slot.</summary>
    public static bool IsTaggable(string queue) => queue.AsSpan().IndexOfAny('{', '}') < 0;

    private string QueuePart(string queue)
    {
        if (!IsTaggable(queue))
        {
            ThrowUntaggable(queue);
        }

        return Prefix + ":{" + queue + "}:";
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void ThrowUntaggable(string queue)
        => throw new ArgumentException($"The queue name '{queue}' holds '{{' or '}}', which would break its Redis Cluster hash tag; queue names cannot contain braces.", nameof(queue));
}
