namespace Celeriac.Brokers.InMemory;

internal sealed partial class InMemoryBroker
{
    /// <inheritdoc />
    /// <remarks>None: in-process waiters are woken directly.</remarks>
    public string? ReplyChannel => null;

    /// <inheritdoc />
    public string NewTaskId() => Guid.NewGuid().ToString();

    /// <inheritdoc />
    public async Task CompleteManyAsync(IReadOnlyList<CompleteItem> items, TimeSpan ttl, int[] completed, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(completed);
        for (int i = 0; i < items.Count; i++)
        {
            completed[i] = await CompleteAsync(items[i].Delivery, items[i].Result, ttl, cancellationToken).ConfigureAwait(false) ? 1 : 0;
        }
    }

    /// <inheritdoc />
    public async Task MarkStartedManyAsync(IReadOnlyList<StartItem> items, TimeSpan ttl, int[] runs, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(runs);
        for (int i = 0; i < items.Count; i++)
        {
            runs[i] = await MarkStartedAsync(items[i].Delivery, items[i].State, ttl, cancellationToken).ConfigureAwait(false);
        }
    }
}
