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
        RedisResult reply = await _db.ScriptEvaluateAsync(
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
        await _db.ScriptEvaluateAsync(
            RedisScripts.Revoke,
            [Keys.Revoked()],
            [taskId, now + Ms(keepFor), now, Prefix + ":revoke"]).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<string>> FindRevokedAsync(IReadOnlyList<string> taskIds, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(taskIds);
        cancellationToken.ThrowIfCancellationRequested();
        if (taskIds.Count == 0)
        {
            return [];
        }

        var members = new RedisValue[taskIds.Count];
        for (int i = 0; i < members.Length; i++)
        {
            members[i] = taskIds[i];
        }

        double?[] scores = await _db.SortedSetScoresAsync(Keys.Revoked(), members).ConfigureAwait(false);
        long now = NowMs;
        List<string>? revoked = null;
        for (int i = 0; i < scores.Length; i++)
        {
            if (scores[i] is { } until && until > now)
            {
                (revoked ??= []).Add(taskIds[i]);
            }
        }

        return revoked ?? (IReadOnlyList<string>)[];
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

    private string Prefix => Keys.Prefix;
}
