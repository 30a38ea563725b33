using Celeriac.Workflows;

namespace Celeriac.Brokers.InMemory;

/// <summary>The workflow role in process, with the Redis broker's semantics: each operation is atomic under the one lock.</summary>
internal sealed partial class InMemoryBroker : IWorkflowStore
{
    private readonly Dictionary<string, Dictionary<string, (byte[] Payload, long ScoreMs)>> _outboxes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, GroupState> _groups = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (HashSet<string> Ids, long ExpiresAtMs)> _trees = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (byte[] Members, long ExpiresAtMs)> _groupMembers = new(StringComparer.Ordinal);

    private readonly Dictionary<string, BatchState> _batches = new(StringComparer.Ordinal);

    /// <inheritdoc />
    public Task CreateBatchAsync(string batchId, IReadOnlyList<string> ids, ReadOnlyMemory<byte> spec, TimeSpan ttl, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(ids);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            var batch = new BatchState(spec.ToArray()) { ExpiresAtMs = NowMs + (long)ttl.TotalMilliseconds };
            foreach (string id in ids)
            {
                if (batch.Members.TryAdd(id, 'P'))
                {
                    batch.Total++;
                    batch.Pending++;
                }
            }

            _batches[batchId] = batch;
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task<bool> AddToBatchAsync(string batchId, IReadOnlyList<string> ids, TimeSpan ttl, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(ids);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            if (LiveBatchLocked(batchId) is not { Done: false } batch)
            {
                return Task.FromResult(false);
            }

            foreach (string id in ids)
            {
                if (batch.Members.TryAdd(id, 'P'))
                {
                    batch.Total++;
                    batch.Pending++;
                }
            }

            batch.ExpiresAtMs = NowMs + (long)ttl.TotalMilliseconds;
            return Task.FromResult(true);
        }
    }

    /// <inheritdoc />
    public Task<(BatchStatus? Status, ReadOnlyMemory<byte> Spec)> JoinBatchAsync(string batchId, IReadOnlyList<(string Id, bool Success)> members, TimeSpan ttl, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(members);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            if (LiveBatchLocked(batchId) is not { } batch)
            {
                return Task.FromResult<(BatchStatus?, ReadOnlyMemory<byte>)>((null, default));
            }

            foreach ((string id, bool success) in members)
            {
                char outcome = success ? 'S' : 'F';
                if (batch.Members.TryGetValue(id, out char current))
                {
                    if (current != 'P')
                    {
                        continue;
                    }

                    batch.Pending--;
                }
                else if (batch.Done)
                {
                    continue;
                }
                else
                {
                    batch.Total++;
                }

                batch.Members[id] = outcome;
                if (success)
                {
                    batch.Succeeded++;
                }
                else
                {
                    batch.Failed++;
                }
            }

            if (!batch.Done && batch.Pending <= 0)
            {
                batch.Done = true;
                batch.Completed.TrySetResult();
            }

            batch.ExpiresAtMs = NowMs + (long)ttl.TotalMilliseconds;
            return Task.FromResult<(BatchStatus?, ReadOnlyMemory<byte>)>((batch.Status(batchId), batch.Spec));
        }
    }

    /// <inheritdoc />
    public Task<BatchStatus?> ReadBatchAsync(string batchId, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            return Task.FromResult(LiveBatchLocked(batchId)?.Status(batchId));
        }
    }

    /// <inheritdoc />
    public async Task<BatchStatus?> WaitBatchAsync(string batchId, TimeSpan timeout, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Task completed;
        lock (_gate)
        {
            BatchState? batch = LiveBatchLocked(batchId);
            if (batch is null || batch.Done)
            {
                return batch?.Status(batchId);
            }

            completed = batch.Completed.Task;
        }

        try
        {
            await completed.WaitAsync(timeout, _time, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // Returns the status as it is.
        }

        return await ReadBatchAsync(batchId, cancellationToken).ConfigureAwait(false);
    }

    private BatchState? LiveBatchLocked(string batchId)
    {
        if (_batches.TryGetValue(batchId, out BatchState? batch) && batch.ExpiresAtMs > NowMs)
        {
            return batch;
        }

        _batches.Remove(batchId);
        return null;
    }

    /// <inheritdoc />
    public Task RecordAsync(IReadOnlyList<string> names, IReadOnlyList<string> ids, string? groupId, ReadOnlyMemory<byte> members, TimeSpan ttl, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(names);
        ArgumentNullException.ThrowIfNull(ids);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            long expires = NowMs + (long)ttl.TotalMilliseconds;
            foreach (string name in names)
            {
                HashSet<string> tree = _trees.TryGetValue(name, out var existing) && existing.ExpiresAtMs > NowMs ? existing.Ids : new HashSet<string>(StringComparer.Ordinal);
                tree.UnionWith(ids);
                _trees[name] = (tree, expires);
            }

            if (groupId is not null)
            {
                _groupMembers[groupId] = (members.ToArray(), expires);
            }
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task<ReadOnlyMemory<byte>?> ReadGroupAsync(string groupId, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            ReadOnlyMemory<byte>? members = _groupMembers.TryGetValue(groupId, out var record) && record.ExpiresAtMs > NowMs ? (ReadOnlyMemory<byte>?)record.Members : null;
            return Task.FromResult(members);
        }
    }

    /// <inheritdoc />
    public async Task<int> RevokeTreeAsync(string name, TimeSpan keepFor, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        var ids = new HashSet<string>(StringComparer.Ordinal) { name };
        lock (_gate)
        {
            if (_trees.TryGetValue(name, out var tree) && tree.ExpiresAtMs > NowMs)
            {
                ids.UnionWith(tree.Ids);
            }
        }

        foreach (string id in ids)
        {
            await RevokeAsync(id, keepFor, cancellationToken).ConfigureAwait(false);
        }

        return ids.Count;
    }

    /// <inheritdoc />
    public Task CompleteWithFollowUpsAsync(IReadOnlyList<FlowCompletion> items, TimeSpan ttl, int[] completed, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(completed);
        cancellationToken.ThrowIfCancellationRequested();
        for (int i = 0; i < items.Count; i++)
        {
            completed[i] = CompleteWithFollowUps(items[i], ttl) ? 1 : 0;
        }

        return Task.CompletedTask;
    }

    private bool CompleteWithFollowUps(FlowCompletion flow, TimeSpan ttl)
    {
        Delivery delivery = flow.Item.Delivery;
        List<TaskCompletionSource>? waiters;
        lock (_gate)
        {
            if (!HoldsLeaseLocked(delivery, out _))
            {
                return false;
            }

            GetQueue(delivery.Queue).Active.Remove(delivery.Id);
            _messages.Remove(delivery.Id);
            waiters = StoreFinalLocked(delivery.Id, flow.Item.Result, ttl);
            Dictionary<string, (byte[], long)> outbox = OutboxLocked(delivery.Queue);
            foreach (FollowUp followUp in flow.FollowUps)
            {
                outbox[followUp.Key] = (followUp.Payload.ToArray(), NowMs);
            }
        }

        Wake(waiters);
        return true;
    }

    /// <inheritdoc />
    public Task<bool> DeadLetterWithFollowUpsAsync(Delivery delivery, string reason, TaskResult result, IReadOnlyList<FollowUp> followUps, TimeSpan ttl, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(followUps);
        lock (_gate) // re-entrant: the dead letter and the outbox change under one hold of the lock
        {
            if (!DeadLetterAsync(delivery, reason, result, ttl, cancellationToken).Result)
            {
                return Task.FromResult(false);
            }

            Dictionary<string, (byte[], long)> outbox = OutboxLocked(delivery.Queue);
            foreach (FollowUp followUp in followUps)
            {
                outbox[followUp.Key] = (followUp.Payload.ToArray(), NowMs);
            }
        }

        return Task.FromResult(true);
    }

    /// <inheritdoc />
    public Task<bool> EnqueueOnceAsync(EnqueueItem item, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            if (_messages.ContainsKey(item.Id) || TryGetLiveResultLocked(item.Id, out _))
            {
                return Task.FromResult(false);
            }

            _ = EnqueueAsync([item], cancellationToken); // synchronous, under the same (re-entrant) lock as the check
        }

        return Task.FromResult(true);
    }

    /// <inheritdoc />
    public Task<bool> RecordOnceAsync(string queue, string taskId, TaskResult result, string? replyTo, TimeSpan ttl, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(result);
        cancellationToken.ThrowIfCancellationRequested();
        List<TaskCompletionSource>? waiters;
        lock (_gate)
        {
            if (TryGetLiveResultLocked(taskId, out TaskResult? current) && current.IsReady)
            {
                return Task.FromResult(false);
            }

            waiters = StoreFinalLocked(taskId, result, ttl);
        }

        Wake(waiters);
        return Task.FromResult(true);
    }

    /// <inheritdoc />
    public Task CreateGroupAsync(string groupId, int total, ReadOnlyMemory<byte> spec, TimeSpan ttl, bool onlyIfAbsent, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            if (onlyIfAbsent && _groups.TryGetValue(groupId, out GroupState? existing) && existing.ExpiresAtMs > NowMs)
            {
                return Task.CompletedTask;
            }

            _groups[groupId] = new GroupState(total, spec.ToArray()) { ExpiresAtMs = NowMs + (long)ttl.TotalMilliseconds };
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task<JoinReply> JoinAsync(string groupId, IReadOnlyList<JoinItem> members, TimeSpan ttl, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(members);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            if (!_groups.TryGetValue(groupId, out GroupState? group) || group.ExpiresAtMs <= NowMs)
            {
                _groups.Remove(groupId);
                return Task.FromResult(JoinReply.Gone);
            }

            foreach (JoinItem member in members)
            {
                if (!group.Outcomes.TryAdd(member.Index, member.Value.ToArray()))
                {
                    continue;
                }

                if (!member.Success)
                {
                    if (group.State == JoinState.Open)
                    {
                        group.State = JoinState.Failed;
                        group.FailedIndex = member.Index;
                        group.FailedError = member.Value.ToArray();
                    }
                }
                else if (++group.Done == group.Total && group.State == JoinState.Open)
                {
                    group.State = JoinState.Done;
                }

                group.ExpiresAtMs = NowMs + (long)ttl.TotalMilliseconds;
            }

            JoinReply reply = group.State switch
            {
                JoinState.Failed => new JoinReply(JoinState.Failed, group.Spec, group.FailedIndex, group.FailedError, []),
                JoinState.Done => new JoinReply(JoinState.Done, group.Spec, -1, default, [.. Enumerable.Range(0, group.Total).Select(i => (ReadOnlyMemory<byte>)group.Outcomes[i])]),
                _ => JoinReply.Open,
            };
            return Task.FromResult(reply);
        }
    }

    /// <inheritdoc />
    public Task RemoveFollowUpsAsync(string queue, IReadOnlyList<string> keys, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(keys);
        lock (_gate)
        {
            Dictionary<string, (byte[], long)> outbox = OutboxLocked(queue);
            foreach (string key in keys)
            {
                outbox.Remove(key);
            }
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<FollowUp>> ClaimStaleFollowUpsAsync(string queue, DateTimeOffset olderThan, int max, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        long cutOff = olderThan.ToUnixTimeMilliseconds();
        var taken = new List<FollowUp>();
        lock (_gate)
        {
            Dictionary<string, (byte[] Payload, long ScoreMs)> outbox = OutboxLocked(queue);
            foreach ((string key, (byte[] payload, long score)) in outbox.OrderBy(e => e.Value.ScoreMs).ToList())
            {
                if (taken.Count >= max || score > cutOff)
                {
                    break;
                }

                outbox[key] = (payload, NowMs);
                taken.Add(new FollowUp(key, payload));
            }
        }

        return Task.FromResult<IReadOnlyList<FollowUp>>(taken);
    }

    private Dictionary<string, (byte[] Payload, long ScoreMs)> OutboxLocked(string queue)
    {
        if (!_outboxes.TryGetValue(queue, out Dictionary<string, (byte[], long)>? outbox))
        {
            outbox = new Dictionary<string, (byte[], long)>(StringComparer.Ordinal);
            _outboxes[queue] = outbox;
        }

        return outbox;
    }

    private sealed class GroupState(int total, byte[] spec)
    {
        public int Total { get; } = total;

        public byte[] Spec { get; } = spec;

        public int Done { get; set; }

        public JoinState State { get; set; } = JoinState.Open;

        public int FailedIndex { get; set; } = -1;

        public byte[]? FailedError { get; set; }

        public Dictionary<int, byte[]> Outcomes { get; } = [];

        public long ExpiresAtMs { get; set; }
    }

    private sealed class BatchState(byte[] spec)
    {
        public byte[] Spec { get; } = spec;

        public Dictionary<string, char> Members { get; } = new(StringComparer.Ordinal);

        public int Total { get; set; }

        public int Pending { get; set; }

        public int Succeeded { get; set; }

        public int Failed { get; set; }

        public bool Done { get; set; }

        /// <summary>Completed once, when <see cref="Done"/> is set (waiters of <see cref="WaitBatchAsync"/>).</summary>
        public TaskCompletionSource Completed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public long ExpiresAtMs { get; set; }

        public BatchStatus Status(string id) => new(id, Total, Pending, Succeeded, Failed, Done);
    }
}
