namespace Celeriac.Worker;

/// <summary>
/// The cancellation of a consumer's runs, one run after another: worker shutdown (linked to the hard-stop token),
/// revoke, or the soft time limit. One per consumer, reused from run to run, so that a run costs no cancellation
/// source, link or registration. <see cref="Begin"/> and <see cref="End"/> bracket a run; a revoke or a soft limit aimed
/// at a run that has ended (it carries the run's generation) changes nothing.
/// </summary>
/// <remarks>
/// The token a run sees is reset for the next run when it was not cancelled (<see cref="CancellationTokenSource.TryReset"/>),
/// as ASP.NET Core does for its pooled request-aborted tokens: a task that keeps its token after it returned may see a
/// later run's cancellation. A cancelled source is never reset: it is replaced.
/// </remarks>
internal sealed class RunControl : IDisposable
{
    private readonly CancellationToken _shutdown;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private CancellationTokenSource _cts;
    private CancellationTokenSource? _cancelling; // a source being cancelled outside the lock: never reset
    private CancellationTokenSource? _disposeAfterCancel; // replaced while being cancelled: its canceller disposes it
    private int _generation;
    private long _beganAt;
    private volatile bool _revoked;
    private volatile bool _softLimitHit;
    private ITimer? _softTimer;

    /// <param name="shutdown">Cancels every run (the worker's hard stop).</param>
    /// <param name="time">The clock of the soft time limit.</param>
    public RunControl(CancellationToken shutdown, TimeProvider time)
    {
        _shutdown = shutdown;
        _time = time;
        _cts = CancellationTokenSource.CreateLinkedTokenSource(shutdown);
    }

    /// <summary>The current run's token.</summary>
    public CancellationToken Token => _cts.Token;

    /// <summary>Identifies the current run (changes at <see cref="Begin"/> and <see cref="End"/>).</summary>
    public int Generation => Volatile.Read(ref _generation);

    /// <summary>When the current run began (<see cref="TimeProvider.GetTimestamp"/>), for inspection; 0 before the first.</summary>
    public long BeganAt => Volatile.Read(ref _beganAt);

    /// <summary>The last run was revoked while it ran (readable until the next <see cref="Begin"/>).</summary>
    public bool Revoked => _revoked;

    /// <summary>The last run hit its soft time limit (readable until the next <see cref="Begin"/>).</summary>
    public bool SoftLimitHit => _softLimitHit;

    /// <summary>Starts a run: flags cleared, a token that is not cancelled. Called by the consumer that owns this.</summary>
    public void Begin()
    {
        lock (_gate)
        {
            _generation++;
            Volatile.Write(ref _beganAt, _time.GetTimestamp());
            _revoked = false;
            _softLimitHit = false;
            // A source that was cancelled, or that a canceller is about to cancel, is replaced, never reset: the new
            // run must not see the old run's cancellation.
            if (ReferenceEquals(_cancelling, _cts) || !_cts.TryReset())
            {
                CancellationTokenSource old = _cts;
                _cts = CancellationTokenSource.CreateLinkedTokenSource(_shutdown);
                if (ReferenceEquals(_cancelling, old))
                {
                    _disposeAfterCancel = old; // its canceller is still running its callbacks
                }
                else
                {
                    old.Dispose();
                }
            }
        }
    }

    /// <summary>Ends the run: its soft limit can no longer fire, a late revoke no longer reaches it. The flags stay readable.</summary>
    public void End()
    {
        lock (_gate)
        {
            _generation++;
            _softTimer?.Dispose();
            _softTimer = null;
        }
    }

    /// <summary>Cancels the current run when its soft time limit passes.</summary>
    public void StartSoftLimit(TimeSpan after)
    {
        lock (_gate)
        {
            _softTimer = _time.CreateTimer(static s => ((Tuple<RunControl, int>)s!).Item1.OnSoftLimit(((Tuple<RunControl, int>)s!).Item2), Tuple.Create(this, _generation), after, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>Revokes run <paramref name="generation"/> if it is still the current one: sets <see cref="Revoked"/> and cancels it.</summary>
    public void Revoke(int generation) => CancelIfCurrent(generation, Reason.Revoke);

    /// <summary>Cancels the current run (a hard time limit abandoned it).</summary>
    public void Cancel() => CancelIfCurrent(Generation, Reason.None);

    public void Dispose()
    {
        lock (_gate)
        {
            _softTimer?.Dispose();
            _cts.Dispose();
        }
    }

    private void OnSoftLimit(int generation) => CancelIfCurrent(generation, Reason.SoftLimit);

    /// <summary>Why a run is cancelled, recorded with the cancellation (under the same lock).</summary>
    private enum Reason
    {
        None,
        Revoke,
        SoftLimit,
    }

    private void CancelIfCurrent(int generation, Reason reason)
    {
        // The source is taken under the lock (a run that has ended, or the next one, is never reached: Begin replaces a
        // source that is being cancelled instead of resetting it) and cancelled outside it: cancellation runs the task's
        // callbacks and continuations, which may end the run and start the next on this very thread.
        CancellationTokenSource cts;
        lock (_gate)
        {
            if (generation != _generation)
            {
                return;
            }

            _revoked |= reason == Reason.Revoke;
            _softLimitHit |= reason == Reason.SoftLimit;
            cts = _cts;
            _cancelling = cts;
        }

        try
        {
            cts.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The worker is being disposed.
        }
        catch (AggregateException)
        {
            // A callback of the task threw: the run still sees its token cancelled.
        }
        finally
        {
            bool dispose = false;
            lock (_gate)
            {
                if (ReferenceEquals(_cancelling, cts))
                {
                    _cancelling = null;
                }

                if (ReferenceEquals(_disposeAfterCancel, cts))
                {
                    _disposeAfterCancel = null;
                    dispose = true;
                }
            }

            if (dispose)
            {
                cts.Dispose();
            }
        }
    }
}
