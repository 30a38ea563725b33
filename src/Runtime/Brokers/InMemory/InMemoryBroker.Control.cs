namespace Celeriac.Brokers.InMemory;

/// <summary>The worker registry and the control commands (<see cref="IWorkerControl"/>), with the Redis broker's semantics: entries and lists expire.</summary>
internal sealed partial class InMemoryBroker : IWorkerControl
{
    private readonly Dictionary<string, (byte[] Record, long ExpiresAtMs)> _workers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ExpiringList> _commandLists = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ExpiringList> _replyLists = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<Action>> _commandHints = new(StringComparer.Ordinal);

    public Task HeartbeatWorkerAsync(string workerId, ReadOnlyMemory<byte> record, long expiresAtMs, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(workerId);
        lock (_gate)
        {
            _workers[workerId] = (record.ToArray(), expiresAtMs);
            long now = NowMs;
            foreach (string stale in _workers.Where(w => w.Value.ExpiresAtMs <= now).Select(w => w.Key).ToList())
            {
                _workers.Remove(stale);
            }
        }

        return Task.CompletedTask;
    }

    public Task RemoveWorkerAsync(string workerId, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            _workers.Remove(workerId);
            _commandLists.Remove(workerId);
        }

        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<(ReadOnlyMemory<byte> Record, long ExpiresAtMs)>> ListWorkersAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            long now = NowMs;
            return Task.FromResult<IReadOnlyList<(ReadOnlyMemory<byte>, long)>>(
                [.. _workers.Values.Where(w => w.ExpiresAtMs > now).Select(w => ((ReadOnlyMemory<byte>)w.Record, w.ExpiresAtMs))]);
        }
    }

    public Task SendCommandAsync(IReadOnlyList<string> workerIds, ReadOnlyMemory<byte> command, long expiresAtMs, CancellationToken cancellationToken)
    {
        var hints = new List<Action>();
        lock (_gate)
        {
            foreach (string worker in workerIds)
            {
                Push(_commandLists, worker, command, expiresAtMs);
                if (_commandHints.TryGetValue(worker, out List<Action>? handlers))
                {
                    hints.AddRange(handlers);
                }
            }
        }

        foreach (Action hint in hints)
        {
            hint(); // outside the lock, as a notification from Redis would arrive
        }

        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<ReadOnlyMemory<byte>>> TakeCommandsAsync(string workerId, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult(TakeAll(_commandLists, workerId));
        }
    }

    public Task SubscribeCommandsAsync(string workerId, Action onHint, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (!_commandHints.TryGetValue(workerId, out List<Action>? handlers))
            {
                _commandHints[workerId] = handlers = [];
            }

            handlers.Add(onHint);
        }

        return Task.CompletedTask;
    }

    public Task ReplyAsync(string requestId, ReadOnlyMemory<byte> reply, long expiresAtMs, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            Push(_replyLists, requestId, reply, expiresAtMs);
        }

        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<ReadOnlyMemory<byte>>> TakeRepliesAsync(string requestId, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult(TakeAll(_replyLists, requestId));
        }
    }

    private void Push(Dictionary<string, ExpiringList> lists, string key, ReadOnlyMemory<byte> entry, long expiresAtMs)
    {
        long now = NowMs;
        if (!lists.TryGetValue(key, out ExpiringList? list) || list.ExpiresAtMs <= now)
        {
            lists[key] = list = new ExpiringList();
        }

        list.Entries.Add(entry.ToArray());
        list.ExpiresAtMs = Math.Max(list.ExpiresAtMs, expiresAtMs);

        // Forget the lists that expired (Redis expires them by itself).
        foreach (string expired in lists.Where(l => l.Value.ExpiresAtMs <= now).Select(l => l.Key).ToList())
        {
            lists.Remove(expired);
        }
    }

    private IReadOnlyList<ReadOnlyMemory<byte>> TakeAll(Dictionary<string, ExpiringList> lists, string key)
    {
        if (!lists.Remove(key, out ExpiringList? list) || list.ExpiresAtMs <= NowMs)
        {
            return [];
        }

        return [.. list.Entries.Select(e => (ReadOnlyMemory<byte>)e)];
    }

    private sealed class ExpiringList
    {
        public List<byte[]> Entries { get; } = [];

        public long ExpiresAtMs { get; set; }
    }
}
