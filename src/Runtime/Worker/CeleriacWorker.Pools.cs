namespace Celeriac.Worker;

/// <summary>
/// The pools of a worker process (<see cref="WorkerOptions.Pools"/>): each is a consumer engine of its own — a
/// <see cref="CeleriacWorker"/> made by the worker, never hosted — with its own fetch loop and blocking connection, run
/// permits, prefetch slots, held set, lease heartbeat, memory budget, CPU threads, group commits and registry entry
/// (<c>{worker}/{pool}</c>), so that nothing one pool waits for can hold up another. They share the broker (its main
/// connection), the catalog, the services, the outcome listeners, the middleware, the event publisher (one source, the
/// worker's name) and the worker's status. The worker starts them with itself and stops them with itself: one stop
/// signal ends every fetch loop at once and each pool hands back what it holds; a pool that fails stops the worker.
/// </summary>
internal sealed partial class CeleriacWorker
{
    /// <summary>This engine is one of a worker's pools (not the hosted worker itself).</summary>
    private readonly bool _isPool;

    /// <summary>The worker's pools, ordered by name; empty for a pool, or a worker without pools.</summary>
    private readonly CeleriacWorker[] _pools;

    /// <summary>Completes when every pool has stopped; faults with the failure of a pool that failed.</summary>
    private Task _poolsDone = Task.CompletedTask;

    /// <summary>The pools of this worker (tests and diagnostics).</summary>
    internal IReadOnlyList<CeleriacWorker> Pools => _pools;

    /// <summary>This engine's CPU threads run every task it takes (<see cref="WorkerPool.Execution"/> = <see cref="TaskExecution.Cpu"/>).</summary>
    internal bool RunsAllOnCpu => _allCpu;

    private void StartPools(CancellationTokenSource stop)
    {
        DateTimeOffset now = _time.GetUtcNow();
        var runs = new Task[_pools.Length];
        for (int i = 0; i < _pools.Length; i++)
        {
            CeleriacWorker pool = _pools[i];
            pool._startedAt = now;
            runs[i] = RunPoolAsync(pool, stop);
        }

        _poolsDone = Task.WhenAll(runs);
    }

    private static async Task RunPoolAsync(CeleriacWorker pool, CancellationTokenSource stop)
    {
        try
        {
            await Task.Run(() => pool.RunAsync(stop.Token), CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (!(ex is OperationCanceledException && stop.IsCancellationRequested))
        {
            // The worker and its other pools stop too (gracefully): the host hears the failure from the worker.
            await stop.CancelAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The worker itself failed: its pools stop too (gracefully), and are waited for; their own failures are not the first.</summary>
    private async Task StopPoolsAfterFailureAsync(CancellationTokenSource stop)
    {
        await stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _poolsDone.ConfigureAwait(false);
        }
        catch (Exception)
        {
            // The worker's own failure is the one reported.
        }
    }

    /// <summary>The worker this engine belongs to: itself, or the worker that made this pool.</summary>
    private CeleriacWorker _root;

    /// <summary>The name of the other engine of this process (the worker or one of its pools) that consumes <paramref name="queue"/>, if any.</summary>
    private string? OwnerOf(string queue)
    {
        foreach (CeleriacWorker engine in (CeleriacWorker[])[_root, .. _root._pools])
        {
            if (!ReferenceEquals(engine, this) && engine.Queues.Contains(queue, StringComparer.Ordinal))
            {
                return engine._name;
            }
        }

        return null;
    }

    /// <summary>The pools' configured concurrency, for the thread-pool reservation.</summary>
    private int PoolsConcurrency()
    {
        int sum = 0;
        foreach (CeleriacWorker pool in _pools)
        {
            sum += pool._worker.Concurrency;
        }

        return sum;
    }

    /// <summary>How many tasks the pools are running now (the events' worker heartbeat).</summary>
    private int PoolsActive()
    {
        int sum = 0;
        foreach (CeleriacWorker pool in _pools)
        {
            sum += pool.CountHeld().Active;
        }

        return sum;
    }
}
