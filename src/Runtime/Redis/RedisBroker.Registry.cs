using Celeriac.Brokers;
using StackExchange.Redis;

namespace Celeriac.Redis;

/// <summary>The worker registry and the control commands (<see cref="IWorkerControl"/>): every key in the <c>{workers}</c> slot.</summary>
internal sealed partial class RedisBroker : IWorkerControl
{
    /// <inheritdoc />
    public async Task HeartbeatWorkerAsync(string workerId, ReadOnlyMemory<byte> record, long expiresAtMs, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(workerId);
        cancellationToken.ThrowIfCancellationRequested();
        await Eval(RedisScripts.WorkerHeartbeat, [Keys.WorkerRegistry(), Keys.WorkerInfo()], [workerId, expiresAtMs, NowMs, record]).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task RemoveWorkerAsync(string workerId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(workerId);
        cancellationToken.ThrowIfCancellationRequested();
        await Eval(RedisScripts.RemoveWorker, [Keys.WorkerRegistry(), Keys.WorkerInfo(), Keys.WorkerCommands(workerId)], [workerId]).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<(ReadOnlyMemory<byte> Record, long ExpiresAtMs)>> ListWorkersAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        RedisResult reply = await Eval(RedisScripts.ListWorkers, [Keys.WorkerRegistry(), Keys.WorkerInfo()], [NowMs]).ConfigureAwait(false);
        RedisResult[] flat = (RedisResult[])reply!;
        var workers = new List<(ReadOnlyMemory<byte>, long)>(flat.Length / 2);
        for (int i = 0; i + 1 < flat.Length; i += 2)
        {
            workers.Add(((byte[])flat[i]!, (long)double.Parse((string)flat[i + 1]!, System.Globalization.CultureInfo.InvariantCulture)));
        }

        return workers;
    }

    /// <inheritdoc />
    public async Task SendCommandAsync(IReadOnlyList<string> workerIds, ReadOnlyMemory<byte> command, long expiresAtMs, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(workerIds);
        cancellationToken.ThrowIfCancellationRequested();

        // Queued first, hinted after: a worker hinted finds the command; one whose hint is lost finds it at its next heartbeat.
        var pushes = new Task[workerIds.Count];
        for (int i = 0; i < pushes.Length; i++)
        {
            pushes[i] = Eval(RedisScripts.PushExpiring, [Keys.WorkerCommands(workerIds[i])], [command, expiresAtMs]);
        }

        await Task.WhenAll(pushes).ConfigureAwait(false);
        ISubscriber subscriber = _multiplexer.GetSubscriber();
        var hints = new Task[workerIds.Count];
        for (int i = 0; i < hints.Length; i++)
        {
            hints[i] = subscriber.PublishAsync(Keys.ControlChannel(workerIds[i]), RedisValue.EmptyString);
        }

        await Task.WhenAll(hints).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<ReadOnlyMemory<byte>>> TakeCommandsAsync(string workerId, CancellationToken cancellationToken)
        => TakeAllAsync(Keys.WorkerCommands(workerId), cancellationToken);

    /// <inheritdoc />
    public async Task SubscribeCommandsAsync(string workerId, Action onHint, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(onHint);
        cancellationToken.ThrowIfCancellationRequested();

        // A hint only: a lost one is made up for by the worker's next heartbeat, which takes its queued commands too.
        await _multiplexer.GetSubscriber().SubscribeAsync(Keys.ControlChannel(workerId), (_, _) => onHint()).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task ReplyAsync(string requestId, ReadOnlyMemory<byte> reply, long expiresAtMs, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(requestId);
        cancellationToken.ThrowIfCancellationRequested();
        await Eval(RedisScripts.PushExpiring, [Keys.ControlReplies(requestId)], [reply, expiresAtMs]).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<ReadOnlyMemory<byte>>> TakeRepliesAsync(string requestId, CancellationToken cancellationToken)
        => TakeAllAsync(Keys.ControlReplies(requestId), cancellationToken);

    /// <summary>Pops every entry of a list (at most 1000 per call), oldest first.</summary>
    private async Task<IReadOnlyList<ReadOnlyMemory<byte>>> TakeAllAsync(RedisKey key, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        RedisValue[] values = await _db.ListLeftPopAsync(key, 1000).ConfigureAwait(false);
        if (values.Length == 0)
        {
            return [];
        }

        var taken = new ReadOnlyMemory<byte>[values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            taken[i] = (byte[])values[i]!;
        }

        return taken;
    }
}
