using Celeriac.Brokers;

namespace Celeriac.Worker;

internal sealed partial class CeleriacWorker
{
    /// <summary>
    /// Renews the leases of everything held, every third of the visibility timeout, and re-checks running and
    /// prefetched tasks for revocations. Runs on its own thread and waits on the broker's operations synchronously, so
    /// a thread pool saturated by handlers doing synchronous work cannot delay its schedule (user-asks R2b); the Redis
    /// replies it waits for are completed on pool threads, which <see cref="WorkerOptions.ReserveThreadPool"/> keeps free.
    /// </summary>
    private void HeartbeatThread(CancellationToken stop)
    {
        TimeSpan interval = _options.VisibilityTimeout / 3;
        var snapshot = new List<Delivery>();
        using var tick = new AutoResetEvent(false);
        // The system clock is waited on by this thread itself: a timer's callback runs on the thread pool, which a
        // saturated pool would delay. Any other clock (a fake one in tests) ticks through its own timer.
        using ITimer? timer = ReferenceEquals(_time, TimeProvider.System)
            ? null
            : _time.CreateTimer(static s => ((AutoResetEvent)s!).Set(), tick, interval, interval);
        WaitHandle[] waits = [stop.WaitHandle, tick];
        while (timer is null ? !stop.WaitHandle.WaitOne(interval) : WaitHandle.WaitAny(waits) != 0)
        {
            if (_worker.MaxMemoryPerProcess > 0)
            {
                CheckMemory();
            }

            snapshot.Clear();
            _held.CopyLeasesTo(snapshot);
            if (snapshot.Count == 0)
            {
                continue;
            }

            try
            {
                foreach (Task call in _broker!.StartExtendLeases(snapshot, _options.VisibilityTimeout))
                {
                    if (!call.Wait(interval))
                    {
                        Log.HeartbeatSlow(_logger, snapshot.Count, (int)interval.TotalMilliseconds);
                        break;
                    }
                }
            }
            catch (Exception ex)
            {
                _status.BrokerFailed(ex is AggregateException { InnerException: { } failure } ? failure : ex);
                Log.BrokerError(_logger, ex is AggregateException { InnerException: { } inner } ? inner : ex, "heartbeat", (int)interval.TotalMilliseconds);
            }

            try
            {
                Task<IReadOnlyList<string>> check = _broker!.FindRevokedAsync(snapshot, CancellationToken.None);
                if (check.Wait(interval))
                {
                    foreach (string id in check.Result)
                    {
                        OnRevoked(id);
                    }
                }
            }
            catch (Exception ex)
            {
                Log.BrokerError(_logger, ex is AggregateException { InnerException: { } inner } ? inner : ex, "revocation check", (int)interval.TotalMilliseconds);
            }
        }
    }

    /// <summary>A revocation arrived (notification or re-check): cancel the run, or remember it for a prefetched delivery.</summary>
    private void OnRevoked(string taskId)
    {
        // Cancelling runs the task's callbacks: off the notifying thread.
        if (_held.TryRevoke(taskId, out RunControl? run, out int generation) && run is not null && !run.Revoked)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static s => s.Run.Revoke(s.Generation), (Run: run, Generation: generation), preferLocal: false);
        }
    }
}
