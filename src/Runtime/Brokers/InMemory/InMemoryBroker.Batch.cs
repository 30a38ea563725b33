namespace Celeriac.Brokers.InMemory;

internal sealed partial class InMemoryBroker
{
    /// <inheritdoc />
    /// <remarks>None: in-process waiters are woken directly.</remarks>
    public string? ReplyChannel => null;

    /// <inheritdoc />
    public string NewTaskId() => Guid.NewGuid().ToString();

    /// <inheritdoc />
    public Task CompleteManyAsync(IReadOnlyList<CompleteItem> items, TimeSpan ttl, int[] completed, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(completed);
        cancellationToken.ThrowIfCancellationRequested();
        for (int i = 0; i < items.Count; i++)
        {
            completed[i] = Complete(items[i].Delivery, items[i].Result, ttl) ? 1 : 0;
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task MarkStartedManyAsync(IReadOnlyList<StartItem> items, TimeSpan ttl, int[] runs, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(runs);
        cancellationToken.ThrowIfCancellationRequested();
        for (int i = 0; i < items.Count; i++)
        {
            runs[i] = MarkStarted(items[i].Delivery, items[i].State, ttl);
        }

        return Task.CompletedTask;
    }
}
