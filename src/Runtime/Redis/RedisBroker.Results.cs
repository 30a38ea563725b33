using Celeriac.Brokers;
using MessagePack;
using StackExchange.Redis;

namespace Celeriac.Redis;

internal sealed partial class RedisBroker
{
    /// <inheritdoc />
    public async Task<bool> DeadLetterAsync(Delivery delivery, string reason, TaskResult? result, TimeSpan ttl, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(delivery);
        ArgumentNullException.ThrowIfNull(reason);
        cancellationToken.ThrowIfCancellationRequested();
        DateTimeOffset now = _time.GetUtcNow();
        RedisValue[] args =
        [
            TokenOf(delivery), IdOf(delivery), reason, now.ToUnixTimeMilliseconds(), Ms(ttl), DoneChannelOf(delivery),
            result is null ? RedisValue.EmptyString : RedisResultCodec.StateName(result.State),
            delivery.ReplyTo ?? string.Empty,
            result is null ? RedisValue.EmptyString : RedisResultCodec.Encode(delivery.Id, result, now),
        ];
        RedisResult reply = await Eval(
            RedisScripts.DeadLetter,
            [TaskKeyOf(delivery), Keys.Active(delivery.Queue), Keys.Dead(delivery.Queue), ResultKeyOf(delivery)],
            args).ConfigureAwait(false);
        return (int)reply == 1;
    }

    /// <inheritdoc />
    public async Task<TaskResult> GetResultAsync(string taskId, string? queue, CancellationToken cancellationToken)
    {
        try
        {
            return await ReadResultAsync(taskId, queue, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (RedisErrors.IsUnavailable(ex))
        {
            throw BrokerUnavailableException.Unreadable(taskId, ex);
        }
    }

    /// <summary>Reads a result record (<see cref="GetResultAsync"/>), letting the client library's errors through.</summary>
    private async Task<TaskResult> ReadResultAsync(string taskId, string? queue, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();

        // The queue's key first, and the key of protocol version 1 beside it (records written before an upgrade stay
        // readable for their TTL): all reads are sent before any is awaited, so one round trip on one server.
        if (queue is not null)
        {
            Task<RedisValue> current = _db.HashGetAsync(Keys.Result(queue, taskId), RedisResultCodec.RecordField);
            Task<RedisValue> legacy = _db.HashGetAsync(Keys.LegacyResult(taskId), RedisResultCodec.RecordField);
            return await FirstRecordAsync(taskId, [current], legacy).ConfigureAwait(false);
        }

        // The id only: the result is in the slot of the queue the task was sent to, one of those in the registry. The
        // reads go out together; under Cluster each to its own node.
        RedisValue[] queues = await _db.SetMembersAsync(Keys.Queues()).ConfigureAwait(false);
        var reads = new Task<RedisValue>[queues.Length];
        for (int i = 0; i < queues.Length; i++)
        {
            reads[i] = _db.HashGetAsync(Keys.Result((string)queues[i]!, taskId), RedisResultCodec.RecordField);
        }

        Task<RedisValue> legacyRead = _db.HashGetAsync(Keys.LegacyResult(taskId), RedisResultCodec.RecordField);
        return await FirstRecordAsync(taskId, reads, legacyRead).ConfigureAwait(false);
    }

    /// <summary>The first record found among <paramref name="reads"/>, else the one at the version 1 key, else PENDING.</summary>
    private static async Task<TaskResult> FirstRecordAsync(string taskId, Task<RedisValue>[] reads, Task<RedisValue> legacy)
    {
        foreach (Task<RedisValue> read in reads)
        {
            if (await read.ConfigureAwait(false) is { IsNull: false } record)
            {
                return Decode(taskId, record);
            }
        }

        // No record at the queue's key: one written by layout 1, or nothing stored yet (PENDING).
        return await legacy.ConfigureAwait(false) is { IsNull: false } old ? Decode(taskId, old) : TaskResult.Pending;
    }

    private static TaskResult Decode(string taskId, RedisValue record)
    {
        try
        {
            return RedisResultCodec.Decode((byte[])record!, out _);
        }
        catch (MessagePackSerializationException ex)
        {
            throw new InvalidDataException($"The result record of task '{taskId}' cannot be read: {ex.Message}", ex);
        }
    }

    /// <inheritdoc />
    /// <remarks>
    /// A wait rides out an outage: while the broker cannot be read it keeps trying (woken when the connection is
    /// restored, and at least every 250 ms) until its timeout, and only then throws <see cref="BrokerUnavailableException"/>.
    /// </remarks>
    public Task<TaskResult> WaitResultAsync(string taskId, string? queue, TimeSpan timeout, CancellationToken cancellationToken)
        => RideOutOutageAsync(
            left => WaitOnceAsync(taskId, queue, left, cancellationToken),
            timeout,
            ex => ex as BrokerUnavailableException ?? BrokerUnavailableException.Unreadable(taskId, ex),
            cancellationToken);

    /// <summary>
    /// Runs <paramref name="attempt"/> (given the time left) again while the broker cannot be read, pausing until the
    /// connection may be back (at most 250 ms), until <paramref name="timeout"/>; then throws what
    /// <paramref name="giveUp"/> makes of the last failure.
    /// </summary>
    private async Task<T> RideOutOutageAsync<T>(Func<TimeSpan, Task<T>> attempt, TimeSpan timeout, Func<Exception, Exception> giveUp, CancellationToken cancellationToken)
    {
        long started = _time.GetTimestamp();
        while (true)
        {
            try
            {
                return await attempt(timeout - _time.GetElapsedTime(started)).ConfigureAwait(false);
            }
            catch (Exception ex) when (RedisErrors.IsUnavailable(ex) || ex is BrokerUnavailableException)
            {
                TimeSpan remaining = timeout - _time.GetElapsedTime(started);
                if (remaining <= TimeSpan.Zero)
                {
                    Exception thrown = giveUp(ex);
                    if (ReferenceEquals(thrown, ex))
                    {
                        System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(ex); // as it was, with its stack
                    }

                    throw thrown;
                }

                await Task.Delay(remaining < TimeSpan.FromMilliseconds(250) ? remaining : TimeSpan.FromMilliseconds(250), _time, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private async Task<TaskResult> WaitOnceAsync(string taskId, string? queue, TimeSpan timeout, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (timeout <= TimeSpan.Zero)
        {
            return await GetResultAsync(taskId, queue, cancellationToken).ConfigureAwait(false);
        }

        if (IsOwnTaskId(taskId) && await TryWaitReplyAsync(taskId, queue, timeout, cancellationToken).ConfigureAwait(false) is { } replied)
        {
            return replied;
        }

        // An id made elsewhere (a handle re-created from an id, a caller-chosen id): woken through P:done:<id>.
        return await WaitOnChannelAsync(Keys.DoneChannel(taskId), ct => GetResultAsync(taskId, queue, ct), static r => r.IsReady, timeout, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Reads until <paramref name="ready"/> holds or <paramref name="timeout"/> has passed, reading again whenever
    /// <paramref name="channel"/> is published to or the connection is restored (pub/sub is only a hint: a message lost
    /// in an outage is made up for by the read after the restore, and the last read comes at the deadline). Returns the
    /// last read.
    /// </summary>
    private async Task<T> WaitOnChannelAsync<T>(RedisChannel channel, Func<CancellationToken, Task<T>> read, Func<T, bool> ready, TimeSpan timeout, CancellationToken cancellationToken)
    {
        long started = _time.GetTimestamp();
        var signal = new WakeSignal();
        ISubscriber subscriber = _multiplexer.GetSubscriber();
        Action<RedisChannel, RedisValue> onMessage = (_, _) => signal.Set();
        EventHandler<ConnectionFailedEventArgs> onRestored = (_, _) => signal.Set();

        // Subscribe first, then read: a change between the two is then either in the read or in a message.
        await subscriber.SubscribeAsync(channel, onMessage).ConfigureAwait(false);
        _multiplexer.ConnectionRestored += onRestored;
        try
        {
            while (true)
            {
                Task woken = signal.Arm();
                T value = await read(cancellationToken).ConfigureAwait(false);
                TimeSpan remaining = timeout - _time.GetElapsedTime(started);
                if (ready(value) || remaining <= TimeSpan.Zero)
                {
                    return value;
                }

                try
                {
                    await woken.WaitAsync(remaining, _time, cancellationToken).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                    // Pub/sub is only a hint: the loop reads once more and then returns.
                }
            }
        }
        finally
        {
            _multiplexer.ConnectionRestored -= onRestored;
            try
            {
                await subscriber.UnsubscribeAsync(channel, onMessage).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is RedisConnectionException or RedisTimeoutException or ObjectDisposedException)
            {
                // The subscription dies with the connection anyway.
            }
        }
    }

    /// <summary>A re-armable wake-up: each <see cref="Arm"/> returns a task that the next <see cref="Set"/> completes.</summary>
    private sealed class WakeSignal
    {
        private TaskCompletionSource _current = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Arm()
        {
            TaskCompletionSource current = Volatile.Read(ref _current);
            if (current.Task.IsCompleted)
            {
                var fresh = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                Interlocked.CompareExchange(ref _current, fresh, current);
            }

            return Volatile.Read(ref _current).Task;
        }

        public void Set() => Volatile.Read(ref _current).TrySetResult();
    }
}
