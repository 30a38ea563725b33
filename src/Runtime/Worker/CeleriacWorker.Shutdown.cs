using Celeriac.Brokers;

namespace Celeriac.Worker;

internal sealed partial class CeleriacWorker
{
    /// <summary>
    /// Graceful stop, once the fetch loop has ended: no more fetching; hand back what was prefetched but not started; let
    /// running tasks finish within <see cref="WorkerOptions.ShutdownTimeout"/>, then cancel them and hand back what is still held.
    /// </summary>
    private async Task StopGracefullyAsync(Task[] consumers)
    {
        _stopping = true;
        await _stopWaiting.CancelAsync().ConfigureAwait(false);
        List<Delivery> unstarted = _dispatch.Complete();
        foreach (Delivery delivery in unstarted)
        {
            _held.Remove(delivery);
            _slots.Release();
            _outcomes.Released(delivery, null);
        }

        await ReleaseAsync(unstarted).ConfigureAwait(false);
        foreach (Delivery delivery in unstarted)
        {
            _deliveries.Return(delivery);
        }

        Log.WorkerStopping(_logger, _name, _held.Count, unstarted.Count);

        Task all = Task.WhenAll(consumers);
        if (await Task.WhenAny(all, Task.Delay(_worker.ShutdownTimeout, _time, CancellationToken.None)).ConfigureAwait(false) != all)
        {
            Log.ShutdownAbandoned(_logger, _name, _held.Count);
            await _hardStop.CancelAsync().ConfigureAwait(false);
            await Task.WhenAny(all, Task.Delay(TimeSpan.FromSeconds(2), _time, CancellationToken.None)).ConfigureAwait(false);
            var held = new List<Delivery>(_held.Count);
            _held.CopyLeasesTo(held);
            await ReleaseAsync(held).ConfigureAwait(false);
        }
    }
}
