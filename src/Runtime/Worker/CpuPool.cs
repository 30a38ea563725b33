using System.Buffers;
using System.Collections.Concurrent;

namespace Celeriac.Worker;

/// <summary>
/// The worker's dedicated CPU threads (<see cref="TaskExecution.Cpu"/>): a fixed number of threads of its own, outside
/// the thread pool, each taking one run at a time from a shared queue. A run of a <see cref="TaskExecution.Cpu"/> task is
/// handed here by its consumer, which waits without holding a thread; so however many of them are in flight, at most
/// <see cref="Threads"/> compute at once, and the thread pool stays free for Redis replies, lease renewals and the
/// other tasks. Each run executes in its consumer's execution context (its running-task identity, log scopes and
/// trace context flow with it).
/// </summary>
internal sealed class CpuPool : IDisposable
{
    private readonly BlockingCollection<WorkItem> _work = new(new ConcurrentQueue<WorkItem>());
    private readonly Thread[] _threads;
    private int _busy;
    private int _peak;

    /// <summary>Starts <paramref name="threads"/> background threads named <c>celeriac-cpu-N</c>.</summary>
    /// <param name="threads">How many (at least 1).</param>
    public CpuPool(int threads)
    {
        _threads = new Thread[Math.Max(1, threads)];
        for (int i = 0; i < _threads.Length; i++)
        {
            _threads[i] = new Thread(Loop) { IsBackground = true, Name = "celeriac-cpu-" + i.ToString(System.Globalization.CultureInfo.InvariantCulture) };
            _threads[i].Start();
        }
    }

    /// <summary>How many threads the pool has.</summary>
    public int Threads => _threads.Length;

    /// <summary>How many runs wait for a free thread now.</summary>
    public int Waiting => _work.Count;

    /// <summary>The most runs that computed at once so far (tests and stats).</summary>
    public int Peak => Volatile.Read(ref _peak);

    /// <summary>
    /// Runs <paramref name="invoker"/> on one of the pool's threads, in the caller's execution context. The returned task
    /// completes when the method's returned task does (for an asynchronous method, its part after the first incomplete
    /// await runs where its awaits resume, not on the pool).
    /// </summary>
    /// <param name="invoker">The generated invoker.</param>
    /// <param name="args">The encoded arguments.</param>
    /// <param name="context">The run's context.</param>
    /// <param name="result">Receives the encoded return value.</param>
    /// <returns>The run.</returns>
    public ValueTask Run(TaskInvoker invoker, ReadOnlyMemory<byte> args, TaskContext context, IBufferWriter<byte> result)
    {
        var item = new WorkItem(invoker, args, context, result, ExecutionContext.Capture());
        try
        {
            _work.Add(item);
        }
        catch (InvalidOperationException)
        {
            return ValueTask.FromException(new ObjectDisposedException(nameof(CpuPool), "The worker's CPU threads have stopped."));
        }

        return new ValueTask(item.Done.Task);
    }

    /// <summary>Stops the threads once the runs already handed over are done (new runs are refused).</summary>
    public void Dispose() => _work.CompleteAdding();

    private void Loop()
    {
        foreach (WorkItem item in _work.GetConsumingEnumerable())
        {
            int busy = Interlocked.Increment(ref _busy);
            int peak;
            while (busy > (peak = Volatile.Read(ref _peak)) && Interlocked.CompareExchange(ref _peak, busy, peak) != peak)
            {
            }

            try
            {
                if (item.Context is { } context)
                {
                    ExecutionContext.Run(context, static state => ((WorkItem)state!).Invoke(), item);
                }
                else
                {
                    item.Invoke();
                }
            }
            finally
            {
                Interlocked.Decrement(ref _busy);
            }
        }
    }

    private sealed class WorkItem(TaskInvoker invoker, ReadOnlyMemory<byte> args, TaskContext context, IBufferWriter<byte> result, ExecutionContext? executionContext)
    {
        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public ExecutionContext? Context => executionContext;

        public void Invoke()
        {
            ValueTask run;
            try
            {
                run = invoker(args, context, result);
            }
            catch (Exception ex)
            {
                Done.SetException(ex); // a synchronous task method throws before returning
                return;
            }

            if (run.IsCompletedSuccessfully)
            {
                run.GetAwaiter().GetResult();
                Done.SetResult();
                return;
            }

            _ = CompleteAsync(run);
        }

        private async Task CompleteAsync(ValueTask run)
        {
            try
            {
                await run.ConfigureAwait(false);
                Done.SetResult();
            }
            catch (Exception ex)
            {
                Done.SetException(ex);
            }
        }
    }
}
