using Celeriac.Brokers;

namespace Celeriac.Workflows;

/// <summary>
/// Something a workflow must do once a task's outcome is recorded (send the next step of a chain, count a chord
/// member, fail the workflow's last step), kept in the source queue's outbox until it is done. The store keeps the
/// payload as opaque bytes (<see cref="FlowCodec"/> writes and reads them); <see cref="Key"/> names it in the outbox.
/// </summary>
/// <param name="Key">Unique per follow-up and stable across repeats (<c>e:&lt;id&gt;</c>, <c>f:&lt;id&gt;</c>, <c>j:&lt;group&gt;:&lt;index&gt;</c>).</param>
/// <param name="Payload">The encoded follow-up.</param>
internal readonly record struct FollowUp(string Key, ReadOnlyMemory<byte> Payload);

/// <summary>A workflow task's outcome with its follow-ups (<see cref="IWorkflowStore.CompleteWithFollowUpsAsync"/>).</summary>
/// <param name="Item">The outcome (its delivery's lease token fences the write).</param>
/// <param name="FollowUps">What the workflow does next, stored in the queue's outbox with the outcome.</param>
internal readonly record struct FlowCompletion(CompleteItem Item, IReadOnlyList<FollowUp> FollowUps);

/// <summary>One chord member's final outcome, to count (<see cref="IWorkflowStore.JoinAsync"/>).</summary>
/// <param name="Index">The member's index (call order).</param>
/// <param name="Success">Whether it succeeded.</param>
/// <param name="Value">A success's encoded result; a failure's description (<see cref="FlowCodec.EncodeMemberError"/>).</param>
internal readonly record struct JoinItem(int Index, bool Success, ReadOnlyMemory<byte> Value);

/// <summary>Where a chord stands after a member's outcome was counted (<see cref="IWorkflowStore.JoinAsync"/>).</summary>
internal enum JoinState
{
    /// <summary>Members are still running.</summary>
    Open,

    /// <summary>Every member succeeded: <see cref="JoinReply.Values"/> holds their results in call order.</summary>
    Done,

    /// <summary>A member failed for good: <see cref="JoinReply.FailedIndex"/> and <see cref="JoinReply.FailedError"/> say which and why.</summary>
    Failed,

    /// <summary>The group's state is gone (expired, or never written): nothing to do.</summary>
    Gone,
}

/// <summary>The join's answer: the state and, once it is decided, what the forwarder needs to act on it.</summary>
internal sealed record JoinReply(JoinState State, ReadOnlyMemory<byte> Spec, int FailedIndex, ReadOnlyMemory<byte> FailedError, IReadOnlyList<ReadOnlyMemory<byte>> Values)
{
    public static readonly JoinReply Open = new(JoinState.Open, default, -1, default, []);

    public static readonly JoinReply Gone = new(JoinState.Gone, default, -1, default, []);
}

/// <summary>
/// The workflow role of a broker (docs/workflows.md): the atomic steps that make a chain's next step and a chord's
/// callback exactly-once under faults. Implemented by the Redis and in-process brokers with one contract.
/// </summary>
/// <remarks>
/// Every operation is idempotent or fenced, so the forwarder may repeat any of them after a crash: a completion is
/// fenced by its lease token; a send-once refuses an id that has a message or a result; a join counts a member index
/// once; a fail-once leaves a final result alone.
/// </remarks>
internal interface IWorkflowStore
{
    /// <summary>
    /// Atomically for each item whose lease is still held: stores the final result, acknowledges the message, notifies
    /// waiters (as <see cref="ITaskTransport.CompleteManyAsync"/>), and puts the item's follow-ups in its queue's outbox; in
    /// as few broker calls as the broker allows (one per queue for Redis), each item fenced on its own. Writes 1
    /// (completed) or 0 (lease lost: nothing changed for it) into <paramref name="completed"/>[i].
    /// </summary>
    Task CompleteWithFollowUpsAsync(IReadOnlyList<FlowCompletion> items, TimeSpan ttl, int[] completed, CancellationToken cancellationToken);

    /// <summary>
    /// Atomically, if the lease is still held: sets the message aside as a dead letter with its FAILURE result (as
    /// <see cref="ITaskTransport.DeadLetterAsync"/>) and puts <paramref name="followUps"/> (the workflow's failure) in
    /// the queue's outbox. Returns <see langword="false"/> (nothing changed) when the lease was lost.
    /// </summary>
    Task<bool> DeadLetterWithFollowUpsAsync(Delivery delivery, string reason, TaskResult result, IReadOnlyList<FollowUp> followUps, TimeSpan ttl, CancellationToken cancellationToken);

    /// <summary>Stores a message unless its id already has a message or a result in its queue (sent before); returns whether it was stored.</summary>
    Task<bool> EnqueueOnceAsync(EnqueueItem item, CancellationToken cancellationToken);

    /// <summary>Records <paramref name="result"/> (a FAILURE, or a group step's SUCCESS) as task <paramref name="taskId"/>'s result unless it already has a final one; notifies waiters.</summary>
    Task<bool> RecordOnceAsync(string queue, string taskId, TaskResult result, string? replyTo, TimeSpan ttl, CancellationToken cancellationToken);

    /// <summary>
    /// Writes a chord's join state: <paramref name="total"/> members, none counted, and its spec (callback, error callback,
    /// ids); with <paramref name="onlyIfAbsent"/>, leaves an existing state alone (a repeated fan-out).
    /// </summary>
    Task CreateGroupAsync(string groupId, int total, ReadOnlyMemory<byte> spec, TimeSpan ttl, bool onlyIfAbsent, CancellationToken cancellationToken);

    /// <summary>
    /// Counts chord members' final outcomes, each member index once (a repeat changes nothing), and returns where the
    /// chord stands after them. A success's value is kept for the callback; a failure fails the chord (the first one is kept).
    /// </summary>
    Task<JoinReply> JoinAsync(string groupId, IReadOnlyList<JoinItem> members, TimeSpan ttl, CancellationToken cancellationToken);

    /// <summary>Removes follow-ups that were carried out from <paramref name="queue"/>'s outbox.</summary>
    Task RemoveFollowUpsAsync(string queue, IReadOnlyList<string> keys, CancellationToken cancellationToken);

    /// <summary>
    /// Takes up to <paramref name="max"/> follow-ups of <paramref name="queue"/>'s outbox that were stored (or last
    /// taken) before <paramref name="olderThan"/>, marking them taken now: those whose worker died before carrying them out.
    /// </summary>
    Task<IReadOnlyList<FollowUp>> ClaimStaleFollowUpsAsync(string queue, DateTimeOffset olderThan, int max, CancellationToken cancellationToken);

    /// <summary>
    /// Records a workflow sent now, with the result TTL: <paramref name="ids"/> (every task id it may send) added to the
    /// tree of each of <paramref name="names"/> (its root id, its handle's id), and for a group its members' encoded
    /// (id, queue) list under <paramref name="groupId"/>.
    /// </summary>
    Task RecordAsync(IReadOnlyList<string> names, IReadOnlyList<string> ids, string? groupId, ReadOnlyMemory<byte> members, TimeSpan ttl, CancellationToken cancellationToken);

    /// <summary>A group's encoded members (<see cref="FlowCodec.EncodeMembers"/>), or null when it has no record.</summary>
    Task<ReadOnlyMemory<byte>?> ReadGroupAsync(string groupId, CancellationToken cancellationToken);

    /// <summary>Revokes <paramref name="name"/> and every id of its tree (as a single revocation does for one id), in bulk; returns how many ids.</summary>
    Task<int> RevokeTreeAsync(string name, TimeSpan keepFor, CancellationToken cancellationToken);

    /// <summary>Writes a batch's state: its members (<paramref name="ids"/>, all pending), open, and its spec (callbacks).</summary>
    Task CreateBatchAsync(string batchId, IReadOnlyList<string> ids, ReadOnlyMemory<byte> spec, TimeSpan ttl, CancellationToken cancellationToken);

    /// <summary>
    /// Adds members to an open batch, each id once (an id already counted, pending or finished, changes nothing).
    /// Returns whether the batch is still open (false: it completed, or its state is gone; nothing was added).
    /// </summary>
    Task<bool> AddToBatchAsync(string batchId, IReadOnlyList<string> ids, TimeSpan ttl, CancellationToken cancellationToken);

    /// <summary>
    /// Counts batch members' final outcomes, each id once; an id not added yet (its adder had not recorded it) is added
    /// and counted at once. The batch completes when nothing is pending. Returns its status and, once complete, its spec.
    /// </summary>
    Task<(BatchStatus? Status, ReadOnlyMemory<byte> Spec)> JoinBatchAsync(string batchId, IReadOnlyList<(string Id, bool Success)> members, TimeSpan ttl, CancellationToken cancellationToken);

    /// <summary>A batch's status, or null when it has no state (never created, or expired).</summary>
    Task<BatchStatus?> ReadBatchAsync(string batchId, CancellationToken cancellationToken);

    /// <summary>
    /// Waits until the batch is complete, woken by its completion (no polling), and returns its status then; at the
    /// timeout returns the status as it is (not complete); null when it has no state.
    /// </summary>
    Task<BatchStatus?> WaitBatchAsync(string batchId, TimeSpan timeout, CancellationToken cancellationToken);
}
