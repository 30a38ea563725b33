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

    // A shrink takes run permits (and as many prefetch slots) out of circulation as running tasks end, never
    // interrupting one: _owed are still to be taken, _withheld were taken. A grow cancels what is owed first, then
    // returns what was withheld, then adds new permits and consumers.
    private int _owed;
    private int _withheld;
    private bool _withholding;

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
        => [.. _catalog.Tasks.Select(t => new RegisteredTask { Name = t.Name, Queue = t.Queue }).OrderBy(t => t.Name, StringComparer.Ordinal)];

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
        lock (_resizeGate)
        {
            if (_stopping)
            {
                return (_concurrency, "the worker is stopping");
            }

            int target = Math.Max(1, _concurrency + delta);
            int change = target - _concurrency;
            if (change == 0)
            {
                return (_concurrency, delta < 0 ? "the concurrency is already 1" : null);
            }

            if (change > 0)
            {
                int cancelled = Math.Min(change, _owed); // still in circulation: nothing to give back
                _owed -= cancelled;
                int returned = Math.Min(change - cancelled, _withheld);
                _withheld -= returned;
                int given = change - cancelled;
                if (given > 0)
                {
                    _runPermits.Release(given);
                    _slots.Release(given);
                }

                while (_consumers.Count < target)
                {
                    StartConsumerLocked();
                }
            }
            else
            {
                _owed += -change;
                if (!_withholding)
                {
                    _withholding = true;
                    _ = Task.Run(WithholdAsync, CancellationToken.None);
                }
            }

            _concurrency = target;
            Volatile.Write(ref _prefetch, _prefetch + change);
            return (target, null);
        }
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

    /// <summary>The run permits in circulation now: the concurrency plus what a shrink in progress has yet to withhold.</summary>
    private int CirculatingPermits()
    {
        lock (_resizeGate)
        {
            return _concurrency + _owed;
        }
    }

    /// <summary>
    /// Takes the permits a shrink owes out of circulation, one as each running task ends: a prefetch slot first (freed
    /// when a held task is done), then a run permit under the exclusive gate (so a suspect counting every permit is not
    /// raced). A grow meanwhile cancels what is owed; what was taken by then goes back.
    /// </summary>
    private async Task WithholdAsync()
    {
        while (true)
        {
            lock (_resizeGate)
            {
                if (_owed == 0 || _stopping)
                {
                    _withholding = false;
                    return;
                }
            }

            await _slots.WaitAsync().ConfigureAwait(false);
            await _exclusiveGate.WaitAsync().ConfigureAwait(false);
            try
            {
                await _runPermits.WaitAsync().ConfigureAwait(false);
            }
            finally
            {
                _exclusiveGate.Release();
            }

            lock (_resizeGate)
            {
                if (_owed > 0)
                {
                    _owed--;
                    _withheld++;
                }
                else
                {
                    _runPermits.Release();
                    _slots.Release();
                }
            }
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
