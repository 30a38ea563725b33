namespace Celeriac;

/// <summary>
/// Where the host's worker is: starting, ready (connected, its queues registered, consuming), reaching its broker or
/// not, stopped. A singleton registered by <c>AddWorker</c>: await <see cref="Ready"/> to know the worker consumes (the
/// host's own started event fires before the worker has reached Redis), or read it from a health check
/// (<c>AddCeleriacWorker</c> on <c>IHealthChecksBuilder</c>). Thread-safe.
/// </summary>
public sealed class WorkerStatus
{
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TimeProvider _time;
    private int _phase; // a Phase, read and written with Volatile
    private volatile bool _reachable = true;
    private volatile string? _brokerError;
    private long _unreachableSinceMs;
    private volatile string? _workerName;
    private volatile string? _crash;

    internal WorkerStatus(TimeProvider time) => _time = time;

    private enum Phase
    {
        Created,
        Starting,
        Ready,
        Stopping,
        Stopped,
    }

    /// <summary>
    /// Completes once the worker consumes: connected, its queues registered, and its first fetch answered by the broker.
    /// Faults with <see cref="InvalidOperationException"/> when the worker stops (or fails) before it got there.
    /// </summary>
    public Task Ready => _ready.Task;

    /// <summary>The worker consumes (<see cref="Ready"/> completed) and has not begun to stop.</summary>
    public bool IsReady => Volatile.Read(ref _phase) == (int)Phase.Ready;

    /// <summary>The worker was started and has neither stopped nor failed (the liveness check).</summary>
    public bool IsRunning => Volatile.Read(ref _phase) is (int)Phase.Starting or (int)Phase.Ready;

    /// <summary>
    /// The broker answered the worker's last call: <see langword="false"/> from a failed fetch, heartbeat or outcome write
    /// until a fetch succeeds again (the worker keeps retrying with back-off; its health is Degraded meanwhile).
    /// </summary>
    public bool IsBrokerReachable => _reachable;

    /// <summary>The error of the call that found the broker unreachable, while it is; <see langword="null"/> when reachable.</summary>
    public string? BrokerError => _reachable ? null : _brokerError;

    /// <summary>Since when the broker has been unreachable; <see langword="null"/> when it is reachable.</summary>
    public DateTimeOffset? UnreachableSince => _reachable ? null : DateTimeOffset.FromUnixTimeMilliseconds(Interlocked.Read(ref _unreachableSinceMs));

    /// <summary>The worker's name (<see cref="WorkerOptions.Name"/> or the one it made), once it was created.</summary>
    public string? WorkerName => _workerName;

    /// <summary>Why the worker stopped on its own (an exception's message), or <see langword="null"/>.</summary>
    public string? Failure => _crash;

    /// <summary>One line for a health report: the phase and, when unreachable, since when and why.</summary>
    /// <returns>The description.</returns>
    public override string ToString() => (Phase)Volatile.Read(ref _phase) switch
    {
        Phase.Ready when !_reachable => $"worker {_workerName} cannot reach its broker since {UnreachableSince:O}: {_brokerError}",
        Phase.Ready => $"worker {_workerName} is consuming",
        Phase.Starting => $"worker {_workerName} is starting (not consuming yet)",
        Phase.Stopping => $"worker {_workerName} is stopping",
        Phase.Stopped when _crash is not null => $"worker {_workerName} failed: {_crash}",
        Phase.Stopped => $"worker {_workerName} stopped",
        _ => "no worker was started",
    };

    internal void Starting(string name)
    {
        _workerName = name;
        Volatile.Write(ref _phase, (int)Phase.Starting);
    }

    /// <summary>A fetch was answered: the worker consumes, and the broker is reachable.</summary>
    internal void BrokerReached()
    {
        if (Volatile.Read(ref _phase) == (int)Phase.Ready && _reachable)
        {
            return; // the common case: two field reads per fetch
        }

        _reachable = true;
        _brokerError = null;
        if (Interlocked.CompareExchange(ref _phase, (int)Phase.Ready, (int)Phase.Starting) == (int)Phase.Starting)
        {
            _ready.TrySetResult();
        }
    }

    /// <summary>A call to the broker failed.</summary>
    internal void BrokerFailed(Exception error)
    {
        if (_reachable)
        {
            Interlocked.Exchange(ref _unreachableSinceMs, _time.GetUtcNow().ToUnixTimeMilliseconds());
            _brokerError = error.Message;
            _reachable = false;
        }
    }

    internal void Stopping()
    {
        _ = Interlocked.CompareExchange(ref _phase, (int)Phase.Stopping, (int)Phase.Ready);
        _ = Interlocked.CompareExchange(ref _phase, (int)Phase.Stopping, (int)Phase.Starting);
    }

    internal void Stopped(Exception? failure)
    {
        if (failure is not null)
        {
            _crash = failure.Message;
        }

        Volatile.Write(ref _phase, (int)Phase.Stopped);
        _ready.TrySetException(new InvalidOperationException($"The Celeriac worker {_workerName} stopped before it consumed" + (failure is null ? "." : ": " + failure.Message), failure));
    }
}
