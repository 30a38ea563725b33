namespace Celeriac.Brokers;

/// <summary>
/// The worker registry and the command path of inspect and control (docs/observability.md, "Inspect and control"). The
/// broker only carries opaque records (the encoding is <c>Control.ControlCodec</c>'s), so that both brokers have the same
/// semantics by construction:
/// <list type="bullet">
/// <item>a worker's entry lives until its expiry; a heartbeat pushes the expiry on; an entry past it is never listed and is
/// pruned by the next heartbeat of any worker; a worker that stops removes its own;</item>
/// <item>a command is queued for each addressed worker (durable until its expiry, so a lost hint delays it, never loses it)
/// and the worker is hinted at once; the worker takes its queued commands on the hint and on each heartbeat;</item>
/// <item>each reply is appended to the request's reply list, which expires; the client takes replies until every addressed
/// worker answered or its timeout passed.</item>
/// </list>
/// Implemented by <c>RedisBroker</c> (every key in the one slot of the <c>{workers}</c> hash tag) and <c>InMemoryBroker</c>.
/// </summary>
internal interface IWorkerControl
{
    /// <summary>Adds or refreshes the entry of worker <paramref name="workerId"/> with <paramref name="record"/>, live until <paramref name="expiresAtMs"/>; prunes entries that expired.</summary>
    Task HeartbeatWorkerAsync(string workerId, ReadOnlyMemory<byte> record, long expiresAtMs, CancellationToken cancellationToken);

    /// <summary>Removes the entry of worker <paramref name="workerId"/> and its queued commands (a graceful stop).</summary>
    Task RemoveWorkerAsync(string workerId, CancellationToken cancellationToken);

    /// <summary>The records of the workers whose entries have not expired, each with its expiry (unix ms).</summary>
    Task<IReadOnlyList<(ReadOnlyMemory<byte> Record, long ExpiresAtMs)>> ListWorkersAsync(CancellationToken cancellationToken);

    /// <summary>Queues <paramref name="command"/> for each of <paramref name="workerIds"/> (kept until <paramref name="expiresAtMs"/>) and hints each worker.</summary>
    Task SendCommandAsync(IReadOnlyList<string> workerIds, ReadOnlyMemory<byte> command, long expiresAtMs, CancellationToken cancellationToken);

    /// <summary>Takes (removes and returns) the commands queued for worker <paramref name="workerId"/>, oldest first.</summary>
    Task<IReadOnlyList<ReadOnlyMemory<byte>>> TakeCommandsAsync(string workerId, CancellationToken cancellationToken);

    /// <summary>Calls <paramref name="onHint"/> whenever a command was queued for <paramref name="workerId"/> (a best-effort hint).</summary>
    Task SubscribeCommandsAsync(string workerId, Action onHint, CancellationToken cancellationToken);

    /// <summary>Appends <paramref name="reply"/> to the replies of request <paramref name="requestId"/>, kept until <paramref name="expiresAtMs"/>.</summary>
    Task ReplyAsync(string requestId, ReadOnlyMemory<byte> reply, long expiresAtMs, CancellationToken cancellationToken);

    /// <summary>Takes (removes and returns) the replies of request <paramref name="requestId"/> that arrived so far.</summary>
    Task<IReadOnlyList<ReadOnlyMemory<byte>>> TakeRepliesAsync(string requestId, CancellationToken cancellationToken);
}
