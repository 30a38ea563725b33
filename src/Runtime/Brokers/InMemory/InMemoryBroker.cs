namespace Celeriac.Brokers.InMemory;

/// <summary>
/// The zero-setup broker and result store: everything lives in this process, with the same semantics as the Redis
/// broker (leases with fencing, ETA held in the broker, dead letters, results with TTL, notification-driven waits).
/// One lock guards the state; waiters are woken through task completion sources, never by polling.
/// </summary>
internal sealed partial class InMemoryBroker : ITaskBroker
{
    private readonly object _gate = new();
    private readonly TimeProvider _time;
    private readonly Dictionary<string, QueueState> _queues = new(StringComparer.Ordinal);
    private readonly Dictionary<string, StoredMessage> _messages = new(StringComparer.Ordinal);
    private readonly Dictionary<string, StoredResult> _results = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<TaskCompletionSource>> _resultWaiters = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _revoked = new(StringComparer.Ordinal);
    private readonly List<Action<string>> _revocationHandlers = [];
    private TaskCompletionSource _queueSignal = NewSignal();
    private long _leaseCounter;

    public InMemoryBroker(TimeProvider time) => _time = time;

    public string Name => "in-memory";

    private long NowMs => _time.GetUtcNow().ToUnixTimeMilliseconds();

    public Task EnqueueAsync(IReadOnlyList<EnqueueItem> items, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            foreach (EnqueueItem item in items)
            {
                if (_messages.ContainsKey(item.Id))
                {
                    throw new InvalidOperationException($"A task with id '{item.Id}' is already queued or running.");
                }
            }

            long now = NowMs;
            foreach (EnqueueItem item in items)
            {
                _messages[item.Id] = new StoredMessage(item.Id, item.Queue, item.Envelope.ToArray()) { Priority = Math.Clamp(item.Priority, 0, 9) };
                QueueState queue = GetQueue(item.Queue);
                if (item.DueAtMs > now)
                {
                    queue.Scheduled.Add((item.DueAtMs, item.Id));
                }
                else
                {
                    queue.Pending.AddLast(item.Id, _messages[item.Id].Priority);
                }
            }

            SignalQueues();
        }

        return Task.CompletedTask;
    }

    public async Task<int> FetchAsync(FetchRequest request, List<Delivery> into, CancellationToken cancellationToken)
    {
        Task signal;
        long waitMs;
        lock (_gate)
        {
            int got = TakeLocked(request, into, out long nextDue);
            if (got > 0 || request.MaxWait <= TimeSpan.Zero)
            {
                return got;
            }

            signal = _queueSignal.Task;
            waitMs = (long)request.MaxWait.TotalMilliseconds;
            if (nextDue > 0)
            {
                waitMs = Math.Clamp(nextDue - NowMs, 1, waitMs);
            }
        }

        try
        {
            await signal.WaitAsync(TimeSpan.FromMilliseconds(waitMs), _time, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return 0;
        }

        lock (_gate)
        {
            return TakeLocked(request, into, out _);
        }
    }

    private int TakeLocked(FetchRequest request, List<Delivery> into, out long nextDue)
    {
        long now = NowMs;
        int taken = 0;
        long bytes = 0; // of the messages leased so far, against FetchRequest.MaxBytes (at least one is leased)
        nextDue = 0;
        foreach (string queueName in request.Queues)
        {
            QueueState queue = GetQueue(queueName);
            PromoteAndReclaimLocked(queue, now);
            while (taken < request.MaxCount && (request.MaxBytes <= 0 || bytes < request.MaxBytes) && queue.Pending.TryTakeFirst(out string? pendingId))
            {
                if (!_messages.TryGetValue(pendingId, out StoredMessage? message))
                {
                    continue;
                }

                message.DeliveryCount++;
                message.LeaseToken = $"{request.WorkerId}:{message.DeliveryCount}:{++_leaseCounter}";
                message.LeaseDeadlineMs = now + (long)request.Lease.TotalMilliseconds;
                queue.Active.Add(message.Id);
                bool revoked = _revoked.TryGetValue(message.Id, out long until) && until > now;
                bool start = taken < request.StartCount;
                into.Add(new Delivery { Id = message.Id, Queue = queueName, Envelope = message.Envelope, DeliveryCount = message.DeliveryCount, LeaseToken = message.LeaseToken, Revoked = revoked, Runs = message.Runs, RunStarted = start });
                bytes += message.Envelope.Length;
                if (start)
                {
                    message.Runs++;
                }

                taken++;
            }

            if (queue.Scheduled.Count > 0 && (nextDue == 0 || queue.Scheduled.Min.DueMs < nextDue))
            {
                nextDue = queue.Scheduled.Min.DueMs;
            }
        }

        return taken;
    }

    private void PromoteAndReclaimLocked(QueueState queue, long now)
    {
        while (queue.Scheduled.Count > 0 && queue.Scheduled.Min.DueMs <= now)
        {
            (long _, string id) = queue.Scheduled.Min;
            queue.Scheduled.Remove(queue.Scheduled.Min);
            queue.Pending.AddFirst(id, PriorityOf(id));
        }

        if (queue.Active.Count == 0)
        {
            return;
        }

        List<string>? expired = null;
        foreach (string id in queue.Active)
        {
            if (_messages.TryGetValue(id, out StoredMessage? message) && message.LeaseDeadlineMs <= now)
            {
                (expired ??= []).Add(id);
            }
        }

        if (expired is null)
        {
            return;
        }

        foreach (string id in expired)
        {
            queue.Active.Remove(id);
            _messages[id].LeaseToken = null;
            queue.Pending.AddFirst(id, PriorityOf(id));
        }
    }

    public Task<int> ExtendLeasesAsync(IReadOnlyList<Delivery> deliveries, TimeSpan lease, CancellationToken cancellationToken)
    {
        int held = 0;
        lock (_gate)
        {
            long deadline = NowMs + (long)lease.TotalMilliseconds;
            foreach (Delivery delivery in deliveries)
            {
                if (HoldsLeaseLocked(delivery, out StoredMessage? message))
                {
                    message.LeaseDeadlineMs = deadline;
                    held++;
                }
            }
        }

        return Task.FromResult(held);
    }

    public IReadOnlyList<Task> StartExtendLeases(IReadOnlyList<Delivery> deliveries, TimeSpan lease)
        => [ExtendLeasesAsync(deliveries, lease, CancellationToken.None)];

    /// <summary>One item of <see cref="CompleteManyAsync"/>: fenced by the lease.</summary>
    private bool Complete(Delivery delivery, TaskResult result, TimeSpan ttl)
    {
        List<TaskCompletionSource>? waiters;
        lock (_gate)
        {
            if (!HoldsLeaseLocked(delivery, out _))
            {
                return false;
            }

            GetQueue(delivery.Queue).Active.Remove(delivery.Id);
            _messages.Remove(delivery.Id);
            waiters = StoreFinalLocked(delivery.Id, result, ttl);
        }

        Wake(waiters);
        return true;
    }

    public Task ReleaseAsync(IReadOnlyList<Delivery> deliveries, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            foreach (Delivery delivery in deliveries)
            {
                if (HoldsLeaseLocked(delivery, out StoredMessage? message))
                {
                    QueueState queue = GetQueue(delivery.Queue);
                    queue.Active.Remove(delivery.Id);
                    message.LeaseToken = null;
                    if (delivery.RunStarted && message.Runs > 0)
                    {
                        message.Runs--;
                    }

                    queue.Pending.AddFirst(delivery.Id, message.Priority);
                }
            }

            SignalQueues();
        }

        return Task.CompletedTask;
    }

    public Task<bool> DeadLetterAsync(Delivery delivery, string reason, TaskResult? result, TimeSpan ttl, CancellationToken cancellationToken)
    {
        List<TaskCompletionSource>? waiters = null;
        lock (_gate)
        {
            if (!HoldsLeaseLocked(delivery, out StoredMessage? message))
            {
                return Task.FromResult(false);
            }

            QueueState queue = GetQueue(delivery.Queue);
            queue.Active.Remove(delivery.Id);
            message.LeaseToken = null;
            message.DeadReason = reason;
            message.DeadAtMs = NowMs;
            queue.Dead.Add(delivery.Id);
            if (result is not null)
            {
                waiters = StoreFinalLocked(delivery.Id, result, ttl);
            }
        }

        Wake(waiters);
        return Task.FromResult(true);
    }

    public Task<bool> RetryAsync(Delivery delivery, ReadOnlyMemory<byte> envelope, long dueAtMs, TaskResult state, TimeSpan ttl, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (!HoldsLeaseLocked(delivery, out StoredMessage? message))
            {
                return Task.FromResult(false);
            }

            QueueState queue = GetQueue(delivery.Queue);
            queue.Active.Remove(delivery.Id);
            message.LeaseToken = null;
            message.Envelope = envelope.ToArray();
            message.DeliveryCount = 0;
            message.Runs = 0;
            queue.Scheduled.Add((dueAtMs, delivery.Id));
            if (!(TryGetLiveResultLocked(delivery.Id, out TaskResult? current) && current.IsReady))
            {
                _results[delivery.Id] = new StoredResult(Own(state), NowMs + (long)ttl.TotalMilliseconds);
            }

            SignalQueues();
        }

        return Task.FromResult(true);
    }

    /// <summary>One item of <see cref="MarkStartedManyAsync"/>: fenced by the lease.</summary>
    private int MarkStarted(Delivery delivery, TaskResult? state, TimeSpan ttl)
    {
        lock (_gate)
        {
            if (!HoldsLeaseLocked(delivery, out StoredMessage? message))
            {
                return 0;
            }

            message.Runs++;
            if (state is not null && !(TryGetLiveResultLocked(delivery.Id, out TaskResult? current) && current.IsReady))
            {
                _results[delivery.Id] = new StoredResult(Own(state), NowMs + (long)ttl.TotalMilliseconds);
            }

            return message.Runs;
        }
    }

    public Task RevokeAsync(string taskId, TimeSpan keepFor, CancellationToken cancellationToken)
    {
        Action<string>[] handlers;
        lock (_gate)
        {
            long now = NowMs;
            List<string>? forgotten = null;
            foreach ((string id, long until) in _revoked)
            {
                if (until <= now)
                {
                    (forgotten ??= []).Add(id);
                }
            }

            forgotten?.ForEach(id => _revoked.Remove(id));
            long keep = now + Math.Max(1, (long)keepFor.TotalMilliseconds);
            _revoked[taskId] = _revoked.TryGetValue(taskId, out long existing) ? Math.Max(existing, keep) : keep;
            handlers = [.. _revocationHandlers];
        }

        foreach (Action<string> handler in handlers)
        {
            handler(taskId);
        }

        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<string>> FindRevokedAsync(IReadOnlyList<Delivery> deliveries, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            long now = NowMs;
            return Task.FromResult<IReadOnlyList<string>>([.. deliveries.Select(d => d.Id).Where(id => _revoked.TryGetValue(id, out long until) && until > now)]);
        }
    }

    // One process holds every queue and result: there is no registry to keep.
    public Task RegisterQueuesAsync(IReadOnlyList<string> queues, CancellationToken cancellationToken) => Task.CompletedTask;

    public Task SubscribeRevocationsAsync(Action<string> onRevoked, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            _revocationHandlers.Add(onRevoked);
        }

        return Task.CompletedTask;
    }

    public Task<TaskResult> GetResultAsync(string taskId, string? queue, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult(TryGetLiveResultLocked(taskId, out TaskResult? result) ? result : TaskResult.Pending);
        }
    }

    public async Task<TaskResult> WaitResultAsync(string taskId, string? queue, TimeSpan timeout, CancellationToken cancellationToken)
    {
        TaskCompletionSource waiter;
        lock (_gate)
        {
            if (TryGetLiveResultLocked(taskId, out TaskResult? ready) && ready.IsReady)
            {
                return ready;
            }

            waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            if (!_resultWaiters.TryGetValue(taskId, out List<TaskCompletionSource>? list))
            {
                _resultWaiters[taskId] = list = [];
            }

            list.Add(waiter);
        }

        try
        {
            await waiter.Task.WaitAsync(timeout, _time, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }
        finally
        {
            lock (_gate)
            {
                if (_resultWaiters.TryGetValue(taskId, out List<TaskCompletionSource>? list) && list.Remove(waiter) && list.Count == 0)
                {
                    _resultWaiters.Remove(taskId);
                }
            }
        }

        return await GetResultAsync(taskId, queue, cancellationToken).ConfigureAwait(false);
    }

    public Task<long> GetQueueLengthAsync(string queue, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult((long)GetQueue(queue).Pending.Count);
        }
    }

    public Task<IReadOnlyList<DeadLetter>> GetDeadLettersAsync(string queue, int max, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var letters = new List<DeadLetter>();
            foreach (string id in GetQueue(queue).Dead)
            {
                if (letters.Count >= max)
                {
                    break;
                }

                StoredMessage message = _messages[id];
                letters.Add(DeadLetter.Read(id, queue, message.DeadReason ?? "unknown", DateTimeOffset.FromUnixTimeMilliseconds(message.DeadAtMs), message.Envelope));
            }

            return Task.FromResult<IReadOnlyList<DeadLetter>>(letters);
        }
    }

    public Task<long> PurgeDeadLettersAsync(string queue, IReadOnlyList<string>? ids, CancellationToken cancellationToken)
    {
        long purged = 0;
        lock (_gate)
        {
            QueueState state = GetQueue(queue);
            foreach (string id in ids ?? [.. state.Dead])
            {
                if (state.Dead.Remove(id))
                {
                    _messages.Remove(id);
                    purged++;
                }
            }
        }

        return Task.FromResult(purged);
    }

    public Task<int> RequeueDeadLettersAsync(string queue, IReadOnlyList<string> ids, CancellationToken cancellationToken)
    {
        int requeued = 0;
        lock (_gate)
        {
            QueueState state = GetQueue(queue);
            foreach (string id in ids)
            {
                if (state.Dead.Remove(id))
                {
                    StoredMessage message = _messages[id];
                    message.DeadReason = null;
                    message.DeliveryCount = 0;
                    message.Runs = 0;
                    message.Envelope = Protocol.EnvelopeFormats.For(message.Envelope).ResetRetries(message.Envelope) ?? message.Envelope; // a fresh start: its retries were spent
                    _results.Remove(id); // the dead-letter FAILURE no longer describes the task
                    state.Pending.AddLast(id, message.Priority);
                    requeued++;
                }
            }

            SignalQueues();
        }

        return Task.FromResult(requeued);
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private QueueState GetQueue(string name)
    {
        if (!_queues.TryGetValue(name, out QueueState? queue))
        {
            _queues[name] = queue = new QueueState();
        }

        return queue;
    }

    private bool HoldsLeaseLocked(Delivery delivery, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out StoredMessage? message)
        => _messages.TryGetValue(delivery.Id, out message) && message.LeaseToken == delivery.LeaseToken && message.LeaseToken is not null;

    private bool TryGetLiveResultLocked(string taskId, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out TaskResult? result)
    {
        if (_results.TryGetValue(taskId, out StoredResult? stored))
        {
            if (stored.ExpiresAtMs > NowMs)
            {
                result = stored.Result;
                return true;
            }

            _results.Remove(taskId);
        }

        result = null;
        return false;
    }

    private List<TaskCompletionSource>? StoreFinalLocked(string taskId, TaskResult result, TimeSpan ttl)
    {
        _results[taskId] = new StoredResult(Own(result), NowMs + (long)ttl.TotalMilliseconds);
        if (_resultWaiters.Remove(taskId, out List<TaskCompletionSource>? waiters))
        {
            return waiters;
        }

        return null;
    }

    private static void Wake(List<TaskCompletionSource>? waiters)
    {
        if (waiters is null)
        {
            return;
        }

        foreach (TaskCompletionSource waiter in waiters)
        {
            waiter.TrySetResult();
        }
    }

    private void SignalQueues()
    {
        TaskCompletionSource previous = _queueSignal;
        _queueSignal = NewSignal();
        previous.TrySetResult();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private int PriorityOf(string id) => _messages.TryGetValue(id, out StoredMessage? message) ? message.Priority : 0;

    /// <summary>Runnable ids of one queue: one FIFO per priority level, the highest level served first (as the Redis pending:p lists).</summary>
    private sealed class PendingLists
    {
        private readonly LinkedList<string>[] _levels = [.. Enumerable.Range(0, 10).Select(_ => new LinkedList<string>())];

        public int Count => _levels.Sum(l => l.Count);

        public void AddLast(string id, int priority) => _levels[priority].AddLast(id);

        public void AddFirst(string id, int priority) => _levels[priority].AddFirst(id);

        public bool TryTakeFirst([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out string? id)
        {
            for (int p = 9; p >= 0; p--)
            {
                if (_levels[p].First is { } node)
                {
                    _levels[p].RemoveFirst();
                    id = node.Value;
                    return true;
                }
            }

            id = null;
            return false;
        }
    }

    private sealed class QueueState
    {
        public PendingLists Pending { get; } = new();
        public SortedSet<(long DueMs, string Id)> Scheduled { get; } = new();
        public HashSet<string> Active { get; } = new(StringComparer.Ordinal);
        public List<string> Dead { get; } = [];
    }

    private sealed class StoredMessage(string id, string queue, byte[] envelope)
    {
        public string Id { get; } = id;
        public string Queue { get; } = queue;
        public int Priority { get; init; }
        public byte[] Envelope { get; set; } = envelope;
        public int DeliveryCount { get; set; }
        public int Runs { get; set; }
        public string? LeaseToken { get; set; }
        public long LeaseDeadlineMs { get; set; }
        public string? DeadReason { get; set; }
        public long DeadAtMs { get; set; }
    }

    private sealed record StoredResult(TaskResult Result, long ExpiresAtMs);

    /// <summary>The result with a value of its own: the worker's value may live in a buffer it reuses once the call returns (as Redis copies it).</summary>
    private static TaskResult Own(TaskResult result) => result.Value.IsEmpty ? result : new TaskResult
    {
        State = result.State,
        Value = result.Value.ToArray(),
        Error = result.Error,
        TaskName = result.TaskName,
        Retries = result.Retries,
        Timestamp = result.Timestamp,
        Worker = result.Worker,
    };
}
