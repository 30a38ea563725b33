using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.Tasks.Sources;

namespace Celeriac.Worker;

/// <summary>
/// Group commit for per-task broker writes (start, complete). Consumers queue an item and await its own result; a
/// flusher (at most <see cref="MaxInFlight"/> at a time) sends everything queued (at most <see cref="MaxBatch"/>) in one
/// broker operation and wakes each waiter with its own per-item result. The flusher never waits for a batch to fill: when it is idle, the first item
/// is sent at once (a batch of one), so latency under light load does not grow; under load, items queue while the
/// previous call is in flight and go together in the next one. Waiters are pooled: no allocation per item.
/// </summary>
/// <typeparam name="TItem">What a consumer submits.</typeparam>
internal sealed class GroupCommit<TItem>
{
    /// <summary>The most items sent in one broker operation.</summary>
    public const int MaxBatch = 256;

    /// <summary>
    /// The most broker operations in flight at once. Two: while one batch is on the wire or running in Redis, the next
    /// one gathers and is sent as soon as it has something, so a stage never idles for a whole round trip under load.
    /// Safe because every write is fenced per id and no two batches hold the same item.
    /// </summary>
    public const int MaxInFlight = 2;

    private readonly ConcurrentQueue<(TItem Item, Waiter Waiter)> _queue = new();
    private readonly ConcurrentQueue<Waiter> _pool = new();
    private readonly ConcurrentQueue<Batch> _batches = new();
    private readonly Func<List<TItem>, int[], Task> _send;
    private readonly Func<Exception, int, bool> _onError;
    private readonly TimeSpan _giveUpAfter;
    private readonly bool _inline;
    private int _flushing;

    /// <param name="send">Sends one batch and writes each item's result (same index) into the array.</param>
    /// <param name="inlineContinuations">
    /// Resume each waiter on the flusher's thread, one after another, instead of queueing each to the thread pool. Only
    /// for waiters whose continuation is short and never blocks (a consumer after its outcome: it only takes its next
    /// delivery and queues that delivery's start), since every waiter of the batch waits for the ones before it.
    /// </param>
    /// <param name="onError">Called with each failure of a send and the backoff (ms) before the retry; returns false to give up at once.</param>
    /// <param name="giveUpAfter">
    /// While the broker is unreachable the batch is retried with backoff (the writes are fenced per id, so a repeat after
    /// a write that did land changes nothing) until this much time has passed; then every item of the batch fails.
    /// </param>
    public GroupCommit(Func<List<TItem>, int[], Task> send, Func<Exception, int, bool> onError, TimeSpan giveUpAfter, bool inlineContinuations = false)
    {
        _inline = inlineContinuations;
        _send = send;
        _onError = onError;
        _giveUpAfter = giveUpAfter;
        for (int i = 0; i < MaxInFlight; i++)
        {
            _batches.Enqueue(new Batch());
        }
    }

    /// <summary>Queues <paramref name="item"/> and returns its own result once the batch holding it was sent.</summary>
    public ValueTask<int> SendAsync(TItem item)
    {
        if (!_pool.TryDequeue(out Waiter? waiter))
        {
            waiter = new Waiter(_pool, _inline);
        }

        short version = waiter.Version;
        _queue.Enqueue((item, waiter));
        TryStartFlusher();
        return new ValueTask<int>(waiter, version);
    }

    /// <summary>Starts a flusher unless <see cref="MaxInFlight"/> are running (one of them will take the item).</summary>
    private void TryStartFlusher()
    {
        int running = Volatile.Read(ref _flushing);
        while (running < MaxInFlight)
        {
            int seen = Interlocked.CompareExchange(ref _flushing, running + 1, running);
            if (seen == running)
            {
                _batches.TryDequeue(out Batch? batch);
                _ = FlushAsync(batch!);
                return;
            }

            running = seen;
        }
    }

    private async Task FlushAsync(Batch own)
    {
        List<TItem> batch = own.Items;
        List<Waiter> waiters = own.Waiters;
        int[] results = own.Results;
        while (true)
        {
            while (batch.Count < MaxBatch && _queue.TryDequeue(out (TItem Item, Waiter Waiter) entry))
            {
                batch.Add(entry.Item);
                waiters.Add(entry.Waiter);
            }

            if (batch.Count == 0)
            {
                _batches.Enqueue(own);
                Interlocked.Decrement(ref _flushing);
                // An item queued after the last TryDequeue but before the count dropped may have seen every flusher
                // busy: make sure one takes it.
                if (!_queue.IsEmpty)
                {
                    TryStartFlusher();
                }

                return;
            }

            Exception? error = null;
            long started = Stopwatch.GetTimestamp();
            int backoffMs = 50;
            while (true)
            {
                try
                {
                    await _send(batch, results).ConfigureAwait(false);
                    break;
                }
                catch (Exception ex)
                {
                    if (Stopwatch.GetElapsedTime(started) >= _giveUpAfter || !_onError(ex, backoffMs))
                    {
                        error = ex;
                        break;
                    }

                    await Task.Delay(backoffMs, CancellationToken.None).ConfigureAwait(false);
                    backoffMs = Math.Min(backoffMs * 2, 1000);
                }
            }

            // Copy out before waking anyone: an inline continuation may queue new items, which this flusher takes next.
            int count = waiters.Count;
            for (int i = 0; i < count; i++)
            {
                if (error is null)
                {
                    waiters[i].SetResult(results[i]);
                }
                else
                {
                    waiters[i].SetException(error);
                }
            }

            batch.Clear();
            waiters.Clear();
        }
    }

    /// <summary>One flusher's buffers (reused; there are <see cref="MaxInFlight"/> of them).</summary>
    private sealed class Batch
    {
        public List<TItem> Items { get; } = new(MaxBatch);

        public List<Waiter> Waiters { get; } = new(MaxBatch);

        public int[] Results { get; } = new int[MaxBatch];
    }

    /// <summary>A reusable awaitable for one item; returns itself to the pool once its result was read.</summary>
    private sealed class Waiter(ConcurrentQueue<Waiter> pool, bool inline) : IValueTaskSource<int>
    {
        private ManualResetValueTaskSourceCore<int> _core = new() { RunContinuationsAsynchronously = !inline };

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
