using System.Globalization;

namespace Celeriac.TestTasks;

/// <summary>
/// A task that is slow on its first delivery and quick on any later one: a worker killed while running many of them
/// leaves as many suspects (started, no outcome), which the next worker can then run quickly, each alone.
/// </summary>
public sealed partial class Suspects(ILedger ledger)
{
    /// <summary>Records <c>start:n@pid</c> and <c>done:n@pid</c>; sleeps <paramref name="firstMs"/> on the first delivery, 5 ms after.</summary>
    [Task(Queue = "slow")]
    public async Task<int> SlowFirst(string run, int n, int firstMs, TaskContext context)
    {
        string pid = Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        string id = n.ToString(CultureInfo.InvariantCulture);
        await ledger.RecordAsync(run, $"start:{id}@{pid}").ConfigureAwait(false);
        await Task.Delay(context.DeliveryCount == 1 ? firstMs : 5, context.CancellationToken).ConfigureAwait(false);
        await ledger.RecordAsync(run, $"done:{id}@{pid}").ConfigureAwait(false);
        return n;
    }
}
