namespace Celeriac.TestTasks;

/// <summary>
/// An instance task class: the worker resolves it from a DI scope per run, with its <see cref="ILedger"/>. The ledger is
/// how tests (and other processes) see what actually ran and how many times.
/// </summary>
public sealed partial class Work(ILedger ledger)
{
    [Task]
    public async Task<int> Record(string run, int n)
    {
        await ledger.RecordAsync(run, n.ToString(System.Globalization.CultureInfo.InvariantCulture)).ConfigureAwait(false);
        return n;
    }

    /// <summary>As <see cref="Sleep"/>, with the worker process's id in each entry (<c>start:n@pid</c>, <c>done:n@pid</c>): which process ran which run.</summary>
    [Task(Queue = "slow")]
    public async Task<int> SleepOn(string run, int n, int milliseconds, CancellationToken cancellationToken)
    {
        string pid = Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        await ledger.RecordAsync(run, $"start:{n}@{pid}").ConfigureAwait(false);
        await Task.Delay(milliseconds, cancellationToken).ConfigureAwait(false);
        await ledger.RecordAsync(run, $"done:{n}@{pid}").ConfigureAwait(false);
        return n;
    }

    [Task(Queue = "slow")]
    public async Task<int> Sleep(string run, int n, int milliseconds, CancellationToken cancellationToken)
    {
        await ledger.RecordAsync(run, $"start:{n}").ConfigureAwait(false);
        await Task.Delay(milliseconds, cancellationToken).ConfigureAwait(false);
        await ledger.RecordAsync(run, $"done:{n}").ConfigureAwait(false);
        return n;
    }
}
