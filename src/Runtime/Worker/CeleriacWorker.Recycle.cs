using Celeriac.Supervision;

namespace Celeriac.Worker;

/// <summary>
/// Recycling (<see cref="WorkerOptions.MaxTasksPerProcess"/>, <see cref="WorkerOptions.MaxMemoryPerProcess"/>): the
/// worker tells its supervisor (which starts the replacement at once), sets the exit code
/// <see cref="WorkerOptions.RecycleExitCode"/> and stops its host, which stops it as a SIGTERM would: no more fetching,
/// the running tasks finish within the shutdown timeout, the held ones are handed back. After its task count, the tasks
/// it took run to their end first. Nothing here runs per task: the count is checked per fetched batch, the memory on
/// the heartbeat.
/// </summary>
internal sealed partial class CeleriacWorker
{
    /// <summary>How often the drain before a task-count recycle looks whether the held tasks have ended, besides each slot freed.</summary>
    private static readonly TimeSpan DrainPoll = TimeSpan.FromMilliseconds(100);

    private readonly ProcessRole _role;
    private int _recycling;

    /// <summary>Whether this worker began to recycle.</summary>
    internal bool IsRecycling => Volatile.Read(ref _recycling) != 0;

    /// <summary>At most the tasks left before <see cref="WorkerOptions.MaxTasksPerProcess"/> (at least one: the fetch loop recycles when none are left); the rest of <paramref name="free"/> goes back.</summary>
    private int CapToTasksLeft(int free)
    {
        long left = _worker.MaxTasksPerProcess - _fetched;
        if (left >= free)
        {
            return free;
        }

        _slots.Release(free - (int)left);
        return (int)left;
    }

    /// <summary>
    /// The worker took its <see cref="WorkerOptions.MaxTasksPerProcess"/> tasks: the supervisor hears at once (the
    /// replacement starts), the tasks taken (their runs were counted as they were fetched) run to their end, for at most
    /// <see cref="WorkerOptions.ShutdownTimeout"/> (a stop meanwhile ends the wait), then the host stops and the stop hands
    /// back whatever is still held.
    /// </summary>
    private async Task RecycleAfterTasksAsync(CancellationToken stoppingToken)
    {
        if (!BeginRecycle($"it took {_fetched} tasks (MaxTasksPerProcess {_worker.MaxTasksPerProcess})"))
        {
            return;
        }

        long started = _time.GetTimestamp();
        int taken = 0; // each held task that ends frees a slot: taking them is how this wait wakes
        try
        {
            while (_held.Count > 0 && _time.GetElapsedTime(started) < _worker.ShutdownTimeout)
            {
                if (await _slots.WaitAsync(DrainPoll, stoppingToken).ConfigureAwait(false))
                {
                    taken++;
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Stopped meanwhile: the graceful stop takes over.
        }
        finally
        {
            if (taken > 0)
            {
                _slots.Release(taken);
            }
        }

        _lifetime.StopApplication();
    }

    /// <summary>Recycles the worker at once once its resident memory exceeds <see cref="WorkerOptions.MaxMemoryPerProcess"/> (on the heartbeat thread).</summary>
    private void CheckMemory()
    {
        if (IsRecycling)
        {
            return;
        }

        long resident = ProcessMemory.ResidentBytes();
        if (resident > _worker.MaxMemoryPerProcess && BeginRecycle($"its resident memory is {resident / 1024} KiB, over MaxMemoryPerProcess ({_worker.MaxMemoryPerProcess / 1024} KiB)"))
        {
            _lifetime.StopApplication();
        }
    }

    /// <summary>Begins the recycle, once: logged, the exit code set, the supervisor told. <see langword="false"/> when it had begun already.</summary>
    private bool BeginRecycle(string reason)
    {
        if (Interlocked.Exchange(ref _recycling, 1) != 0)
        {
            return false;
        }

        SupervisionLog.WorkerRecycling(_logger, _name, reason, WorkerOptions.RecycleExitCode);
        Environment.ExitCode = WorkerOptions.RecycleExitCode;
        _role.Link?.Recycling();
        return true;
    }
}
