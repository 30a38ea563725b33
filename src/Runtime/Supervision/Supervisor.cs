using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Celeriac.Supervision;

/// <summary>
/// Runs <see cref="WorkerOptions.Processes"/> worker processes (copies of this program) and keeps them running: one loop
/// per slot starts its child, replaces it at once when it begins to recycle or crashes (backing off while it keeps
/// crashing at start), and leaves the slot empty when its child stopped by itself with exit code 0 (a control command
/// told it to). A stop closes every child's pipe (each stops gracefully), waits for them, and kills those still running
/// after their <see cref="WorkerOptions.ShutdownTimeout"/> and a margin.
/// </summary>
internal sealed class Supervisor
{
    /// <summary>A child that crashes sooner than this after its start is crash-looping: its next restart backs off.</summary>
    internal static readonly TimeSpan CrashLoopWindow = TimeSpan.FromSeconds(10);

    /// <summary>The back-off of the second crash in a row within <see cref="CrashLoopWindow"/>; it doubles with each further one.</summary>
    internal static readonly TimeSpan FirstBackoff = TimeSpan.FromSeconds(1);

    /// <summary>The longest back-off.</summary>
    internal static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(60);

    /// <summary>How long past <see cref="WorkerOptions.ShutdownTimeout"/> a stop waits for children before it kills them: their host's own stop.</summary>
    internal static readonly TimeSpan StopMargin = TimeSpan.FromSeconds(10);

    private readonly WorkerOptions _worker;
    private readonly ChildCommand _command;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly IHostApplicationLifetime _lifetime;
    private readonly Lock _gate = new();
    private readonly List<ChildProcess> _children = []; // alive: serving, and recycling until they exit
    private readonly CancellationTokenSource _stop = new();
    private Task _slots = Task.CompletedTask;
    private bool _stopping; // guarded by _gate

    public Supervisor(WorkerOptions worker, ChildCommand command, ILogger logger, TimeProvider time, IHostApplicationLifetime lifetime)
    {
        _worker = worker;
        _command = command;
        _logger = logger;
        _time = time;
        _lifetime = lifetime;
    }

    /// <summary>The children alive now, serving or recycling.</summary>
    internal IReadOnlyList<ChildProcess> Children
    {
        get
        {
            lock (_gate)
            {
                return [.. _children];
            }
        }
    }

    private bool IsStopping
    {
        get
        {
            lock (_gate)
            {
                return _stopping;
            }
        }
    }

    /// <summary>Starts the slots' loops; returns at once.</summary>
    public void Start()
    {
        SupervisionLog.Starting(_logger, Environment.ProcessId, _worker.Processes, _command.FileName, _command.Arguments.Count);
        Task[] slots = new Task[_worker.Processes];
        for (int i = 0; i < slots.Length; i++)
        {
            int index = i + 1;
            slots[i] = Task.Run(() => RunSlotAsync(index), CancellationToken.None);
        }

        _slots = Task.WhenAll(slots);
        _ = _slots.ContinueWith(
            static (_, s) =>
            {
                var self = (Supervisor)s!;
                if (!self.IsStopping)
                {
                    // Every child stopped by itself (exit code 0): nothing is left to supervise.
                    SupervisionLog.AllStopped(self._logger);
                    self._lifetime.StopApplication();
                }
            },
            this,
            CancellationToken.None,
            TaskContinuationOptions.None,
            TaskScheduler.Default);
    }

    /// <summary>Stops every child gracefully (their pipes close), waits for them, kills those still running after their shutdown timeout and a margin.</summary>
    public async Task StopAsync()
    {
        ChildProcess[] alive;
        lock (_gate)
        {
            _stopping = true; // under the gate: a child is either started before (and in the list) or never
            alive = [.. _children];
        }

        await _stop.CancelAsync().ConfigureAwait(false); // ends the back-off waits

        TimeSpan timeout = _worker.ShutdownTimeout + StopMargin;
        SupervisionLog.Stopping(_logger, alive.Length, (long)timeout.TotalMilliseconds);
        foreach (ChildProcess child in alive)
        {
            child.RequestStop();
        }

        try
        {
            await Task.WhenAll(alive.Select(c => c.Exited)).WaitAsync(timeout, _time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            foreach (ChildProcess child in alive.Where(c => !c.Exited.IsCompleted))
            {
                SupervisionLog.Killed(_logger, child.Index, child.Pid, (long)timeout.TotalMilliseconds);
                child.Kill();
            }

            try
            {
                await Task.WhenAll(alive.Select(c => c.Exited)).WaitAsync(TimeSpan.FromSeconds(5), _time).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // Killed, not yet reaped: nothing more to do for it.
            }
        }

        await _slots.WaitAsync(TimeSpan.FromSeconds(5), _time).ConfigureAwait(false);
        foreach (ChildProcess child in alive)
        {
            child.Dispose();
        }

        SupervisionLog.Stopped(_logger);
    }

    /// <summary>One slot: its child, then its replacements, until the supervisor stops or the child stops by itself.</summary>
    private async Task RunSlotAsync(int index)
    {
        int quickCrashes = 0; // crashes in a row, each sooner than CrashLoopWindow after its start
        while (true)
        {
            ChildProcess? child;
            try
            {
                child = StartChild(index);
            }
            catch (Exception ex)
            {
                // Cannot even start (a deleted executable, no more processes): as a crash at start.
                quickCrashes++;
                TimeSpan wait = Backoff(quickCrashes);
                SupervisionLog.StartFailed(_logger, ex, index, (long)wait.TotalMilliseconds);
                if (!await DelayAsync(Math.Max(wait.TotalMilliseconds, FirstBackoff.TotalMilliseconds)).ConfigureAwait(false))
                {
                    return;
                }

                continue;
            }

            if (child is null)
            {
                return; // stopping
            }

            SupervisionLog.ChildStarted(_logger, index, child.Pid);
            await Task.WhenAny(child.Recycling, child.Exited).ConfigureAwait(false);
            if (child.Recycling is { IsCompletedSuccessfully: true, Result: true } && !IsStopping)
            {
                // Warm hand-off: the child stopped fetching and drains; its replacement starts now, beside it.
                SupervisionLog.Recycling(_logger, index, child.Pid);
                _ = ReapAsync(child);
                quickCrashes = 0;
                continue;
            }

            await child.Exited.ConfigureAwait(false);
            Forget(child);
            if (IsStopping)
            {
                return;
            }

            int code = child.ExitCode;
            TimeSpan lived = _time.GetElapsedTime(child.StartedAt);
            child.Dispose();
            if (code == WorkerOptions.RecycleExitCode)
            {
                // Recycled without a word first (its pipe failed): replaced now.
                SupervisionLog.Recycled(_logger, index, child.Pid, code);
                quickCrashes = 0;
                continue;
            }

            if (code == 0)
            {
                SupervisionLog.ChildStoppedItself(_logger, index, child.Pid);
                return;
            }

            quickCrashes = lived < CrashLoopWindow ? quickCrashes + 1 : 1;
            TimeSpan delay = Backoff(quickCrashes);
            SupervisionLog.Crashed(_logger, index, child.Pid, code, (long)lived.TotalMilliseconds, (long)delay.TotalMilliseconds, quickCrashes);
            if (delay > TimeSpan.Zero && !await DelayAsync(delay.TotalMilliseconds).ConfigureAwait(false))
            {
                return;
            }
        }
    }

    /// <summary>The wait before restarting a slot whose child crashed <paramref name="quickCrashes"/> times in a row at start: none for the first, then 1 s, 2 s, 4 s … up to a minute.</summary>
    internal static TimeSpan Backoff(int quickCrashes)
    {
        if (quickCrashes <= 1)
        {
            return TimeSpan.Zero;
        }

        double ms = FirstBackoff.TotalMilliseconds * Math.Pow(2, Math.Min(quickCrashes - 2, 16));
        return TimeSpan.FromMilliseconds(Math.Min(ms, MaxBackoff.TotalMilliseconds));
    }

    /// <summary>Starts a child in <paramref name="index"/>'s slot, or returns <see langword="null"/> when the supervisor is stopping.</summary>
    private ChildProcess? StartChild(int index)
    {
        lock (_gate)
        {
            if (_stopping)
            {
                return null;
            }

            ChildProcess child = ChildProcess.Start(_command, index, _time);
            _children.Add(child);
            return child;
        }
    }

    /// <summary>A recycling child: logged and forgotten once it has exited (a stop meanwhile waits for it as for any child).</summary>
    private async Task ReapAsync(ChildProcess child)
    {
        await child.Exited.ConfigureAwait(false);
        Forget(child);
        SupervisionLog.Recycled(_logger, child.Index, child.Pid, child.ExitCode);
        if (!IsStopping)
        {
            child.Dispose(); // else the stop disposes it, after its wait
        }
    }

    private void Forget(ChildProcess child)
    {
        lock (_gate)
        {
            _children.Remove(child);
        }
    }

    private async Task<bool> DelayAsync(double milliseconds)
    {
        try
        {
            await Task.Delay(TimeSpan.FromMilliseconds(milliseconds), _time, _stop.Token).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
