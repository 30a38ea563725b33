using System.Buffers.Binary;
using System.Globalization;
using RESPite.Messages;
using Celeriac.Brokers;
using StackExchange.Redis;

namespace Celeriac.Redis;

internal sealed partial class RedisBroker
{
    /// <summary>Each queue's earliest scheduled due time (unix ms, -1 for none) as the last fetch of it said.</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, long> _nextDue = new(StringComparer.Ordinal);

    /// <inheritdoc />
    public async Task<int> FetchAsync(FetchRequest request, List<Delivery> into, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(into);
        cancellationToken.ThrowIfCancellationRequested();
        if (request.MaxCount <= 0 || request.Queues.Count == 0)
        {
            return 0;
        }

        int taken;
        long nextDueMs;
        if (request.Drained && request.Queues.Count == 1 && request.MaxWait > TimeSpan.Zero
            && _nextDue.TryGetValue(request.Queues[0], out long knownDue) && (knownDue < 0 || knownDue > NowMs + Ms(ServerTimerSlack)))
        {
            // Drained at the last fetch, and every enqueue since has left a wake-up token: the blocking wait (with the
            // fetch behind it) finds anything new at once, so looking first would be a call for nothing. Nothing
            // scheduled has fallen due (the last fetch said when the next one does); expired leases are reclaimed by
            // the fetch behind the wait, at the latest when it times out.
            taken = 0;
            nextDueMs = knownDue;
        }
        else
        {
            (taken, nextDueMs) = await FetchReadyAsync(request, into).ConfigureAwait(false);
            if (taken > 0 || request.MaxWait <= TimeSpan.Zero)
            {
                return taken;
            }
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

            if (request.Queues.Count == 1)
            {
                // One queue: the fetch script rides behind the BLPOP on the blocking connection, so Redis runs it the
                // moment the wait ends, without a round trip in between.
                return await WaitAndFetchAsync(request, wait, into, cancellationToken).ConfigureAwait(false);
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

    /// <summary>
    /// <c>BLPOP</c> on the queue's notify key with the fetch script pipelined behind it on the blocking connection: Redis
    /// runs the script as soon as the wait ends (a wake-up token or the timeout), which saves the round trip between
    /// them. The script's arguments are computed now, before the wait: <c>now</c> can only be late (promotions and
    /// reclaims happen at the next fetch at the latest, never early), and the lease deadline counts the wait in, so a
    /// lease starts at most <paramref name="wait"/> longer than <see cref="FetchRequest.Lease"/> (the heartbeat then sets it).
    /// </summary>
    private async Task<int> WaitAndFetchAsync(FetchRequest request, TimeSpan wait, List<Delivery> into, CancellationToken cancellationToken)
    {
        string queue = request.Queues[0];
        IDatabase blocking;
        try
        {
            blocking = await GetBlockingDatabaseAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisConnectionException or RedisTimeoutException or ObjectDisposedException)
        {
            RedisLog.BlockingWaitFailed(_logger, ex, queue);
            _nextDue.TryRemove(queue, out _); // the next fetch looks on the main connection first (no "drained" skip)
            await Task.Delay(BlockingFailureBackoff, _time, cancellationToken).ConfigureAwait(false);
            return 0;
        }

        long now = NowMs;
        Task<RedisResult> pop = blocking.ExecuteAsync("BLPOP", [Keys.Notify(queue), (wait.TotalMilliseconds / 1000.0).ToString("0.000", CultureInfo.InvariantCulture)], CommandFlags.None);
        Task<RespResult> fetch = blocking.ScriptEvaluateRespAsync(
            RedisScripts.Fetch,
            new RedisKey[] { Keys.Pending(queue), Keys.Active(queue), Keys.Scheduled(queue), Keys.Notify(queue), Keys.Revoked(queue), Keys.Dead(queue) },
            new RedisValue[] { now, now + Ms(wait) + Ms(request.Lease), request.MaxCount, Keys.TaskPrefix(queue), request.WorkerId, NextTokenSuffix(), request.StartCount, _maxMessageBytes, _corruptResultTtlMs, Keys.DoneChannelPrefix, Math.Max(0, request.MaxBytes) },
            ScriptFlags);
        try
        {
            await fetch.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Both stay queued in Redis: a token the BLPOP takes goes back, and what the fetch leases is released.
            _ = ReturnTokenIfTakenAsync(pop);
            _ = ReleaseIfLeasedAsync(fetch, queue, request.StartCount);
            throw;
        }
        catch (Exception ex) when (ex is RedisConnectionException or RedisTimeoutException or ObjectDisposedException)
        {
            RedisLog.BlockingWaitFailed(_logger, ex, queue);
            _nextDue.TryRemove(queue, out _); // the next fetch looks on the main connection first (no "drained" skip)
            await Task.Delay(BlockingFailureBackoff, _time, cancellationToken).ConfigureAwait(false);
            return 0;
        }

        try
        {
            await pop.ConfigureAwait(false); // sent first on the same connection: done by now; only observed here
        }
        catch (Exception ex) when (ex is RedisConnectionException or RedisTimeoutException or RedisServerException)
        {
            RedisLog.BlockingWaitFailed(_logger, ex, queue);
        }

        int startLeft = request.StartCount;
        using RespResult reply = await fetch.ConfigureAwait(false);
        return AddDeliveries(reply, queue, into, request.Pool, ref startLeft, out _);
    }

    /// <summary>A cancelled <see cref="WaitAndFetchAsync"/>'s fetch still runs in Redis later: hand back whatever it leased.</summary>
    private async Task ReleaseIfLeasedAsync(Task<RespResult> fetch, string queue, int startCount)
    {
        RespResult reply;
        try
        {
            reply = await fetch.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // No reply: the connection closed (an ordinary stop closes it under the waiting call) or failed. Nothing was
            // leased, or what was comes back after the visibility timeout: nothing to do, nothing alarming.
            RedisLog.CancelledWaitEnded(_logger, queue, ex.GetType().Name);
            return;
        }

        var leased = new List<Delivery>();
        try
        {
            int startLeft = startCount;
            using (reply)
            {
                AddDeliveries(reply, queue, leased, null, ref startLeft, out _);
            }

            if (leased.Count > 0 && Volatile.Read(ref _disposed) == 0)
            {
                await ReleaseAsync(leased, CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch (Exception ex)
        {
            // The leases expire after the visibility timeout and the messages come back then.
            RedisLog.CancelledFetchNotReleased(_logger, ex, leased.Count, queue);
        }
    }

    /// <summary>Runs the fetch script on each queue in order until <see cref="FetchRequest.MaxCount"/> or <see cref="FetchRequest.MaxBytes"/> is reached.</summary>
    /// <returns>How many were leased, and the earliest scheduled due time over the queues tried (-1 when none).</returns>
    private async Task<(int Taken, long NextDueMs)> FetchReadyAsync(FetchRequest request, List<Delivery> into)
    {
        int taken = 0;
        long bytes = 0; // of the messages leased so far, against FetchRequest.MaxBytes
        long nextDue = -1;
        long now = NowMs;
        RedisValue deadline = now + Ms(request.Lease);
        int startLeft = request.StartCount;
        foreach (string queue in request.Queues)
        {
            int want = request.MaxCount - taken;
            if (want <= 0 || (request.MaxBytes > 0 && bytes >= request.MaxBytes))
            {
                break;
            }

            long byteCap = request.MaxBytes > 0 ? request.MaxBytes - bytes : 0;

            int before = into.Count;

            using RespResult reply = await _db.ScriptEvaluateRespAsync(
                RedisScripts.Fetch,
                new RedisKey[] { Keys.Pending(queue), Keys.Active(queue), Keys.Scheduled(queue), Keys.Notify(queue), Keys.Revoked(queue), Keys.Dead(queue) },
                new RedisValue[] { now, deadline, want, Keys.TaskPrefix(queue), request.WorkerId, NextTokenSuffix(), Math.Max(0, startLeft), _maxMessageBytes, _corruptResultTtlMs, Keys.DoneChannelPrefix, byteCap },
                ScriptFlags).ConfigureAwait(false);
            taken += AddDeliveries(reply, queue, into, request.Pool, ref startLeft, out long due);
            for (int i = before; i < into.Count; i++)
            {
                bytes += into[i].Envelope.Length;
            }

            if (due >= 0 && (nextDue < 0 || due < nextDue))
            {
                nextDue = due;
            }
        }

        return (taken, nextDue);
    }

    /// <summary>Reads a fetch script's reply into deliveries; the first <paramref name="startLeft"/> ones were started by the script.</summary>
    /// <returns>How many were added; <paramref name="nextDue"/> is the queue's earliest scheduled due time or -1.</returns>
    private int AddDeliveries(RespResult reply, string queue, List<Delivery> into, DeliveryPool? pool, ref int startLeft, out long nextDue)
    {
        // Read straight from SE.Redis's pooled reply buffer (no RedisResult objects): two integers, then the packed
        // deliveries as one bulk string, lent as a lease of that buffer.
        RespReader reader = reply.Read();
        if (!reader.IsAggregate || !reader.AggregateLengthIs(4))
        {
            ThrowUnexpectedReply(nameof(RedisScripts.Fetch), reply.Prefix.ToString());
        }

        reader.MoveNextScalar();
        long orphans = reader.ReadInt64();
        if (orphans > 0)
        {
            RedisLog.OrphansDropped(_logger, queue, orphans);
        }

        reader.MoveNextScalar();
        nextDue = reader.ReadInt64();
        _nextDue[queue] = nextDue;
        reader.MoveNextScalar();
        Lease<byte>? lease = reader.ReadLease();
        reader.MoveNextScalar();
        long corrupt = reader.ReadInt64();
        if (corrupt > 0)
        {
            RedisLog.CorruptSetAside(_logger, queue, corrupt);
        }

        ReadOnlyMemory<byte> packed;
        SharedBuffer? shared = null;
        if (lease is null)
        {
            packed = default; // nothing leased
        }
        else if (pool is null)
        {
            // Deliveries nobody returns to a pool: they get their own copy, and the lease goes back at once.
            packed = lease.Memory.ToArray();
            lease.Dispose();
        }
        else
        {
            // Pooled deliveries point into the lease; the last one returned gives it back (see Delivery.Clear).
            packed = lease.Memory;
            shared = new SharedBuffer(lease);
        }

        try
        {
            return AddPacked(packed, shared, queue, into, pool, ref startLeft);
        }
        finally
        {
            shared?.Release(); // the parser's own reference
        }
    }

    /// <summary>Adds a delivery for each message packed by the fetch script (see its layout).</summary>
    private static int AddPacked(ReadOnlyMemory<byte> packed, SharedBuffer? shared, string queue, List<Delivery> into, DeliveryPool? pool, ref int startLeft)
    {
        int added = 0;
        int at = 0;
        while (at < packed.Length)
        {
            ReadOnlySpan<byte> span = packed.Span[at..];
            if (span.Length < 13)
            {
                ThrowUnexpectedReply(nameof(RedisScripts.Fetch), "a truncated message header");
            }

            bool revoked = (span[0] & 1) != 0;
            bool oversized = (span[0] & 2) != 0;
            int runs = BinaryPrimitives.ReadInt32BigEndian(span[1..]);
            int dc = BinaryPrimitives.ReadInt32BigEndian(span[5..]);
            int idLength = BinaryPrimitives.ReadInt32BigEndian(span[9..]);
            int idAt = at + 13;
            int tokenLength = BinaryPrimitives.ReadInt32BigEndian(packed.Span[(idAt + idLength)..]);
            int tokenAt = idAt + idLength + 4;
            int msgLength = BinaryPrimitives.ReadInt32BigEndian(packed.Span[(tokenAt + tokenLength)..]);
            int msgAt = tokenAt + tokenLength + 4;
            if (idLength < 0 || tokenLength < 0 || msgLength < 0 || msgAt + msgLength > packed.Length || (oversized && msgLength < 4))
            {
                ThrowUnexpectedReply(nameof(RedisScripts.Fetch), "a truncated message");
            }

            Delivery delivery = pool?.Rent() ?? new Delivery { Queue = queue, Envelope = default, DeliveryCount = 0 };
            delivery.IdUtf8 = packed.Slice(idAt, idLength);
            delivery.Queue = queue;
            if (oversized)
            {
                // Only the length and a prefix came: the worker refuses it by the length, and reads its name from the prefix.
                delivery.OversizedLength = BinaryPrimitives.ReadInt32BigEndian(packed.Span[msgAt..]);
                delivery.Envelope = packed.Slice(msgAt + 4, msgLength - 4);
            }
            else
            {
                delivery.Envelope = packed.Slice(msgAt, msgLength);
            }

            delivery.DeliveryCount = dc;
            delivery.LeaseTokenUtf8 = packed.Slice(tokenAt, tokenLength);
            delivery.Revoked = revoked;
            delivery.Runs = runs;
            delivery.RunStarted = startLeft-- > 0;
            if (shared is not null)
            {
                shared.AddReference();
                delivery.Buffer = shared;
            }

            into.Add(delivery);
            at = msgAt + msgLength;
            added++;
        }

        return added;
    }

    /// <summary>
    /// Blocks in Redis (BLPOP on the queues' notify keys, on the dedicated connection) for up to <paramref name="wait"/>.
    /// Returns whether it is worth fetching again: true after a wake-up token or a timeout, false after a connection
    /// failure (it has already paused briefly; the caller loops).
    /// </summary>
    private async Task<bool> WaitForWakeUpAsync(IReadOnlyList<string> queues, TimeSpan wait, CancellationToken cancellationToken)
    {
        if (IsCluster())
        {
            // Under Cluster a BLPOP may name only keys of one slot: one wait per slot, run concurrently.
            return await WaitPerSlotAsync(queues, wait, cancellationToken).ConfigureAwait(false);
        }

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
        catch (Exception ex) when (Volatile.Read(ref _disposed) != 0)
        {
            RedisLog.CancelledWaitEnded(_logger, key, ex.GetType().Name); // stopping: the connection closed under the push
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
                    blocking = await ConnectBlockingAsync().ConfigureAwait(false);
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

    /// <summary>A multiplexer of its own for blocking commands, configured like the shared one.</summary>
    private async Task<ConnectionMultiplexer> ConnectBlockingAsync()
    {
        // Cloned from the broker's settings (TLS certificate callbacks and credentials given in code are not in the string).
        ConfigurationOptions config = _configuration?.Clone() ?? ConfigurationOptions.Parse(_multiplexer.Configuration);
        config.AbortOnConnectFail = false;
        config.ClientName = (config.ClientName ?? "celeriac") + "-blocking";
        config.AsyncTimeout = (int)BlockingAsyncTimeout.TotalMilliseconds;
        config.BacklogPolicy = BacklogPolicy.FailFast; // a wait for a node that is down fails now, not after the timeout
        return await ConnectionMultiplexer.ConnectAsync(config).ConfigureAwait(false);
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

            args.Add(IdOf(delivery));
            args.Add(TokenOf(delivery));
        }

        // SE.Redis completes these on its own socket threads (SocketManager.Shared), so a synchronous Wait on a
        // dedicated thread needs no thread-pool thread.
        var calls = new List<Task>(byQueue.Count);
        foreach ((string queue, List<RedisValue> args) in byQueue)
        {
            calls.Add(Eval(RedisScripts.ExtendLeases, [Keys.Active(queue)], [.. args]));
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
        long now = NowMs;
        for (int i = deliveries.Count - 1; i >= 0; i--)
        {
            Delivery d = deliveries[i];
            calls[i] = Eval(
                RedisScripts.Release,
                [TaskKeyOf(d), Keys.Active(d.Queue), Keys.Pending(d.Queue), Keys.Notify(d.Queue), Keys.Dead(d.Queue), ResultKeyOf(d)],
                [TokenOf(d), IdOf(d), d.RunStarted ? "1" : "0", now, _corruptResultTtlMs, DoneChannelOf(d)]);
        }

        int released = 0;
        foreach (Task<RedisResult> call in calls)
        {
            released += (int)await call.ConfigureAwait(false);
        }

        RedisLog.Released(_logger, released, deliveries.Count);
    }
}
