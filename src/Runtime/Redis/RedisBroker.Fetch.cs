using System.Globalization;
using Celeriac.Brokers;
using StackExchange.Redis;

namespace Celeriac.Redis;

internal sealed partial class RedisBroker
{
    /// <inheritdoc />
    public async Task<int> FetchAsync(FetchRequest request, List<Delivery> into, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(into);
        cancellationToken.ThrowIfCancellationRequested();
        if (request.MaxCount <= 0 || request.Queues.Count == 0)
        {
            return 0;
        }

        (int taken, long nextDueMs) = await FetchReadyAsync(request, into).ConfigureAwait(false);
        if (taken > 0 || request.MaxWait <= TimeSpan.Zero)
        {
            return taken;
        }

        TimeSpan wait = request.MaxWait < MaxBlockingWait ? request.MaxWait : MaxBlockingWait;
        bool untilDue = false;
        if (nextDueMs >= 0)
        {
            TimeSpan toDue = TimeSpan.FromMilliseconds(nextDueMs - NowMs);
            if (toDue <= wait)
            {
                wait = toDue;
                untilDue = true;
            }
        }

        if (untilDue && wait <= ServerTimerSlack)
        {
            // Redis checks blocking timeouts on its timer (10 Hz by default), so a BLPOP can end up to ~100 ms late.
            // The last stretch before a scheduled message is due is waited here, precisely.
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, _time, cancellationToken).ConfigureAwait(false);
            }
        }
        else
        {
            if (untilDue)
            {
                wait -= ServerTimerSlack; // wake before the due time; the next call waits out the rest locally
            }

            if (wait < MinBlockingWait)
            {
                wait = MinBlockingWait;
            }

            if (!await WaitForWakeUpAsync(request.Queues, wait, cancellationToken).ConfigureAwait(false))
            {
                return 0;
            }
        }

        cancellationToken.ThrowIfCancellationRequested();
        (taken, _) = await FetchReadyAsync(request, into).ConfigureAwait(false);
        return taken;
    }

    /// <summary>Runs the fetch script on each queue in order until <see cref="FetchRequest.MaxCount"/> is filled.</summary>
    /// <returns>How many were leased, and the earliest scheduled due time over the queues tried (-1 when none).</returns>
    private async Task<(int Taken, long NextDueMs)> FetchReadyAsync(FetchRequest request, List<Delivery> into)
    {
        int taken = 0;
        long nextDue = -1;
        long now = NowMs;
        RedisValue deadline = now + Ms(request.Lease);
        int startLeft = request.StartCount;
        foreach (string queue in request.Queues)
        {
            int want = request.MaxCount - taken;
            if (want <= 0)
            {
                break;
            }

            RedisResult? reply = await _db.ScriptEvaluateAsync(
                RedisScripts.Fetch,
                [Keys.Pending(queue), Keys.Active(queue), Keys.Scheduled(queue), Keys.Notify(queue), Keys.Revoked()],
                [now, deadline, want, Keys.TaskPrefix(queue), request.WorkerId, NextTokenSuffix(), Math.Max(0, startLeft)]).ConfigureAwait(false);
            RedisResult[] items = reply is null ? [] : (RedisResult[]?)reply ?? [];
            if (items.Length < 2 || (items.Length - 2) % 6 != 0)
            {
                ThrowUnexpectedReply(nameof(RedisScripts.Fetch), reply);
            }

            long orphans = (long)items[0];
            if (orphans > 0)
            {
                RedisLog.OrphansDropped(_logger, queue, orphans);
            }

            long due = (long)items[1];
            if (due >= 0 && (nextDue < 0 || due < nextDue))
            {
                nextDue = due;
            }

            for (int i = 2; i < items.Length; i += 6)
            {
                into.Add(new Delivery
                {
                    Id = (string)items[i]!,
                    Queue = queue,
                    Envelope = (byte[]?)items[i + 1] ?? [],
                    DeliveryCount = (int)items[i + 2],
                    LeaseToken = (string)items[i + 3]!,
                    Revoked = (int)items[i + 4] == 1,
                    Runs = (int)items[i + 5],
                    RunStarted = startLeft-- > 0,
                });
                taken++;
            }
        }

        return (taken, nextDue);
    }

    /// <summary>
    /// Blocks in Redis (BLPOP on the queues' notify keys, on the dedicated connection) for up to <paramref name="wait"/>.
    /// Returns whether it is worth fetching again: true after a wake-up token or a timeout, false after a connection
    /// failure (it has already paused briefly; the caller loops).
    /// </summary>
    private async Task<bool> WaitForWakeUpAsync(IReadOnlyList<string> queues, TimeSpan wait, CancellationToken cancellationToken)
    {
        var args = new List<object>(queues.Count + 1);
        foreach (string queue in queues)
        {
            args.Add(Keys.Notify(queue));
        }

        args.Add((wait.TotalMilliseconds / 1000.0).ToString("0.000", CultureInfo.InvariantCulture));
        Task<RedisResult>? pop = null;
        try
        {
            IDatabase blocking = await GetBlockingDatabaseAsync(cancellationToken).ConfigureAwait(false);
            pop = blocking.ExecuteAsync("BLPOP", args, CommandFlags.None);
            await pop.WaitAsync(cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            if (pop is not null)
            {
                _ = ReturnTokenIfTakenAsync(pop);
            }

            throw;
        }
        catch (Exception ex) when (ex is RedisConnectionException or RedisTimeoutException or ObjectDisposedException)
        {
            RedisLog.BlockingWaitFailed(_logger, ex, string.Join(",", queues));
            await Task.Delay(BlockingFailureBackoff, _time, cancellationToken).ConfigureAwait(false);
            return false;
        }
    }

    /// <summary>
    /// A cancelled fetch stops waiting but its BLPOP stays queued in Redis; if it later takes a wake-up token, push the
    /// token back so that another worker is woken instead of the signal being lost.
    /// </summary>
    private async Task ReturnTokenIfTakenAsync(Task<RedisResult> pop)
    {
        RedisResult result;
        try
        {
            result = await pop.ConfigureAwait(false);
        }
        catch (Exception)
        {
            return; // the wait failed or the broker closed: no token was taken
        }

        if (result.IsNull || (RedisResult[]?)result is not { Length: 2 } pair || (string?)pair[0] is not { } key || Volatile.Read(ref _disposed) != 0)
        {
            return;
        }

        try
        {
            await _db.ListLeftPushAsync(key, "1").ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            RedisLog.TokenReturnFailed(_logger, ex, key);
        }
    }

    private async ValueTask<IDatabase> GetBlockingDatabaseAsync(CancellationToken cancellationToken)
    {
        ConnectionMultiplexer? blocking = Volatile.Read(ref _blocking);
        if (blocking is null)
        {
            await _blockingGate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                blocking = _blocking;
                if (blocking is null)
                {
                    ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
                    ConfigurationOptions config = ConfigurationOptions.Parse(_multiplexer.Configuration);
                    config.AbortOnConnectFail = false;
                    config.ClientName = (config.ClientName ?? "celeriac") + "-blocking";
                    config.AsyncTimeout = (int)BlockingAsyncTimeout.TotalMilliseconds;
                    blocking = await ConnectionMultiplexer.ConnectAsync(config).ConfigureAwait(false);
                    Volatile.Write(ref _blocking, blocking);
                }
            }
            finally
            {
                _blockingGate.Release();
            }
        }

        return blocking.GetDatabase(_db.Database);
    }

    /// <inheritdoc />
    public async Task<int> ExtendLeasesAsync(IReadOnlyList<Delivery> deliveries, TimeSpan lease, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(deliveries);
        cancellationToken.ThrowIfCancellationRequested();
        int held = 0;
        foreach (Task call in StartExtendLeases(deliveries, lease))
        {
            held += (int)await ((Task<RedisResult>)call).ConfigureAwait(false);
        }

        return held;
    }

    /// <inheritdoc />
    public IReadOnlyList<Task> StartExtendLeases(IReadOnlyList<Delivery> deliveries, TimeSpan lease)
    {
        ArgumentNullException.ThrowIfNull(deliveries);
        if (deliveries.Count == 0)
        {
            return [];
        }

        RedisValue deadline = NowMs + Ms(lease);
        var byQueue = new Dictionary<string, List<RedisValue>>(StringComparer.Ordinal);
        foreach (Delivery delivery in deliveries)
        {
            if (!byQueue.TryGetValue(delivery.Queue, out List<RedisValue>? args))
            {
                byQueue[delivery.Queue] = args = [deadline, Keys.TaskPrefix(delivery.Queue)];
            }

            args.Add(delivery.Id);
            args.Add(delivery.LeaseToken);
        }

        // SE.Redis completes these on its own socket threads (SocketManager.Shared), so a synchronous Wait on a
        // dedicated thread needs no thread-pool thread.
        var calls = new List<Task>(byQueue.Count);
        foreach ((string queue, List<RedisValue> args) in byQueue)
        {
            calls.Add(_db.ScriptEvaluateAsync(RedisScripts.ExtendLeases, [Keys.Active(queue)], [.. args]));
        }

        return calls;
    }

    /// <inheritdoc />
    public async Task ReleaseAsync(IReadOnlyList<Delivery> deliveries, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(deliveries);
        if (deliveries.Count == 0)
        {
            return;
        }

        // Each release pushes to the front (the RPOP end); going backwards keeps the released messages in their
        // original order. The calls are pipelined: all issued, then awaited.
        var calls = new Task<RedisResult>[deliveries.Count];
        for (int i = deliveries.Count - 1; i >= 0; i--)
        {
            Delivery d = deliveries[i];
            calls[i] = _db.ScriptEvaluateAsync(
                RedisScripts.Release,
                [Keys.Task(d.Queue, d.Id), Keys.Active(d.Queue), Keys.Pending(d.Queue), Keys.Notify(d.Queue)],
                [d.LeaseToken, d.Id, d.RunStarted ? "1" : "0"]);
        }

        int released = 0;
        foreach (Task<RedisResult> call in calls)
        {
            released += (int)await call.ConfigureAwait(false);
        }

        RedisLog.Released(_logger, released, deliveries.Count);
    }
}
