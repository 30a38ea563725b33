using Celeriac.Brokers;
using StackExchange.Redis;

namespace Celeriac.Redis;

internal sealed partial class RedisBroker
{
    /// <inheritdoc />
    public async Task<bool> RetryAsync(Delivery delivery, ReadOnlyMemory<byte> envelope, long dueAtMs, TaskResult state, TimeSpan ttl, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(delivery);
        ArgumentNullException.ThrowIfNull(state);
        cancellationToken.ThrowIfCancellationRequested();
        RedisValue[] args = [TokenOf(delivery), IdOf(delivery), envelope, dueAtMs, Ms(ttl), RedisResultCodec.Encode(delivery.Id, state, _time.GetUtcNow())];
        RedisResult reply = await Eval(
            RedisScripts.Retry,
            [TaskKeyOf(delivery), Keys.Active(delivery.Queue), Keys.Scheduled(delivery.Queue), ResultKeyOf(delivery), Keys.Notify(delivery.Queue)],
            args).ConfigureAwait(false);
        return (int)reply == 1;
    }

    /// <inheritdoc />
    public async Task RevokeAsync(string taskId, TimeSpan keepFor, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(taskId);
        cancellationToken.ThrowIfCancellationRequested();
        long now = NowMs;
        RedisValue[] args = [taskId, now + Ms(keepFor), now, RedisValue.EmptyString];

        // P:revoked first, the registry read after: a queue registered too late to be read here copies P:revoked after
        // its registration (RegisterQueuesAsync), so one of the two always reaches it.
        await Eval(RedisScripts.Revoke, [Keys.AllRevoked()], args).ConfigureAwait(false);
        RedisValue[] queues = await _db.SetMembersAsync(Keys.Queues()).ConfigureAwait(false);
        var calls = new Task[queues.Length];
        for (int i = 0; i < queues.Length; i++)
        {
            calls[i] = Eval(RedisScripts.Revoke, [Keys.Revoked((string)queues[i]!)], args);
        }

        await Task.WhenAll(calls).ConfigureAwait(false);

        // Announced once every set holds it: a worker told now finds it wherever it looks.
        await _db.PublishAsync(Keys.RevokeChannel(), taskId).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<string>> FindRevokedAsync(IReadOnlyList<Delivery> deliveries, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(deliveries);
        cancellationToken.ThrowIfCancellationRequested();
        if (deliveries.Count == 0)
        {
            return [];
        }

        // One read per queue (each queue's set lives in its own slot), all sent before any is awaited.
        var byQueue = new Dictionary<string, List<Delivery>>(StringComparer.Ordinal);
        foreach (Delivery delivery in deliveries)
        {
            if (!byQueue.TryGetValue(delivery.Queue, out List<Delivery>? list))
            {
                byQueue[delivery.Queue] = list = [];
            }

            list.Add(delivery);
        }

        var reads = new List<(List<Delivery> Deliveries, Task<double?[]> Scores)>(byQueue.Count);
        foreach ((string queue, List<Delivery> list) in byQueue)
        {
            var members = new RedisValue[list.Count];
            for (int i = 0; i < members.Length; i++)
            {
                members[i] = list[i].Id;
            }

            reads.Add((list, _db.SortedSetScoresAsync(Keys.Revoked(queue), members)));
        }

        long now = NowMs;
        List<string>? revoked = null;
        foreach ((List<Delivery> list, Task<double?[]> read) in reads)
        {
            double?[] scores = await read.ConfigureAwait(false);
            for (int i = 0; i < scores.Length; i++)
            {
                if (scores[i] is { } until && until > now)
                {
                    (revoked ??= []).Add(list[i].Id);
                }
            }
        }

        return revoked ?? (IReadOnlyList<string>)[];
    }

    /// <inheritdoc />
    public async Task RegisterQueuesAsync(IReadOnlyList<string> queues, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(queues);
        cancellationToken.ThrowIfCancellationRequested();
        foreach (string queue in queues)
        {
            await RegisterQueueAsync(queue).ConfigureAwait(false);
        }
    }

    /// <summary>The queues this broker has put in the registry (once per queue per process, never per message).</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> _registered = new(StringComparer.Ordinal);

    /// <summary>
    /// Adds <paramref name="queue"/> to the registry <c>P:queues</c>, then copies the revocations still remembered in
    /// <c>P:revoked</c> into the queue's own set: a revocation made before the queue was known reaches its fetches too.
    /// Done once per queue per process; the SADD first and the copy after is what makes a concurrent revoke safe (see
    /// <see cref="RevokeAsync"/>).
    /// </summary>
    private async Task RegisterQueueAsync(string queue)
    {
        if (_registered.ContainsKey(queue))
        {
            return;
        }

        RedisKey own = Keys.Revoked(queue); // refuses a name that cannot be a hash tag before anything is written
        await _db.SetAddAsync(Keys.Queues(), queue).ConfigureAwait(false);
        SortedSetEntry[] remembered = await _db.SortedSetRangeByScoreWithScoresAsync(Keys.AllRevoked(), NowMs, double.PositiveInfinity, Exclude.Start).ConfigureAwait(false);
        if (remembered.Length > 0)
        {
            await _db.SortedSetAddAsync(own, remembered, SortedSetWhen.GreaterThan).ConfigureAwait(false);
        }

        _registered[queue] = true;
    }

    /// <inheritdoc />
    public async Task SubscribeRevocationsAsync(Action<string> onRevoked, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(onRevoked);
        cancellationToken.ThrowIfCancellationRequested();

        // A hint only: a message lost during a reconnect is made up for by the worker's re-check (FindRevokedAsync).
        // SE.Redis resubscribes by itself after a reconnect.
        await _multiplexer.GetSubscriber().SubscribeAsync(Keys.RevokeChannel(), (_, message) =>
        {
            if (!message.IsNullOrEmpty)
            {
                onRevoked((string)message!);
            }
        }).ConfigureAwait(false);
    }
}
