using Celeriac.Brokers;

namespace Celeriac.Worker;

internal sealed partial class CeleriacWorker
{
    /// <summary>How often the low-water refill re-checks whether the consumers ran out of fetched work.</summary>
    private static readonly TimeSpan RefillPoll = TimeSpan.FromMilliseconds(1);

    private async Task FetchLoopAsync(CancellationToken stoppingToken)
    {
        var batch = new List<Delivery>(_prefetch);
        var request = new FetchRequest(_worker.EffectiveQueues, 0, _options.VisibilityTimeout, _worker.FetchWait, _name, Pool: _deliveries);
        int backoffMs = 0;
        QueueSelector? selector = null;
        bool single = false;
        bool drained = false; // the last fetch leased fewer than asked (one queue only: see FetchRequest.Drained)
        while (!stoppingToken.IsCancellationRequested)
        {
            // The memory budget: no fetch while the messages held take it all (they are given back as their runs end).
            // With nothing held there is always room: a charge that was never given back cannot stop the worker.
            if (_budget is not null && _budget.FetchAllowance() == 0 && _held.Count > 0)
            {
                try
                {
                    await _budget.WaitForRoomAsync(stoppingToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }

                continue;
            }

            try
            {
                await _slots.WaitAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            int prefetch = Volatile.Read(ref _prefetch);
            int free = 1;
            while (free < prefetch && _slots.Wait(0))
            {
                free++;
            }

            // Low-water refill: while consumers still have fetched work waiting, gather freed slots up to half the
            // prefetch so that one fetch call leases many tasks (outcomes are group-committed, so slots free in bursts
            // that the consumers release one by one). An idle worker (nothing waiting) fetches at once.
            int lowWater = Math.Max(1, prefetch / 2);
            try
            {
                while (free < lowWater && _dispatch.ReadyCount > 0 && !stoppingToken.IsCancellationRequested)
                {
                    if (await _slots.WaitAsync(RefillPoll, stoppingToken).ConfigureAwait(false))
                    {
                        free++;
                        while (free < prefetch && _slots.Wait(0))
                        {
                            free++;
                        }
                    }
                }
            }
            catch (OperationCanceledException)
            {
                _slots.Release(free);
                break;
            }

            // A worker recycled after so many tasks takes no more than are left (a branch per batch).
            if (_worker.MaxTasksPerProcess > 0)
            {
                free = CapToTasksLeft(free);
            }

            // Deliveries that idle consumers will take at once start in the fetch call itself (their run is counted
            // there): no separate start call for them. The STARTED state, when tracked, still goes through the start call.
            int startNow = _worker.TrackStarted ? 0 : Math.Clamp(_dispatch.IdleCount - _dispatch.ReadyCount, 0, free);
            long maxBytes = _budget is null ? 0 : Math.Max(_budget.FetchAllowance(), 1); // 1: at least one message, whatever its size
            batch.Clear();
            if (!ReferenceEquals(selector, _queueSelector))
            {
                // The queues changed (a control command): the last fetch's emptiness says nothing about the new set.
                selector = _queueSelector;
                single = selector.Count == 1;
                drained = false;
            }

            if (_autoscaler is not null)
            {
                FetchStarting();
            }

            try
            {
                await _broker!.FetchAsync(request with { Queues = selector.Next(), MaxCount = free, StartCount = startNow, Drained = drained, MaxBytes = maxBytes }, batch, stoppingToken).ConfigureAwait(false);
                drained = single && batch.Count < free;
                if (_autoscaler is not null)
                {
                    FetchEnded(batch.Count, free);
                }

                backoffMs = 0;
                _status.BrokerReached(); // the first one makes the worker ready
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                if (_autoscaler is not null)
                {
                    FetchEnded(0, free); // no work seen: counted as a fetch that ran dry
                }

                backoffMs = Math.Clamp(backoffMs * 2, 50, 2000);
                drained = false;
                _status.BrokerFailed(ex);
                Log.BrokerError(_logger, ex, "fetch", backoffMs);
                if (batch.Count > 0)
                {
                    // Leased before the call failed (e.g. on a later queue): hand them back rather than leave them
                    // leased with no owner until their leases expire.
                    await ReleaseAsync(batch).ConfigureAwait(false);
                    foreach (Delivery delivery in batch)
                    {
                        _deliveries.Return(delivery);
                    }

                    batch.Clear();
                }

                _slots.Release(free);
                await Delay(backoffMs, stoppingToken).ConfigureAwait(false);
                continue;
            }
            catch (Exception)
            {
                // Stopping (the filter above let it through): a cancelled fetch, or a broker error while stopping — Redis
                // may be down, which is often why the host stops. Nothing to report; what the fetch leased before it
                // failed is held below and handed back by the graceful stop.
            }

            _fetched += batch.Count; // one writer (this loop); read by the registry heartbeat
            if (free > batch.Count)
            {
                _slots.Release(free - batch.Count);
            }

            foreach (Delivery delivery in batch)
            {
                if (_budget is not null)
                {
                    delivery.Charged = MemoryBudget.FetchCharge(delivery.Envelope.Length);
                    _budget.Charge(delivery.Charged);
                }

                _held.Add(delivery);
                _dispatch.Post(delivery);
            }

            if (_worker.MaxTasksPerProcess > 0 && _fetched >= _worker.MaxTasksPerProcess)
            {
                await RecycleAfterTasksAsync(stoppingToken).ConfigureAwait(false);
                break;
            }
        }
    }
}
