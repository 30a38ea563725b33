using System.Buffers;
using System.Threading.Tasks.Sources;
using Celeriac.Brokers;
using Celeriac.Protocol;

namespace Celeriac.Worker;

/// <summary>
/// One consumer: what it reuses from task to task (its output buffer, its envelope, its run's cancellation) and the
/// awaitable on which it waits for its next delivery. Nothing here is allocated per task.
/// </summary>
internal sealed class Consumer : IValueTaskSource<Delivery?>
{
    // Consumers resume on the thread pool, not inline on the fetch loop's thread: measured, running them inline
    // serialised their work on one thread and cost 5-20% of the drain (docs/performance.md).
    private ManualResetValueTaskSourceCore<Delivery?> _next = new() { RunContinuationsAsynchronously = true };

    public Consumer(CancellationToken shutdown, TimeProvider time) => Run = new RunControl(shutdown, time);

    /// <summary>Receives the encoded return value of the running task.</summary>
    public ArrayBufferWriter<byte> Output { get; } = new(256);

    /// <summary>The running task's envelope, decoded into the same object every time.</summary>
    public Envelope Envelope { get; } = new() { Id = string.Empty, Task = string.Empty, Args = default, Queue = string.Empty };

    /// <summary>The running task's cancellation.</summary>
    public RunControl Run { get; }

    /// <summary>The running task as the sends its code makes see it (their parent).</summary>
    public RunningTask Running { get; } = new();

    private readonly TaskContext _context = TaskContext.CreateReusable();

    /// <summary>The consumer's reused context, for a task that takes none (<see cref="TaskNeeds"/>), pointed at this run.</summary>
    public TaskContext Reuse(CancellationToken cancellationToken, IServiceProvider? services)
    {
        _context.Reuse(cancellationToken, services);
        return _context;
    }

    /// <summary>The version of the awaitable to hand out next.</summary>
    public short Version => _next.Version;

    /// <summary>Hands this waiting consumer its next delivery, or <see langword="null"/> to stop.</summary>
    public void Give(Delivery? delivery) => _next.SetResult(delivery);

    public Delivery? GetResult(short token)
    {
        try
        {
            return _next.GetResult(token);
        }
        finally
        {
            _next.Reset();
        }
    }

    public ValueTaskSourceStatus GetStatus(short token) => _next.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => _next.OnCompleted(continuation, state, token, flags);
}

/// <summary>
/// Hands fetched deliveries to consumers: straight to a waiting consumer when there is one, else into a queue the
/// consumers take from. Bounded by the prefetch (the fetch loop never holds more), so after warm-up it allocates nothing.
/// </summary>
internal sealed class Dispatch
{
    private readonly Lock _gate = new();
    private readonly Queue<Delivery> _ready;
    private readonly Stack<Consumer> _idle;
    private int _readyCount;
    private int _idleCount;
    private bool _completed;

    public Dispatch(int prefetch, int consumers)
    {
        _ready = new Queue<Delivery>(prefetch);
        _idle = new Stack<Consumer>(consumers);
    }

    /// <summary>Deliveries waiting for a consumer.</summary>
    public int ReadyCount => Volatile.Read(ref _readyCount);

    /// <summary>Consumers waiting for a delivery.</summary>
    public int IdleCount => Volatile.Read(ref _idleCount);

    /// <summary>Gives <paramref name="delivery"/> to a waiting consumer, or queues it.</summary>
    public void Post(Delivery delivery)
    {
        Consumer? taker;
        lock (_gate)
        {
            if (!_idle.TryPop(out taker))
            {
                _ready.Enqueue(delivery);
                _readyCount = _ready.Count;
                return;
            }

            _idleCount = _idle.Count;
        }

        taker.Give(delivery);
    }

    /// <summary>The next delivery for <paramref name="consumer"/>; <see langword="null"/> once <see cref="Complete"/> was called and nothing is queued.</summary>
    public ValueTask<Delivery?> TakeAsync(Consumer consumer)
    {
        lock (_gate)
        {
            if (_ready.TryDequeue(out Delivery? delivery))
            {
                _readyCount = _ready.Count;
                return new ValueTask<Delivery?>(delivery);
            }

            if (_completed)
            {
                return new ValueTask<Delivery?>((Delivery?)null);
            }

            _idle.Push(consumer);
            _idleCount = _idle.Count;
            return new ValueTask<Delivery?>(consumer, consumer.Version);
        }
    }

    /// <summary>No more deliveries: returns what was queued and not taken, and stops the waiting consumers.</summary>
    public List<Delivery> Complete()
    {
        var unstarted = new List<Delivery>();
        Consumer[] waiting;
        lock (_gate)
        {
            _completed = true;
            unstarted.AddRange(_ready);
            _ready.Clear();
            _readyCount = 0;
            waiting = [.. _idle];
            _idle.Clear();
            _idleCount = 0;
        }

        foreach (Consumer consumer in waiting)
        {
            consumer.Give(null);
        }

        return unstarted;
    }
}

/// <summary>
/// The deliveries a worker holds (fetched and not yet acknowledged), for the heartbeat, revocations and shutdown. A
/// slot array with a free list: adding and removing allocate nothing once it has grown to the prefetch.
/// </summary>
internal sealed class HeldSet
{
    private readonly Lock _gate = new();
    private Delivery?[] _items;
    private int[] _free;
    private int _freeCount;
    private int _count;

    public HeldSet(int capacity)
    {
        _items = new Delivery?[Math.Max(1, capacity)];
        _free = new int[_items.Length];
        for (int i = 0; i < _free.Length; i++)
        {
            _free[i] = _free.Length - 1 - i;
        }

        _freeCount = _free.Length;
    }

    /// <summary>How many deliveries are held.</summary>
    public int Count => Volatile.Read(ref _count);

    public void Add(Delivery delivery)
    {
        lock (_gate)
        {
            if (_freeCount == 0)
            {
                Grow();
            }

            int slot = _free[--_freeCount];
            _items[slot] = delivery;
            delivery.HeldSlot = slot;
            _count++;
        }
    }

    /// <summary>Removes <paramref name="delivery"/>; false when it was not held.</summary>
    public bool Remove(Delivery delivery)
    {
        lock (_gate)
        {
            int slot = delivery.HeldSlot;
            if (slot < 0 || slot >= _items.Length || !ReferenceEquals(_items[slot], delivery))
            {
                return false;
            }

            _items[slot] = null;
            _free[_freeCount++] = slot;
            delivery.HeldSlot = -1;
            _count--;
            return true;
        }
    }

    /// <summary>
    /// Appends a copy of each held delivery's lease (<see cref="Delivery.CopyLease"/>) to <paramref name="into"/>: the
    /// deliveries themselves are reused once done, so nothing outside their consumer may keep them.
    /// </summary>
    public void CopyLeasesTo(List<Delivery> into)
    {
        lock (_gate)
        {
            foreach (Delivery? delivery in _items)
            {
                if (delivery is not null)
                {
                    into.Add(delivery.CopyLease());
                }
            }
        }
    }

    /// <summary>
    /// Calls <paramref name="visit"/> with each held delivery, under the set's lock (so none is reused meanwhile): for
    /// inspection, which reads what it needs and keeps no delivery.
    /// </summary>
    public void Visit(Action<Delivery> visit)
    {
        lock (_gate)
        {
            foreach (Delivery? delivery in _items)
            {
                if (delivery is not null)
                {
                    visit(delivery);
                }
            }
        }
    }

    /// <summary>
    /// Marks the held delivery of task <paramref name="taskId"/> revoked and returns its running run, if any, with the
    /// run's generation (a scan: revocations are rare). Under the set's lock, so the delivery cannot be reused meanwhile.
    /// </summary>
    /// <returns>Whether the task is held.</returns>
    public bool TryRevoke(string taskId, out RunControl? run, out int generation)
    {
        Span<byte> utf8 = stackalloc byte[Math.Min(256, System.Text.Encoding.UTF8.GetMaxByteCount(taskId.Length))];
        int length = System.Text.Encoding.UTF8.GetMaxByteCount(taskId.Length) <= utf8.Length ? System.Text.Encoding.UTF8.GetBytes(taskId, utf8) : -1;
        lock (_gate)
        {
            foreach (Delivery? delivery in _items)
            {
                if (delivery is null)
                {
                    continue;
                }

                bool match = length >= 0 && !delivery.IdUtf8.IsEmpty
                    ? delivery.IdUtf8.Span.SequenceEqual(utf8[..length])
                    : string.Equals(delivery.Id, taskId, StringComparison.Ordinal);
                if (!match)
                {
                    continue;
                }

                // The flag first, then the run: a consumer sets the run first, then reads the flag (see the worker's
                // Begin), so one of the two sees the other.
                delivery.RevokeRequested = true;
                Interlocked.MemoryBarrier();
                run = delivery.Control;
                generation = run?.Generation ?? 0;
                return true;
            }
        }

        run = null;
        generation = 0;
        return false;
    }

    private void Grow()
    {
        int old = _items.Length;
        Array.Resize(ref _items, old * 2);
        _free = new int[_items.Length];
        _freeCount = 0;
        for (int i = _items.Length - 1; i >= old; i--)
        {
            _free[_freeCount++] = i;
        }
    }
}
