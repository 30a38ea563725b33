using System.Globalization;
using StackExchange.Redis;

namespace Celeriac.Redis;

internal sealed partial class RedisBroker
{
    /// <summary>
    /// The blocking wait of each slot a worker's queues live in (Cluster only), keyed by the fetching worker (each pool
    /// of a worker process waits on connections of its own) and the slot.
    /// </summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string Lane, int Slot), SlotWaiter> _slotWaiters = new();

    /// <summary>1 once a connected server said it is a cluster node, 0 once one said it is not; -1 until known.</summary>
    private int _cluster = -1;

    /// <summary>Whether the shared multiplexer talks to a Redis Cluster (known from the first connected server).</summary>
    private bool IsCluster()
    {
        int known = Volatile.Read(ref _cluster);
        if (known >= 0)
        {
            return known == 1;
        }

        foreach (IServer server in _multiplexer.GetServers())
        {
            if (server.IsConnected)
            {
                known = server.ServerType == ServerType.Cluster ? 1 : 0;
                Volatile.Write(ref _cluster, known);
                return known == 1;
            }
        }

        return false; // not connected yet: the wait fails and the caller retries
    }

    /// <summary>
    /// Waits, under Cluster, for a wake-up token of any of <paramref name="queues"/>: one <c>BLPOP</c> per slot (over
    /// that slot's notify keys), each on a connection of its own (a blocking command holds its connection), all at
    /// once, so that a message in any queue ends the wait at once. A wait that outlives this call (another slot woke
    /// first, or the caller's wait was shorter) is not repeated: the next call awaits the same one, so a token it takes
    /// is never lost and no second wait queues behind it. Returns true after a wake-up or the timeout, false after a
    /// failure (having paused briefly).
    /// </summary>
    private async Task<bool> WaitPerSlotAsync(string lane, IReadOnlyList<string> queues, TimeSpan wait, CancellationToken cancellationToken)
    {
        var bySlot = new Dictionary<int, List<object>>();
        foreach (string queue in queues)
        {
            RedisKey notify = Keys.Notify(queue);
            int slot = _multiplexer.HashSlot(notify);
            if (!bySlot.TryGetValue(slot, out List<object>? args))
            {
                bySlot[slot] = args = [];
            }

            args.Add(notify);
        }

        string seconds = (wait.TotalMilliseconds / 1000.0).ToString("0.000", CultureInfo.InvariantCulture);
        var pops = new List<(SlotWaiter Waiter, Task<RedisResult> Pop)>(bySlot.Count);
        try
        {
            foreach ((int slot, List<object> args) in bySlot)
            {
                SlotWaiter waiter = _slotWaiters.GetOrAdd((lane, slot), static _ => new SlotWaiter());
                if (waiter.Pending is not { } pop)
                {
                    waiter.Connection ??= await ConnectBlockingAsync().ConfigureAwait(false);
                    args.Add(seconds);
                    waiter.Pending = pop = waiter.Connection.GetDatabase(_db.Database).ExecuteAsync("BLPOP", args, CommandFlags.None);
                }

                pops.Add((waiter, pop));
            }

            // The longest a wait may still run is its own timeout plus the server's timer slack; bounded here too.
            await Task.WhenAny(pops.Select(p => p.Pop)).WaitAsync(wait + ServerTimerSlack + ServerTimerSlack, _time, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            foreach ((SlotWaiter waiter, Task<RedisResult> pop) in pops)
            {
                waiter.Pending = null;
                _ = ReturnTokenIfTakenAsync(pop);
            }

            throw;
        }
        catch (TimeoutException)
        {
            return true; // every wait is still out: the next call awaits them again
        }
        catch (Exception ex) when (ex is RedisConnectionException or RedisTimeoutException or ObjectDisposedException)
        {
            RedisLog.BlockingWaitFailed(_logger, ex, string.Join(",", queues));
            await Task.Delay(BlockingFailureBackoff, _time, cancellationToken).ConfigureAwait(false);
            return false;
        }

        bool failed = false;
        foreach ((SlotWaiter waiter, Task<RedisResult> pop) in pops)
        {
            if (!pop.IsCompleted)
            {
                continue;
            }

            waiter.Pending = null;
            if (pop.Exception?.InnerException is { } ex)
            {
                // A node that died faults its waits within ~50 ms, and they are not retried: the next call issues new ones.
                RedisLog.BlockingWaitFailed(_logger, ex, string.Join(",", queues));
                failed = true;
            }
        }

        if (failed)
        {
            await Task.Delay(BlockingFailureBackoff, _time, cancellationToken).ConfigureAwait(false);
            return false;
        }

        return true;
    }

    /// <summary>Closes the connections of the per-slot waits (at dispose).</summary>
    private async Task CloseSlotWaitersAsync()
    {
        foreach (SlotWaiter waiter in _slotWaiters.Values)
        {
            if (Interlocked.Exchange(ref waiter.Connection, null) is { } connection)
            {
                await connection.CloseAsync(allowCommandsToComplete: false).ConfigureAwait(false);
                await connection.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>One slot's blocking wait: its connection and the BLPOP still out on it, if any. Used by one fetch loop only (its lane's).</summary>
    private sealed class SlotWaiter
    {
        public ConnectionMultiplexer? Connection;
        public Task<RedisResult>? Pending;
    }
}
