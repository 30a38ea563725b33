using System.Globalization;

namespace Celeriac.TestTasks;

/// <summary>Tasks for the batch tests: a member that adds tasks to its own batch while it runs, and a callback that records which batch called it back.</summary>
public sealed partial class Batches(ILedger ledger, ITaskClient client)
{
    /// <summary>A member that adds <paramref name="children"/> squares to the batch it runs in, then returns <paramref name="n"/>.</summary>
    [Task(Queue = "slow")]
    public async Task<int> Grow(string run, int n, int children, CancellationToken cancellationToken)
    {
        BatchHandle batch = Workflow.CurrentBatch(client) ?? throw new InvalidOperationException("Grow runs only as a batch's member.");
        for (int i = 0; i < children; i++)
        {
            await batch.AddAsync(Flows.SquareTask.Sig(run, (n * 100) + i, 50), cancellationToken).ConfigureAwait(false);
        }

        await ledger.RecordAsync(run, "grow:" + n.ToString(CultureInfo.InvariantCulture)).ConfigureAwait(false);
        return n;
    }

    /// <summary>A batch callback: records its kind and the batch's id.</summary>
    [Task]
    public async Task<string> Called(string batchId, string run, string kind)
    {
        await ledger.RecordAsync(run, kind + ":" + batchId).ConfigureAwait(false);
        return kind;
    }
}
