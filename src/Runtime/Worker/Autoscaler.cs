using Microsoft.Extensions.Logging;

namespace Celeriac.Worker;

/// <summary>What the autoscaler reads from the worker at each look: counters the worker keeps anyway, no broker call.</summary>
/// <param name="Concurrency">How many tasks may run at once now.</param>
/// <param name="Unused">How many of those run permits no task holds now.</param>
/// <param name="WorkWaits">
/// Work waits for a free run slot: every fetch since the last look leased all it asked for (the queues held more), or
/// fetched tasks wait for a consumer.
/// </param>
/// <param name="CpuQueued">Runs wait for one of the dedicated CPU threads: more concurrency would only add waiters there.</param>
internal readonly record struct AutoscaleSample(int Concurrency, int Unused, bool WorkWaits, bool CpuQueued);

/// <summary>The worker as the autoscaler sees it (implemented by the worker; faked in the decision tests).</summary>
internal interface IAutoscaled
{
    /// <summary>The worker's id, for the log.</summary>
    string Name { get; }

    /// <summary>Reads the worker's state now; called once per look, by one caller.</summary>
    AutoscaleSample Sample();

    /// <summary>Moves the concurrency to <paramref name="target"/> (a shrink interrupts no running task); returns the concurrency now.</summary>
    int ScaleTo(int target);
}

/// <summary>
/// Autoscale (<see cref="WorkerOptions.Autoscale"/>): every <see cref="AutoscaleOptions.Interval"/> one look at the
/// worker. Work waiting doubles the concurrency, up to the maximum, and restarts the idle window; an idle window of
/// <see cref="AutoscaleOptions.IdleTime"/> in which no work waited and some run permits were never used shrinks it by
/// half the permits that stayed unused (at least one), down to the minimum. Nothing here runs per task.
/// </summary>
/// <remarks>
/// A grow or shrink by control command (<c>client.Control.GrowAsync</c>/<c>ShrinkAsync</c>) widens the bounds when it
/// leaves them, as Celery's does: a grow past the maximum raises it, a shrink below the minimum lowers it.
/// </remarks>
internal sealed class Autoscaler
{
    private readonly IAutoscaled _worker;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly TimeSpan _interval;
    private readonly TimeSpan _idleTime;
    private readonly Lock _gate = new();
    private int _min;
    private int _max;
    private long _idleSince;
    private int _leastUnused = int.MaxValue;

    public Autoscaler(IAutoscaled worker, AutoscaleOptions options, TimeProvider time, ILogger logger)
    {
        _worker = worker;
        _time = time;
        _logger = logger;
        _interval = options.Interval;
        _idleTime = options.IdleTime;
        _min = options.Min;
        _max = options.Max;
        _idleSince = time.GetTimestamp();
    }

    /// <summary>The least concurrency now (lowered by a shrink command below it).</summary>
    public int Min
    {
        get
        {
            lock (_gate)
            {
                return _min;
            }
        }
    }

    /// <summary>The most concurrency now (raised by a grow command past it).</summary>
    public int Max
    {
        get
        {
            lock (_gate)
            {
                return _max;
            }
        }
    }

    /// <summary>Looks at the worker every interval until <paramref name="stop"/>.</summary>
    public async Task RunAsync(CancellationToken stop)
    {
        lock (_gate)
        {
            _idleSince = _time.GetTimestamp();
        }

        while (true)
        {
            try
            {
                await Task.Delay(_interval, _time, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            Look();
        }
    }

    /// <summary>One look: grows, shrinks, or leaves the concurrency as it is.</summary>
    internal void Look()
    {
        AutoscaleSample sample = _worker.Sample();
        int target;
        lock (_gate)
        {
            target = Decide(sample);
        }

        if (target == sample.Concurrency)
        {
            return;
        }

        int now = _worker.ScaleTo(target);
        if (now != sample.Concurrency)
        {
            Log.Autoscaled(_logger, _worker.Name, sample.Concurrency, now, now > sample.Concurrency ? "work waits" : $"run slots stayed unused for {_idleTime.TotalSeconds:0.###} s");
        }
    }

    /// <summary>A control command moved the concurrency to <paramref name="concurrency"/>: the bounds widen to include it.</summary>
    public void Widen(int concurrency)
    {
        lock (_gate)
        {
            _max = Math.Max(_max, concurrency);
            _min = Math.Max(1, Math.Min(_min, concurrency));
            _idleSince = _time.GetTimestamp();
            _leastUnused = int.MaxValue;
        }
    }

    private int Decide(AutoscaleSample sample)
    {
        int concurrency = sample.Concurrency;
        if (sample.WorkWaits)
        {
            _idleSince = _time.GetTimestamp();
            _leastUnused = int.MaxValue;

            // Runs waiting for a CPU thread are bounded by CpuThreads, not by the concurrency: growing adds only waiters.
            return sample.CpuQueued || concurrency >= _max ? concurrency : (int)Math.Min(_max, concurrency * 2L);
        }

        _leastUnused = Math.Min(_leastUnused, sample.Unused);
        if (_time.GetElapsedTime(_idleSince) < _idleTime)
        {
            return concurrency;
        }

        int unused = _leastUnused;
        _idleSince = _time.GetTimestamp();
        _leastUnused = int.MaxValue;
        return unused == 0 || concurrency <= _min ? concurrency : Math.Max(_min, concurrency - Math.Max(1, unused / 2));
    }
}
