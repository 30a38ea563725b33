using System.Collections.Concurrent;
using System.Globalization;

namespace Celeriac.TestTasks;

/// <summary>
/// Runs that ignore their token and go on until the test opens their run's gate (in this process), resolved per run
/// from the run's DI scope: each instance records in the ledger when it is disposed, so a test sees when (and whether)
/// the scope of a run is disposed.
/// </summary>
public sealed partial class Overrun(ILedger ledger) : IDisposable
{
    private static readonly ConcurrentDictionary<string, TaskCompletionSource> Gates = new(StringComparer.Ordinal);
    private string? _run;
    private int _n;

    /// <summary>Lets every run of <paramref name="run"/> waiting at the gate return.</summary>
    public static void Open(string run) => Gate(run).TrySetResult();

    /// <summary>Blocks its thread past its hard time limit until the gate of <paramref name="run"/> opens; then records that it returned.</summary>
    [Task(TimeLimit = "300ms")]
    public int Blocked(string run, int n)
    {
        Enter(run, n);
        Gate(run).Task.Wait(TimeSpan.FromSeconds(60));
        ledger.RecordAsync(run, "late:" + n.ToString(CultureInfo.InvariantCulture)).Wait();
        return n;
    }

    /// <summary>
    /// Waits (without a thread, ignoring its token) until the gate of <paramref name="run"/> opens; then records that it
    /// finished. Records <c>cancelled:n</c> when its token is cancelled (a revoke, a stop), and goes on regardless.
    /// </summary>
    [Task(Queue = "slow")]
    public async Task<int> Gated(string run, int n, CancellationToken cancellationToken)
    {
        Enter(run, n);
        using CancellationTokenRegistration cancelled = cancellationToken.Register(() => _ = ledger.RecordAsync(run, "cancelled:" + n.ToString(CultureInfo.InvariantCulture)));
        await Gate(run).Task.WaitAsync(TimeSpan.FromSeconds(60), CancellationToken.None).ConfigureAwait(false);
        await ledger.RecordAsync(run, "done:" + n.ToString(CultureInfo.InvariantCulture)).ConfigureAwait(false);
        return n;
    }

    /// <summary>A task whose priority is declared on its attribute; records <c>start:n</c>.</summary>
    [Task(Queue = "slow", Priority = 7)]
    public async Task<int> Urgent(string run, int n)
    {
        await ledger.RecordAsync(run, "start:" + n.ToString(CultureInfo.InvariantCulture)).ConfigureAwait(false);
        return n;
    }

    /// <summary>Records <c>disposed:n</c>: the run's DI scope was disposed.</summary>
    public void Dispose()
    {
        if (_run is not null)
        {
            ledger.RecordAsync(_run, "disposed:" + _n.ToString(CultureInfo.InvariantCulture)).Wait();
        }
    }

    private void Enter(string run, int n)
    {
        _run = run;
        _n = n;
        ledger.RecordAsync(run, "start:" + n.ToString(CultureInfo.InvariantCulture)).Wait();
    }

    private static TaskCompletionSource Gate(string run) => Gates.GetOrAdd(run, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
}
