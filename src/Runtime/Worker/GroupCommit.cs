using System.Collections.Concurrent;
using System.Threading.Tasks.Sources;

namespace Celeriac.Worker;

/// <summary>
/// Group commit for per-task broker writes (start, complete). Consumers queue an item and await its own result; one
/// flusher at a time sends everything queued (at most <see cref="MaxBatch"/>) in one broker operation and wakes each
/// waiter with its own per-item result. The flusher never waits for a batch to fill: when it is idle, the first item
/// is sent at once (a batch of one), so latency under light load does not grow; under load, items queue while the
/// previous call is in flight and go together in the next one. Waiters are pooled: no allocation per item.
/// </summary>
/// <typeparam name="TItem">What a consumer submits.</typeparam>
internal sealed class GroupCommit<TItem>
{
    /// <summary>The most items sent in one broker operation.</summary>
    public const int MaxBatch = 256;

    private readonly ConcurrentQueue<(TItem Item, Waiter Waiter)> _queue = new();
    private readonly ConcurrentQueue<Waiter> _pool = new();
    private readonly Func<List<TItem>, int[], Task> _send;
    private readonly Func<Exception, int, bool> _onError;
    private readonly TimeSpan _giveUpAfter;
    private readonly TimeProvider _time;
    private readonly List<TItem> _batch = new(MaxBatch);
    private readonly List<Waiter> _waiters = new(MaxBatch);
    private readonly int[] _results = new int[MaxBatch];
    private int _flushing;

    /// <param name="send">Sends one batch and writes each item's result (same index) into the array.</param>
    /// <param name="onError">Called with each failure of a send and the backoff (ms) before the retry; returns false to give up at once.</param>
    /// <param name="giveUpAfter">
    /// While the broker is unreachable the batch is retried with backoff (the writes are fenced per id, so a repeat after
    /// a write that did land changes nothing) until this much time has passed; then every item of the batch fails.
    /// </param>
    /// <param name="time">The clock of the backoff and of <paramref name="giveUpAfter"/>.</param>
    public GroupCommit(Func<List<TItem>, int[], Task> send, Func<Exception, int, bool> onError, TimeSpan giveUpAfter, TimeProvider time)
    {
        _send = send;
        _onError = onError;
        _giveUpAfter = giveUpAfter;
        _time = time;
    }

    /// <summary>Queues <paramref name="item"/> and returns its own result once the batch holding it was sent.</summary>
    public ValueTask<int> SendAsync(TItem item)
    {
        if (!_pool.TryDequeue(out Waiter? waiter))
        {
            waiter = new Waiter(_pool);
        }

        short version = waiter.Version;
        _queue.Enqueue((item, waiter));
        if (Interlocked.CompareExchange(ref _flushing, 1, 0) == 0)
        {
            _ = FlushAsync();
        }

        return new ValueTask<int>(waiter, version);
    }

    /// <summary>
    /// The one flusher. Started fire-and-forget, so nothing may escape it: a batch whose send path throws anything (the
    /// send, the error callback, the backoff) fails its own waiters, and the flusher goes on; should the flusher itself
    /// end abnormally, its <c>finally</c> clears the flag and hands what is queued to a new flusher, so that consumers
    /// never wait on a flusher that is gone.
    /// </summary>
    private async Task FlushAsync()
    {
        bool idle = false;
        try
        {
            while (true)
            {
                while (_batch.Count < MaxBatch && _queue.TryDequeue(out (TItem Item, Waiter Waiter) entry))
                {
                    _batch.Add(entry.Item);
                    _waiters.Add(entry.Waiter);
                }

                if (_batch.Count == 0)
                {
                    Volatile.Write(ref _flushing, 0);
                    // An item queued after the last TryDequeue but before the flag was cleared saw a flusher running: take it.
                    if (_queue.IsEmpty || Interlocked.CompareExchange(ref _flushing, 1, 0) != 0)
                    {
                        idle = true;
                        return;
                    }

                    continue;
                }

                Exception? error = null;
                try
                {
                    await SendWithRetriesAsync().ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    error = ex;
                }
                finally
                {
                    Complete(error);
                }
            }
        }
        finally
        {
            if (!idle)
            {
                try
                {
                    Complete(new InvalidOperationException("The group commit's flusher stopped before the batch was sent."));
                }
                finally
                {
                    _batch.Clear();
                    _waiters.Clear();
                    Volatile.Write(ref _flushing, 0);
                }

                if (!_queue.IsEmpty && Interlocked.CompareExchange(ref _flushing, 1, 0) == 0)
                {
                    _ = FlushAsync();
                }
            }
        }
    }

    /// <summary>Sends the batch, retrying with backoff while the send fails, until <see cref="_giveUpAfter"/> or the error callback says stop.</summary>
    private async Task SendWithRetriesAsync()
    {
        long started = _time.GetTimestamp();
        int backoffMs = 50;
        while (true)
        {
            try
            {
                await _send(_batch, _results).ConfigureAwait(false);
                return;
            }
            catch (Exception ex)
            {
                if (_time.GetElapsedTime(started) >= _giveUpAfter || !_onError(ex, backoffMs))
                {
                    throw;
                }

                await Task.Delay(TimeSpan.FromMilliseconds(backoffMs), _time, CancellationToken.None).ConfigureAwait(false);
                backoffMs = Math.Min(backoffMs * 2, 1000);
            }
        }
    }

    /// <summary>Wakes every waiter of the batch with its result, or with <paramref name="error"/>; empties the batch.</summary>
    private void Complete(Exception? error)
    {
        for (int i = 0; i < _waiters.Count; i++)
        {
            if (error is null)
            {
                _waiters[i].SetResult(_results[i]);
            }
            else
            {
                _waiters[i].SetException(error);
            }
        }

        _batch.Clear();
        _waiters.Clear();
    }

    /// <summary>A reusable awaitable for one item; returns itself to the pool once its result was read.</summary>
    private sealed class Waiter(ConcurrentQueue<Waiter> pool) : IValueTaskSource<int>
    {
        // Waiters resume on the thread pool, so a batch's consumers go on in parallel. Measured: resuming them inline on
        // the flusher's thread, and allowing a second call in flight, both made the drain slower (docs/performance.md).
        private ManualResetValueTaskSourceCore<int> _core = new() { RunContinuationsAsynchronously = true };

        public short Version => _core.Version;

        public void SetResult(int result) => _core.SetResult(result);

        public void SetException(Exception error) => _core.SetException(error);

        public int GetResult(short token)
        {
            try
            {
                return _core.GetResult(token);
            }
            finally
            {
                _core.Reset();
                pool.Enqueue(this);
            }
        }

        public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
            => _core.OnCompleted(continuation, state, token, flags);
    }
}
