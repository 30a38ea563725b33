namespace Celeriac.Control;

/// <summary>
/// Asks running workers what they are doing (Celery's <c>inspect</c>): each call goes to one worker or to every live
/// worker and collects the replies until all answered or the timeout passed; a worker that does not answer is listed in
/// <see cref="ControlReplies{T}.Missing"/>. Get it from <see cref="CeleriacClient.Inspect"/>.
/// </summary>
public sealed class WorkerInspector
{
    /// <summary>The default time to wait for replies: 1 second (Celery's default).</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(1);

    private readonly ControlRequests _requests;

    internal WorkerInspector(ControlRequests requests) => _requests = requests;

    /// <summary>Asks workers to answer: each live one replies <c>pong</c>.</summary>
    /// <param name="worker">The worker's id, or <see langword="null"/> for every live worker.</param>
    /// <param name="timeout">How long to wait for replies; <see langword="null"/> for <see cref="DefaultTimeout"/>.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>The replies and the workers that did not answer.</returns>
    public Task<ControlReplies<string>> PingAsync(string? worker = null, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
        => _requests.SendAsync(ControlCommands.Ping, null, 0, worker, timeout, ControlCodec.ReadString, cancellationToken);

    /// <summary>The tasks each worker is running now: id, name, queue, start, runtime and delivery count.</summary>
    /// <param name="worker">The worker's id, or <see langword="null"/> for every live worker.</param>
    /// <param name="timeout">How long to wait for replies; <see langword="null"/> for <see cref="DefaultTimeout"/>.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>The replies and the workers that did not answer.</returns>
    public Task<ControlReplies<IReadOnlyList<ActiveTask>>> ActiveAsync(string? worker = null, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
        => _requests.SendAsync(ControlCommands.Active, null, 0, worker, timeout, ControlCodec.ReadActive, cancellationToken);

    /// <summary>The tasks each worker has fetched and not started yet (prefetched: <see cref="WorkerOptions.Prefetch"/> above the concurrency).</summary>
    /// <param name="worker">The worker's id, or <see langword="null"/> for every live worker.</param>
    /// <param name="timeout">How long to wait for replies; <see langword="null"/> for <see cref="DefaultTimeout"/>.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>The replies and the workers that did not answer.</returns>
    public Task<ControlReplies<IReadOnlyList<ReservedTask>>> ReservedAsync(string? worker = null, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
        => _requests.SendAsync(ControlCommands.Reserved, null, 0, worker, timeout, ControlCodec.ReadReserved, cancellationToken);

    /// <summary>The tasks each worker can run (its dispatch table), ordered by name.</summary>
    /// <param name="worker">The worker's id, or <see langword="null"/> for every live worker.</param>
    /// <param name="timeout">How long to wait for replies; <see langword="null"/> for <see cref="DefaultTimeout"/>.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>The replies and the workers that did not answer.</returns>
    public Task<ControlReplies<IReadOnlyList<RegisteredTask>>> RegisteredAsync(string? worker = null, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
        => _requests.SendAsync(ControlCommands.Registered, null, 0, worker, timeout, ControlCodec.ReadRegistered, cancellationToken);

    /// <summary>Each worker's counters and settings now.</summary>
    /// <param name="worker">The worker's id, or <see langword="null"/> for every live worker.</param>
    /// <param name="timeout">How long to wait for replies; <see langword="null"/> for <see cref="DefaultTimeout"/>.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>The replies and the workers that did not answer.</returns>
    public Task<ControlReplies<WorkerStats>> StatsAsync(string? worker = null, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
        => _requests.SendAsync(ControlCommands.Stats, null, 0, worker, timeout, ControlCodec.ReadStats, cancellationToken);
}
