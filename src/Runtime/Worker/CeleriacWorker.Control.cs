using Celeriac.Brokers;
using Celeriac.Control;
using Celeriac.Protocol;
using Microsoft.Extensions.Hosting;

namespace Celeriac.Worker;

/// <summary>
/// What the worker tells and lets change at a control command's request (<see cref="WorkerControl"/>): nothing here runs
/// per task. Counts come from the fetch loop (per batch) and the failure path; the running and prefetched tasks from a
/// scan of the held set.
/// </summary>
internal sealed partial class CeleriacWorker : IControlledWorker
{
    private static readonly string RuntimeVersion = typeof(CeleriacWorker).Assembly.GetName().Version?.ToString() ?? "0.0.0";

    private readonly IHostApplicationLifetime _lifetime;
    private readonly Lock _resizeGate = new();
    private readonly List<Consumer> _consumers = [];
    private readonly List<Task> _consumerTasks = [];
    private DateTimeOffset _startedAt;
    private string[] _queues;
    private long _fetched; // deliveries fetched (written by the fetch loop only)
    private long _failedRuns;
    private int _prefetch; // how many the worker holds at most now
    private int _concurrency; // how many run at once now

    // A shrink takes run permits and prefetch slots out of circulation without interrupting a running task: what is free
    // at once, the rest as running tasks end (their consumer pays the debt instead of releasing: PayPermitDebt,
    // PaySlotDebt), so no new task starts until fewer than the new concurrency run. A grow cancels debts first, then
    // returns what was withheld, then adds permits, slots and consumers. Guarded by _resizeGate.
    private int _owedPermits;
    private int _withheldPermits;
    private int _owedSlots;
    private int _withheldSlots;

    /// <inheritdoc />
    public IReadOnlyList<string> Queues => Volatile.Read(ref _queues);

    /// <inheritdoc />
    public WorkerInfo Describe(DateTimeOffset expiresAt)
    {
        (int active, _) = CountHeld();
        return new WorkerInfo
        {
            Id = _name,
            Host = Environment.MachineName,
            ProcessId = Environment.ProcessId,
            Version = RuntimeVersion,
            Queues = Queues,
            Concurrency = Volatile.Read(ref _concurrency),
            Prefetch = Volatile.Read(ref _prefetch),
            StartedAt = _startedAt,
            LastHeartbeat = _time.GetUtcNow(),
            ExpiresAt = expiresAt,
            Processed = Processed(),
            Failed = Interlocked.Read(ref _failedRuns),
            Active = active,
        };
    }

    /// <inheritdoc />
    public IReadOnlyList<ActiveTask> Active()
    {
        var active = new List<ActiveTask>();
        DateTimeOffset now = _time.GetUtcNow();
        _held.Visit(delivery =>
        {
            if (delivery.Control is { } run && run.BeganAt != 0)
            {
                TimeSpan runtime = _time.GetElapsedTime(run.BeganAt);
                active.Add(new ActiveTask { TaskId = delivery.Id, TaskName = TaskNameOf(delivery), Queue = delivery.Queue, StartedAt = now - runtime, Runtime = runtime, DeliveryCount = delivery.DeliveryCount });
            }
        });
        return active;
    }

    /// <inheritdoc />
    public IReadOnlyList<ReservedTask> Reserved()
    {
        var reserved = new List<ReservedTask>();
        _held.Visit(delivery =>
        {
            if (delivery.Control is null)
            {
                reserved.Add(new ReservedTask { TaskId = delivery.Id, TaskName = TaskNameOf(delivery), Queue = delivery.Queue, DeliveryCount = delivery.DeliveryCount });
            }
        });
        return reserved;
    }

    /// <inheritdoc />
    public IReadOnlyList<RegisteredTask> Registered()
        => [.. _catalog.Tasks.Select(t => new RegisteredTask { Name = t.Name, Queue = t.Queue, Execution = t.Policy.Execution }).OrderBy(t => t.Name, StringComparer.Ordinal)];

    /// <inheritdoc />
    public WorkerStats Stats()
    {
        (int active, int reserved) = CountHeld();
        DateTimeOffset now = _time.GetUtcNow();
        return new WorkerStats
        {
            Host = Environment.MachineName,
            ProcessId = Environment.ProcessId,
            Version = RuntimeVersion,
            Broker = _broker?.Name ?? "none",
            StartedAt = _startedAt,
            Uptime = now - _startedAt,
            Queues = Queues,
            Concurrency = Volatile.Read(ref _concurrency),
            Prefetch = Volatile.Read(ref _prefetch),
            Processed = Processed(),
            Failed = Interlocked.Read(ref _failedRuns),
            Active = active,
            Reserved = reserved,
            BrokerReachable = _status.IsBrokerReachable,
            AutoscaleMin = _autoscaler?.Min,
            AutoscaleMax = _autoscaler?.Max,
        };
    }

    /// <inheritdoc />
    public async Task<string?> AddQueueAsync(string queue)
    {
        if (Queues.Contains(queue, StringComparer.Ordinal))
        {
            return null; // already consumed: nothing to change
        }

        if (_stopping)
        {
            return "the worker is stopping";
        }

        // Registered before it is fetched from, as at start (revocations made before it was known reach it too).
        await _broker!.RegisterQueuesAsync([queue], CancellationToken.None).ConfigureAwait(false);
        lock (_resizeGate)
        {
            if (!_queues.Contains(queue, StringComparer.Ordinal))
            {
                SetQueuesLocked([.. _queues, queue]);
            }
        }

        return null;
    }

    /// <inheritdoc />
    public string? CancelQueue(string queue)
    {
        lock (_resizeGate)
        {
            if (!_queues.Contains(queue, StringComparer.Ordinal))
            {
                return $"not consuming '{queue}'";
            }

            if (_queues.Length == 1)
            {
                return $"'{queue}' is the only queue it consumes (stop the worker instead)";
            }

            SetQueuesLocked([.. _queues.Where(q => !string.Equals(q, queue, StringComparison.Ordinal))]);
            return null;
        }
    }

    /// <inheritdoc />
    public (int Concurrency, string? Error) Resize(int delta)
    {
        int target;
        lock (_resizeGate)
        {
            if (_stopping)
            {
                return (_concurrency, "the worker is stopping");
            }

            if (_worker.Solo)
            {
                return (_concurrency, "the worker runs solo (one task at a time: Celeriac:Worker:Solo)");
            }

            target = Math.Max(1, _concurrency + delta);
            if (target == _concurrency)
            {
                return (_concurrency, delta < 0 ? "the concurrency is already 1" : null);
            }

            ResizeLocked(target);
        }

        // Outside the resize gate (the autoscaler takes its own gate first, then this one).
        _autoscaler?.Widen(target);
        return (target, null);
    }

    /// <summary>
    /// Moves the concurrency, and the prefetch with it, to <paramref name="target"/> (under <see cref="_resizeGate"/>):
    /// a grow adds permits, slots and consumers at once; a shrink takes back what is free and is owed the rest.
    /// </summary>
    private void ResizeLocked(int target)
    {
        int change = target - _concurrency;
        if (change > 0)
        {
            int permits = Give(change, ref _owedPermits, ref _withheldPermits);
            if (permits > 0)
            {
                _runPermits.Release(permits);
            }

            int slots = Give(change, ref _owedSlots, ref _withheldSlots);
            if (slots > 0)
            {
                _slots.Release(slots);
            }

            while (_consumers.Count < target)
            {
                StartConsumerLocked();
            }
        }
        else
        {
            _owedPermits += -change;
            _owedSlots += -change;
            while (_owedPermits > 0 && _runPermits.Wait(0))
            {
                _owedPermits--;
                _withheldPermits++;
            }

            while (_owedSlots > 0 && _slots.Wait(0))
            {
                _owedSlots--;
                _withheldSlots++;
            }
        }

        _concurrency = target;
        Volatile.Write(ref _prefetch, _prefetch + change);
    }

    /// <inheritdoc />
    public void Shutdown() => _lifetime.StopApplication();

    /// <summary>Starts one more consumer loop (under <see cref="_resizeGate"/>).</summary>
    private void StartConsumerLocked()
    {
        var consumer = new Consumer(_hardStop.Token, _time);
        _consumers.Add(consumer);
        _consumerTasks.Add(Task.Run(() => ConsumeLoopAsync(consumer), CancellationToken.None));
    }

    private Task[] ConsumerTasks()
    {
        lock (_resizeGate)
        {
            return [.. _consumerTasks];
        }
    }

    private Consumer[] ConsumerOwners()
    {
        lock (_resizeGate)
        {
            return [.. _consumers];
        }
    }

    /// <summary>The run permits in circulation now: the concurrency plus what a shrink has yet to take back.</summary>
    private int CirculatingPermits()
    {
        lock (_resizeGate)
        {
            return _concurrency + _owedPermits;
        }
    }

    /// <summary>A grow of <paramref name="change"/>: cancels what is owed, returns what was withheld; how many to release.</summary>
    private static int Give(int change, ref int owed, ref int withheld)
    {
        int cancelled = Math.Min(change, owed); // never taken: still in circulation
        owed -= cancelled;
        withheld -= Math.Min(change - cancelled, withheld);
        return change - cancelled;
    }

    /// <summary>A run ended while a shrink is owed permits: keeps what is owed; returns how many of <paramref name="permits"/> to release.</summary>
    private int PayPermitDebt(int permits)
    {
        lock (_resizeGate)
        {
            int paid = Math.Min(permits, _owedPermits);
            _owedPermits -= paid;
            _withheldPermits += paid;
            return permits - paid;
        }
    }

    /// <summary>A held delivery is done while a shrink is owed slots: keeps the slot (<see langword="true"/>) or lets it be released.</summary>
    private bool PaySlotDebt()
    {
        lock (_resizeGate)
        {
            if (_owedSlots == 0)
            {
                return false;
            }

            _owedSlots--;
            _withheldSlots++;
            return true;
        }
    }

    private void SetQueuesLocked(string[] queues)
    {
        Volatile.Write(ref _queues, queues);
        _queueSelector = new QueueSelector(queues, _worker.QueueOrder, _worker.QueueWeights);
    }

    private long Processed() => Math.Max(0, Interlocked.Read(ref _fetched) - _held.Count);

    private (int Active, int Reserved) CountHeld()
    {
        int active = 0;
        int reserved = 0;
        _held.Visit(delivery =>
        {
            if (delivery.Control is not null)
            {
                active++;
            }
            else
            {
                reserved++;
            }
        });
        return (active, reserved);
    }

    /// <summary>The task name in a held delivery's envelope (read, not decoded); <see langword="null"/> when it cannot be read.</summary>
    private static string? TaskNameOf(Delivery delivery)
    {
        try
        {
            EnvelopeFormats.For(delivery.Envelope.Span).Peek(delivery.Envelope, out string? task, out _);
            return task;
        }
        catch (EnvelopeException)
        {
            return null;
        }
    }
}
