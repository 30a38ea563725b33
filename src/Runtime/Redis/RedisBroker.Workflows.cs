using System.Buffers;
using Celeriac.Brokers;
using Celeriac.Workflows;
using StackExchange.Redis;

namespace Celeriac.Redis;

/// <summary>The workflow role over Redis (docs/workflows.md): every script stays in one slot — the completing task's queue, the next step's queue, or the group's own.</summary>
internal sealed partial class RedisBroker : IWorkflowStore
{
    /// <inheritdoc />
    public async Task<bool> CompleteWithFollowUpsAsync(CompleteItem item, IReadOnlyList<FollowUp> followUps, TimeSpan ttl, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(followUps);
        cancellationToken.ThrowIfCancellationRequested();
        Delivery delivery = item.Delivery;
        var record = new ArrayBufferWriter<byte>(128 + item.Value.Length);
        RedisResultCodec.WriteOutcome(record, item, _time.GetUtcNow());
        var args = new RedisValue[8 + (followUps.Count * 2)];
        args[0] = Ms(ttl);
        args[1] = IdOf(delivery);
        args[2] = TokenOf(delivery);
        args[3] = DoneChannelOf(delivery);
        args[4] = delivery.ReplyTo ?? string.Empty;
        args[5] = RedisResultCodec.StateName(item.State);
        args[6] = record.WrittenMemory;
        args[7] = NowMs;
        for (int i = 0; i < followUps.Count; i++)
        {
            args[8 + (2 * i)] = followUps[i].Key;
            args[9 + (2 * i)] = followUps[i].Payload;
        }

        RedisResult reply = await _db.ScriptEvaluateAsync(
            RedisScripts.CompleteFlow,
            [Keys.Active(delivery.Queue), TaskKeyOf(delivery), ResultKeyOf(delivery), Keys.Outbox(delivery.Queue), Keys.OutboxIndex(delivery.Queue)],
            args).ConfigureAwait(false);
        return (int)reply == 1;
    }

    /// <inheritdoc />
    public async Task<bool> EnqueueOnceAsync(EnqueueItem item, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        int priority = Math.Clamp(item.Priority, 0, 9);
        RedisKey pending = priority > 0 ? Keys.Pending(item.Queue).Append(":" + priority.ToString(System.Globalization.CultureInfo.InvariantCulture)) : Keys.Pending(item.Queue);
        try
        {
            await RegisterQueueAsync(item.Queue).ConfigureAwait(false);
            RedisResult reply = await _db.ScriptEvaluateAsync(
                RedisScripts.EnqueueOnce,
                [pending, Keys.Scheduled(item.Queue), Keys.Notify(item.Queue), Keys.Task(item.Queue, item.Id), Keys.Result(item.Queue, item.Id)],
                [item.Id, item.Envelope, item.DueAtMs, priority, NowMs]).ConfigureAwait(false);
            return (int)reply == 1;
        }
        catch (Exception ex) when (RedisErrors.IsUnavailable(ex))
        {
            throw RedisErrors.Unconfirmed([item], ex);
        }
    }

    /// <inheritdoc />
    public async Task<bool> FailOnceAsync(string queue, string taskId, TaskResult result, string? replyTo, TimeSpan ttl, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(result);
        cancellationToken.ThrowIfCancellationRequested();
        RedisResult reply = await _db.ScriptEvaluateAsync(
            RedisScripts.FailOnce,
            [Keys.Result(queue, taskId)],
            [Ms(ttl), RedisResultCodec.Encode(taskId, result, _time.GetUtcNow()), Keys.DoneChannelName(taskId), replyTo ?? string.Empty]).ConfigureAwait(false);
        return (int)reply == 1;
    }

    /// <inheritdoc />
    public async Task CreateGroupAsync(string groupId, int total, ReadOnlyMemory<byte> spec, TimeSpan ttl, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        try
        {
            await _db.ScriptEvaluateAsync(RedisScripts.CreateGroup, [Keys.Group(groupId)], [total, spec, Ms(ttl)]).ConfigureAwait(false);
        }
        catch (Exception ex) when (RedisErrors.IsUnavailable(ex))
        {
            throw new BrokerUnavailableException([groupId], ex);
        }
    }

    /// <inheritdoc />
    public async Task<JoinReply> JoinAsync(string groupId, int index, bool success, ReadOnlyMemory<byte> value, TimeSpan ttl, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var reply = (RedisResult[])(await _db.ScriptEvaluateAsync(
            RedisScripts.Join,
            [Keys.Group(groupId), Keys.GroupResults(groupId)],
            [index, success ? "S" : "F", value, Ms(ttl)]).ConfigureAwait(false))!;
        switch ((string?)reply[0])
        {
            case "open":
                return JoinReply.Open;
            case "failed":
                return new JoinReply(JoinState.Failed, (byte[])reply[1]!, (int)reply[2], (byte[])reply[3]!, []);
            case "done":
                var values = new ReadOnlyMemory<byte>[reply.Length - 2];
                for (int i = 0; i < values.Length; i++)
                {
                    values[i] = (byte[])reply[i + 2]!;
                }

                return new JoinReply(JoinState.Done, (byte[])reply[1]!, -1, default, values);
            default:
                return JoinReply.Gone;
        }
    }

    /// <inheritdoc />
    public async Task RemoveFollowUpsAsync(string queue, IReadOnlyList<string> keys, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(keys);
        cancellationToken.ThrowIfCancellationRequested();
        if (keys.Count == 0)
        {
            return;
        }

        var args = new RedisValue[keys.Count];
        for (int i = 0; i < args.Length; i++)
        {
            args[i] = keys[i];
        }

        await _db.ScriptEvaluateAsync(RedisScripts.RemoveFollowUps, [Keys.Outbox(queue), Keys.OutboxIndex(queue)], args).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<FollowUp>> ClaimStaleFollowUpsAsync(string queue, DateTimeOffset olderThan, int max, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var reply = (RedisResult[])(await _db.ScriptEvaluateAsync(
            RedisScripts.ClaimFollowUps,
            [Keys.Outbox(queue), Keys.OutboxIndex(queue)],
            [olderThan.ToUnixTimeMilliseconds(), NowMs, max]).ConfigureAwait(false))!;
        var followUps = new FollowUp[reply.Length / 2];
        for (int i = 0; i < followUps.Length; i++)
        {
            followUps[i] = new FollowUp((string)reply[2 * i]!, (byte[])reply[(2 * i) + 1]!);
        }

        return followUps;
    }
}
