using System.Buffers;
using Celeriac.Brokers;
using Celeriac.Workflows;
using StackExchange.Redis;

namespace Celeriac.Redis;

/// <summary>The workflow role over Redis (docs/workflows.md): every script stays in one slot — the completing task's queue, the next step's queue, or the group's own.</summary>
internal sealed partial class RedisBroker : IWorkflowStore
{
    /// <inheritdoc />
    public Task CompleteWithFollowUpsAsync(IReadOnlyList<FlowCompletion> items, TimeSpan ttl, int[] completed, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(completed);
        cancellationToken.ThrowIfCancellationRequested();
        return ForEachQueueAsync(items, static item => item.Item.Delivery.Queue, (queue, filter) => CompleteFlowQueueAsync(items, queue, filter, ttl, completed));
    }

    private async Task CompleteFlowQueueAsync(IReadOnlyList<FlowCompletion> items, string queue, bool filter, TimeSpan ttl, int[] completed)
    {
        QueueKeys qk = KeysOf(queue);
        var args = new List<RedisValue>(5 + (items.Count * 8)) { Ms(ttl), qk.TaskPrefix, Keys.DoneChannelPrefix, qk.ResultPrefix, NowMs };
        var records = new ArrayBufferWriter<byte>(items.Count * 128);
        DateTimeOffset now = _time.GetUtcNow();
        int count = 0;
        foreach (FlowCompletion flow in items)
        {
            Delivery delivery = flow.Item.Delivery;
            if (filter && !string.Equals(delivery.Queue, queue, StringComparison.Ordinal))
            {
                continue;
            }

            count++;
            args.Add(delivery.IdUtf8.IsEmpty ? delivery.Id : CopyInto(records, delivery.IdUtf8.Span));
            args.Add(delivery.LeaseTokenUtf8.IsEmpty ? delivery.LeaseToken : CopyInto(records, delivery.LeaseTokenUtf8.Span));
            args.Add(delivery.ReplyTo ?? string.Empty);
            args.Add(RedisResultCodec.StateName(flow.Item.State));
            int start = records.WrittenCount;
            RedisResultCodec.WriteOutcome(records, flow.Item, now);
            args.Add(records.WrittenMemory[start..]);
            args.Add(flow.FollowUps.Count);
            foreach (FollowUp followUp in flow.FollowUps)
            {
                args.Add(followUp.Key);
                args.Add(followUp.Payload);
            }
        }

        RedisResult reply = await Eval(RedisScripts.CompleteFlow, [Keys.Active(queue), Keys.Outbox(queue), Keys.OutboxIndex(queue)], [.. args]).ConfigureAwait(false);
        byte[] flags = (byte[]?)reply ?? [];
        if (flags.Length != count)
        {
            ThrowUnexpectedReply(nameof(RedisScripts.CompleteFlow), reply);
        }

        int j = 0;
        for (int i = 0; i < items.Count; i++)
        {
            if (!filter || string.Equals(items[i].Item.Delivery.Queue, queue, StringComparison.Ordinal))
            {
                completed[i] = flags[j++] == (byte)'1' ? 1 : 0;
            }
        }
    }

    /// <inheritdoc />
    public async Task<bool> DeadLetterWithFollowUpsAsync(Delivery delivery, string reason, TaskResult result, IReadOnlyList<FollowUp> followUps, TimeSpan ttl, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(delivery);
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(followUps);
        cancellationToken.ThrowIfCancellationRequested();
        DateTimeOffset now = _time.GetUtcNow();
        var args = new RedisValue[8 + (followUps.Count * 2)];
        args[0] = TokenOf(delivery);
        args[1] = IdOf(delivery);
        args[2] = reason;
        args[3] = now.ToUnixTimeMilliseconds();
        args[4] = Ms(ttl);
        args[5] = DoneChannelOf(delivery);
        args[6] = delivery.ReplyTo ?? string.Empty;
        args[7] = RedisResultCodec.Encode(delivery.Id, result, now);
        for (int i = 0; i < followUps.Count; i++)
        {
            args[8 + (2 * i)] = followUps[i].Key;
            args[9 + (2 * i)] = followUps[i].Payload;
        }

        RedisResult reply = await Eval(
            RedisScripts.DeadLetterFlow,
            [TaskKeyOf(delivery), Keys.Active(delivery.Queue), Keys.Dead(delivery.Queue), ResultKeyOf(delivery), Keys.Outbox(delivery.Queue), Keys.OutboxIndex(delivery.Queue)],
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
            RedisResult reply = await Eval(
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
    public async Task<bool> RecordOnceAsync(string queue, string taskId, TaskResult result, string? replyTo, TimeSpan ttl, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(result);
        cancellationToken.ThrowIfCancellationRequested();
        RedisResult reply = await Eval(
            RedisScripts.RecordOnce,
            [Keys.Result(queue, taskId)],
            [Ms(ttl), RedisResultCodec.Encode(taskId, result, _time.GetUtcNow()), Keys.DoneChannelName(taskId), replyTo ?? string.Empty, RedisResultCodec.StateName(result.State)]).ConfigureAwait(false);
        return (int)reply == 1;
    }

    /// <inheritdoc />
    public async Task CreateGroupAsync(string groupId, int total, ReadOnlyMemory<byte> spec, TimeSpan ttl, bool onlyIfAbsent, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        try
        {
            await Eval(RedisScripts.CreateGroup, [Keys.Group(groupId)], [total, spec, Ms(ttl), onlyIfAbsent ? "1" : "0"]).ConfigureAwait(false);
        }
        catch (Exception ex) when (RedisErrors.IsUnavailable(ex))
        {
            throw new BrokerUnavailableException([groupId], ex);
        }
    }

    /// <inheritdoc />
    public async Task<JoinReply> JoinAsync(string groupId, IReadOnlyList<JoinItem> members, TimeSpan ttl, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(members);
        cancellationToken.ThrowIfCancellationRequested();
        var args = new RedisValue[1 + (members.Count * 3)];
        args[0] = Ms(ttl);
        for (int i = 0; i < members.Count; i++)
        {
            args[1 + (3 * i)] = members[i].Index;
            args[2 + (3 * i)] = members[i].Success ? "S" : "F";
            args[3 + (3 * i)] = members[i].Value;
        }

        var reply = (RedisResult[])(await Eval(RedisScripts.Join, [Keys.Group(groupId), Keys.GroupResults(groupId)], args).ConfigureAwait(false))!;
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

        await Eval(RedisScripts.RemoveFollowUps, [Keys.Outbox(queue), Keys.OutboxIndex(queue)], args).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<FollowUp>> ClaimStaleFollowUpsAsync(string queue, DateTimeOffset olderThan, int max, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var reply = (RedisResult[])(await Eval(
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

    /// <inheritdoc />
    public async Task RecordAsync(IReadOnlyList<string> names, IReadOnlyList<string> ids, string? groupId, ReadOnlyMemory<byte> members, TimeSpan ttl, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(names);
        ArgumentNullException.ThrowIfNull(ids);
        cancellationToken.ThrowIfCancellationRequested();
        var values = new RedisValue[ids.Count];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = ids[i];
        }

        // Single-key commands, all sent before any is awaited: one round trip whatever the slots.
        var calls = new List<Task>((names.Count * 2) + 1);
        foreach (string name in names)
        {
            RedisKey tree = Keys.Tree(name);
            calls.Add(_db.SetAddAsync(tree, values));
            calls.Add(_db.KeyExpireAsync(tree, ttl));
        }

        if (groupId is not null)
        {
            calls.Add(_db.StringSetAsync(Keys.GroupMembers(groupId), members, ttl));
        }

        try
        {
            await Task.WhenAll(calls).ConfigureAwait(false);
        }
        catch (Exception ex) when (RedisErrors.IsUnavailable(ex))
        {
            throw new BrokerUnavailableException([groupId ?? names[0]], ex);
        }
    }

    /// <inheritdoc />
    public async Task<ReadOnlyMemory<byte>?> ReadGroupAsync(string groupId, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        RedisValue value = await _db.StringGetAsync(Keys.GroupMembers(groupId)).ConfigureAwait(false);
        return value.IsNull ? (ReadOnlyMemory<byte>?)null : (byte[])value!;
    }

    /// <inheritdoc />
    public async Task<int> RevokeTreeAsync(string name, TimeSpan keepFor, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        cancellationToken.ThrowIfCancellationRequested();
        RedisValue[] members = await _db.SetMembersAsync(Keys.Tree(name)).ConfigureAwait(false);
        var ids = new HashSet<string>(StringComparer.Ordinal) { name };
        foreach (RedisValue member in members)
        {
            ids.Add((string)member!);
        }

        long now = NowMs;
        var args = new RedisValue[2 + ids.Count];
        args[0] = now + Ms(keepFor);
        args[1] = now;
        int a = 2;
        foreach (string id in ids)
        {
            args[a++] = id;
        }

        // As RevokeAsync: P:revoked first, then every registered queue's set, then the announcements.
        await Eval(RedisScripts.RevokeMany, [Keys.AllRevoked()], args).ConfigureAwait(false);
        RedisValue[] queues = await _db.SetMembersAsync(Keys.Queues()).ConfigureAwait(false);
        var calls = new List<Task>(queues.Length + ids.Count);
        foreach (RedisValue queue in queues)
        {
            calls.Add(Eval(RedisScripts.RevokeMany, [Keys.Revoked((string)queue!)], args));
        }

        await Task.WhenAll(calls).ConfigureAwait(false);
        calls.Clear();
        foreach (string id in ids)
        {
            calls.Add(_db.PublishAsync(Keys.RevokeChannel(), id));
        }

        await Task.WhenAll(calls).ConfigureAwait(false);
        return ids.Count;
    }

    /// <inheritdoc />
    public async Task CreateBatchAsync(string batchId, IReadOnlyList<string> ids, ReadOnlyMemory<byte> spec, TimeSpan ttl, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(ids);
        cancellationToken.ThrowIfCancellationRequested();
        var args = new RedisValue[2 + ids.Count];
        args[0] = Ms(ttl);
        args[1] = spec;
        for (int i = 0; i < ids.Count; i++)
        {
            args[2 + i] = ids[i];
        }

        try
        {
            await Eval(RedisScripts.CreateBatch, [Keys.Batch(batchId), Keys.BatchMembers(batchId)], args).ConfigureAwait(false);
        }
        catch (Exception ex) when (RedisErrors.IsUnavailable(ex))
        {
            throw new BrokerUnavailableException([batchId], ex);
        }
    }

    /// <inheritdoc />
    public async Task<bool> AddToBatchAsync(string batchId, IReadOnlyList<string> ids, TimeSpan ttl, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(ids);
        cancellationToken.ThrowIfCancellationRequested();
        var args = new RedisValue[1 + ids.Count];
        args[0] = Ms(ttl);
        for (int i = 0; i < ids.Count; i++)
        {
            args[1 + i] = ids[i];
        }

        return (int)await Eval(RedisScripts.AddToBatch, [Keys.Batch(batchId), Keys.BatchMembers(batchId)], args).ConfigureAwait(false) == 1;
    }

    /// <inheritdoc />
    public async Task<(BatchStatus? Status, ReadOnlyMemory<byte> Spec)> JoinBatchAsync(string batchId, IReadOnlyList<(string Id, bool Success)> members, TimeSpan ttl, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(members);
        cancellationToken.ThrowIfCancellationRequested();
        var args = new RedisValue[2 + (members.Count * 2)];
        args[0] = Ms(ttl);
        args[1] = Keys.BatchDoneChannelName(batchId);
        for (int i = 0; i < members.Count; i++)
        {
            args[2 + (2 * i)] = members[i].Id;
            args[3 + (2 * i)] = members[i].Success ? "S" : "F";
        }

        var reply = (RedisResult[])(await Eval(RedisScripts.JoinBatch, [Keys.Batch(batchId), Keys.BatchMembers(batchId)], args).ConfigureAwait(false))!;
        if ((string?)reply[0] == "gone")
        {
            return (null, default);
        }

        var status = new BatchStatus(batchId, (int)reply[1], (int)reply[2], (int)reply[3], (int)reply[4], (string?)reply[0] == "done");
        return (status, (byte[])reply[5]!);
    }

    /// <inheritdoc />
    public async Task<BatchStatus?> ReadBatchAsync(string batchId, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        RedisValue[] f = await _db.HashGetAsync(Keys.Batch(batchId), ["state", "total", "pending", "ok", "fail"]).ConfigureAwait(false);
        return f[0].IsNull ? null : new BatchStatus(batchId, (int)f[1], (int)f[2], (int)f[3], (int)f[4], f[0] == "done");
    }

    /// <inheritdoc />
    public Task<BatchStatus?> WaitBatchAsync(string batchId, TimeSpan timeout, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return RideOutOutageAsync( // as a result wait: an outage within the timeout is waited out
            left => WaitOnChannelAsync(
                RedisChannel.Literal(Keys.BatchDoneChannelName(batchId)),
                ct => ReadBatchAsync(batchId, ct),
                static status => status is null or { IsComplete: true },
                left,
                cancellationToken),
            timeout,
            static ex => ex,
            cancellationToken);
    }
}
