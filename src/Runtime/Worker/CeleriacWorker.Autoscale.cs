namespace Celeriac.Worker;

/// <summary>
/// What the autoscaler (<see cref="Autoscaler"/>) reads and changes. The fetch loop notes, per batch and only when
/// autoscale is on, whether its fetch leased all it asked for; the rest is read from state the worker keeps anyway.
/// </summary>
internal sealed partial class CeleriacWorker : IAutoscaled
{
    /// <summary>The autoscaler, or <see langword="null"/> when autoscale is off (<see cref="WorkerOptions.Autoscale"/>).</summary>
    private readonly Autoscaler? _autoscaler;

    private long _fullFetches; // fetches that leased all they asked for: the queues held more (written by the fetch loop only)
    private long _shortFetches; // fetches that leased fewer: a queue ran dry, or the memory budget bounded the fetch
    private volatile bool _fetching; // the fetch loop is in a broker call (blocking while the queues are empty)
    private volatile bool _lastFetchFull;
    private long _seenFull; // the counts at the autoscaler's last look (its own)
    private long _seenShort;

    /// <inheritdoc />
    public AutoscaleSample Sample()
    {
        int concurrency;
        int owed;
        lock (_resizeGate)
        {
            concurrency = _concurrency;
            owed = _owedPermits;
        }

        // Permits a shrink is still owed are free now but leave circulation as soon as a run ends.
        int unused = Math.Max(0, _runPermits.CurrentCount - owed);
        long full = Volatile.Read(ref _fullFetches);
        long shortOnes = Volatile.Read(ref _shortFetches);
        bool fullSince = full != _seenFull;
        bool shortSince = shortOnes != _seenShort;
        _seenFull = full;
        _seenShort = shortOnes;

        // The queues held more than the worker could take throughout: every fetch since the last look was full, or none
        // ended and the fetch loop waits for free slots (not in a blocking fetch of empty queues) after a full one.
        bool backlog = !shortSince && (fullSince || (!_fetching && _lastFetchFull));
        bool cpuQueued = _cpu is not null && _cpu.Waiting > 0;
        return new AutoscaleSample(concurrency, unused, backlog || _dispatch.ReadyCount > 0, cpuQueued);
    }

    /// <inheritdoc />
    public int ScaleTo(int target)
    {
        lock (_resizeGate)
        {
            if (!_stopping && target >= 1 && target != _concurrency)
            {
                ResizeLocked(target);
            }

            return _concurrency;
        }
    }

    /// <summary>The fetch loop is about to call the broker (only when autoscale is on).</summary>
    private void FetchStarting() => _fetching = true;

    /// <summary>The fetch loop's call returned <paramref name="leased"/> of the <paramref name="asked"/> (only when autoscale is on).</summary>
    private void FetchEnded(int leased, int asked)
    {
        bool full = leased >= asked;
        _lastFetchFull = full;
        _fetching = false;
        if (full)
        {
            Volatile.Write(ref _fullFetches, _fullFetches + 1);
        }
        else
        {
            Volatile.Write(ref _shortFetches, _shortFetches + 1);
        }
    }
}
