namespace Celeriac.Control;

/// <summary>
/// The worker registry: every running worker refreshes its entry every <see cref="WorkerOptions.RegistryInterval"/>; an
/// entry not refreshed for three intervals (a worker that died) is no longer listed; a worker that stops removes its own.
/// Get it from <see cref="CeleriacClient.Workers"/>. On Redis Cluster the registry lives in one slot (docs/observability.md).
/// </summary>
public sealed class WorkerRegistry
{
    private readonly ControlRequests _requests;

    internal WorkerRegistry(ControlRequests requests) => _requests = requests;

    /// <summary>Lists the live workers, ordered by id.</summary>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>Their entries as of their last heartbeat.</returns>
    public Task<IReadOnlyList<WorkerInfo>> ListAsync(CancellationToken cancellationToken = default) => _requests.ListAsync(cancellationToken);

    /// <summary>The entry of worker <paramref name="workerId"/>, or <see langword="null"/> when it is not live.</summary>
    /// <param name="workerId">The worker's id.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>Its entry, or <see langword="null"/>.</returns>
    public async Task<WorkerInfo?> GetAsync(string workerId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(workerId);
        IReadOnlyList<WorkerInfo> workers = await _requests.ListAsync(cancellationToken).ConfigureAwait(false);
        return workers.FirstOrDefault(w => string.Equals(w.Id, workerId, StringComparison.Ordinal));
    }
}
