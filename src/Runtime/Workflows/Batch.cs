using Celeriac.Brokers;
using Celeriac.Workflows;

namespace Celeriac;

/// <summary>
/// A batch (Sidekiq Pro's batches): tasks of any kinds sent together, with callbacks that run once when every one has
/// finished (<see cref="OnComplete{TAny}"/>) or succeeded (<see cref="OnSuccess{TAny}"/>), a status readable by id, and
/// members that may add more tasks to the batch while they run (<see cref="BatchHandle.AddAsync{T}(TaskSignature{T}, CancellationToken)"/>). Immutable: every
/// method returns a copy. Made with <see cref="Workflow.Batch"/>.
/// </summary>
public sealed class TaskBatch
{
    private readonly IReadOnlyList<BatchMember> _members;
    private readonly StepSpec? _onSuccess;
    private readonly StepSpec? _onComplete;

    internal TaskBatch(IReadOnlyList<BatchMember> members, StepSpec? onSuccess, StepSpec? onComplete)
    {
        _members = members;
        _onSuccess = onSuccess;
        _onComplete = onComplete;
    }

    /// <summary>How many members the batch is sent with: a task, a chain or a chord counts as one, a group as its members.</summary>
    public int Count => _members.Count;

    /// <summary>The batch with one more task (of any kind).</summary>
    /// <typeparam name="T">The task's result (not read by the batch).</typeparam>
    /// <param name="task">The task, with its arguments.</param>
    /// <returns>The larger batch.</returns>
    public TaskBatch Add<T>(TaskSignature<T> task)
    {
        ArgumentNullException.ThrowIfNull(task);
        return With(new BatchMember(Workflow.Chain(task).Spec, null));
    }

    /// <summary>
    /// The batch with one more member that is a chain: it counts as one member, finished when its last step's outcome is
    /// recorded (a success when that step succeeded; a failure when any step failed for good, which ends the chain).
    /// </summary>
    /// <typeparam name="T">The chain's result (not read by the batch).</typeparam>
    /// <param name="chain">The chain.</param>
    /// <returns>The larger batch.</returns>
    public TaskBatch Add<T>(TaskChain<T> chain)
    {
        ArgumentNullException.ThrowIfNull(chain);
        return With(new BatchMember(chain.Spec, null));
    }

    /// <summary>The batch with every member of <paramref name="group"/> (a task or a chain each) as a member of its own.</summary>
    /// <typeparam name="T">The members' result (not read by the batch).</typeparam>
    /// <param name="group">The group.</param>
    /// <returns>The larger batch.</returns>
    public TaskBatch Add<T>(TaskGroup<T> group)
    {
        ArgumentNullException.ThrowIfNull(group);
        return new TaskBatch([.. _members, .. group.Members.Select(chain => new BatchMember(chain.Spec, null))], _onSuccess, _onComplete);
    }

    /// <summary>
    /// The batch with one more member that is a chord: it counts as one member, finished when the chord's last task's
    /// outcome is recorded (its callback's, or the last step's chained after it), or when the chord fails.
    /// </summary>
    /// <typeparam name="T">The chord's result (not read by the batch).</typeparam>
    /// <param name="chord">The chord.</param>
    /// <returns>The larger batch.</returns>
    public TaskBatch Add<T>(TaskChord<T> chord)
    {
        ArgumentNullException.ThrowIfNull(chord);
        return With(new BatchMember(null, chord.Spec));
    }

    private TaskBatch With(BatchMember member) => new([.. _members, member], _onSuccess, _onComplete);

    /// <summary>The batch with a callback that runs once when every member has succeeded (never when one failed for good); its first argument is the batch's id.</summary>
    /// <typeparam name="TAny">The callback's result (not read).</typeparam>
    /// <param name="callback">The callback; its first parameter is a <see cref="string"/>.</param>
    /// <returns>The batch with the callback.</returns>
    public TaskBatch OnSuccess<TAny>(TaskStep<string, TAny> callback)
    {
        ArgumentNullException.ThrowIfNull(callback);
        return new TaskBatch(_members, new StepSpec(callback.Header, callback.ArgCount, callback.RestArgs), _onComplete);
    }

    /// <summary>The batch with a callback that runs once when every member has finished, whatever the outcomes; its first argument is the batch's id.</summary>
    /// <typeparam name="TAny">The callback's result (not read).</typeparam>
    /// <param name="callback">The callback; its first parameter is a <see cref="string"/>.</param>
    /// <returns>The batch with the callback.</returns>
    public TaskBatch OnComplete<TAny>(TaskStep<string, TAny> callback)
    {
        ArgumentNullException.ThrowIfNull(callback);
        return new TaskBatch(_members, _onSuccess, new StepSpec(callback.Header, callback.ArgCount, callback.RestArgs));
    }

    /// <summary>
    /// Writes the batch's state (every member pending) and its chords' join states, then sends every member in bulk.
    /// The worker that records the last pending member's outcome sends the callbacks, each exactly once.
    /// </summary>
    /// <param name="client">The client (a <see cref="CeleriacClient"/>).</param>
    /// <param name="cancellationToken">Cancels the send.</param>
    /// <exception cref="InvalidOperationException">The batch has no task.</exception>
    /// <returns>The batch's handle.</returns>
    public async ValueTask<BatchHandle> DelayAsync(ITaskClient client, CancellationToken cancellationToken = default)
    {
        if (_members.Count == 0)
        {
            throw new InvalidOperationException("A batch needs at least one task (add more from inside its tasks once it runs).");
        }

        CeleriacClient celeriac = Workflow.ClientOf(client);
        foreach (BatchMember member in _members)
        {
            member.Chain?.Check(celeriac);
            member.Chord?.Check(celeriac);
        }

        _onSuccess?.Check(celeriac);
        _onComplete?.Check(celeriac);
        ITaskBroker broker = await celeriac.GetBrokerAsync(cancellationToken).ConfigureAwait(false);
        IWorkflowStore store = Workflow.StoreOf(broker);
        string batchId = broker.NewTaskId();
        string rootId = CeleriacClient.CurrentRootId() ?? batchId;
        var spec = new BatchSpec(_onSuccess?.Assign(broker.NewTaskId()), _onComplete?.Assign(broker.NewTaskId()), rootId);

        // A member is counted by its last task (a task alone is its own): the ids the batch starts with.
        var items = new List<EnqueueItem>(_members.Count);
        var ids = new string[_members.Count];
        var tree = new List<string>(_members.Count + 2);
        var writes = new List<Task>(2);
        for (int i = 0; i < ids.Length; i++)
        {
            if (_members[i].Chain is { } chain)
            {
                (EnqueueItem first, ids[i], _) = chain.Build(celeriac, broker, null, -1, rootId, reply: false, tree, batchId);
                items.Add(first);
            }
            else
            {
                ChordSpec chord = _members[i].Chord!;
                string groupId = broker.NewTaskId();
                ChordSending sending = chord.Prepare(celeriac, broker, groupId, rootId, batchId, tree);
                ids[i] = sending.Last.Id;
                items.AddRange(sending.Items);
                if (sending.Spec is { } groupSpec)
                {
                    writes.Add(store.CreateGroupAsync(groupId, chord.Members.Count, groupSpec, celeriac.ResultTtl, onlyIfAbsent: false, cancellationToken));
                }
            }
        }

        tree.AddRange(new[] { spec.OnSuccess?.Id, spec.OnComplete?.Id }.OfType<string>());
        writes.Add(store.CreateBatchAsync(batchId, ids, FlowCodec.EncodeBatchSpec(spec), celeriac.ResultTtl, cancellationToken));
        writes.Add(Workflow.RecordAsync(celeriac, broker, rootId, batchId, tree, null, default, cancellationToken));
        await Task.WhenAll(writes).ConfigureAwait(false);
        await broker.EnqueueAsync(items, cancellationToken).ConfigureAwait(false);
        return new BatchHandle(client, batchId);
    }
}

/// <summary>A batch's member before it is sent: a chain (a task is a chain of one) or a chord.</summary>
internal sealed record BatchMember(ChainSpec? Chain, ChordSpec? Chord);

/// <summary>A handle on a sent batch: its status, a wait for its completion, and tasks added to it while it is open.</summary>
public sealed class BatchHandle
{
    private readonly ITaskClient _client;

    internal BatchHandle(ITaskClient client, string id)
    {
        _client = client;
        Id = id;
    }

    /// <summary>The batch's id (its members' root id when it was sent outside a task).</summary>
    public string Id { get; }

    /// <summary>Reads the batch's status: how many tasks it has, how many are pending, succeeded, failed.</summary>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <exception cref="KeyNotFoundException">No batch has this id (never sent, or its state expired with its results).</exception>
    /// <returns>The status now.</returns>
    public async Task<BatchStatus> GetStatusAsync(CancellationToken cancellationToken = default)
    {
        CeleriacClient celeriac = Workflow.ClientOf(_client);
        ITaskBroker broker = await celeriac.GetBrokerAsync(cancellationToken).ConfigureAwait(false);
        return await Workflow.StoreOf(broker).ReadBatchAsync(Id, cancellationToken).ConfigureAwait(false)
            ?? throw new KeyNotFoundException($"No batch has the id '{Id}': it was never sent, or its state expired with its results (CeleriacOptions.ResultTtl).");
    }

    /// <summary>
    /// Waits until the batch is complete (nothing pending) and returns its final status. The wait is woken by the
    /// batch's completion (a pub/sub message on Redis, read again after a reconnect), not by polling.
    /// </summary>
    /// <param name="timeout">How long to wait.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <exception cref="TimeoutException">The batch was not complete in time.</exception>
    /// <exception cref="KeyNotFoundException">No batch has this id (never sent, or its state expired with its results).</exception>
    /// <returns>The final status.</returns>
    public async Task<BatchStatus> WaitAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        CeleriacClient celeriac = Workflow.ClientOf(_client);
        ITaskBroker broker = await celeriac.GetBrokerAsync(cancellationToken).ConfigureAwait(false);
        BatchStatus status = await Workflow.StoreOf(broker).WaitBatchAsync(Id, timeout, cancellationToken).ConfigureAwait(false)
            ?? throw new KeyNotFoundException($"No batch has the id '{Id}': it was never sent, or its state expired with its results (CeleriacOptions.ResultTtl).");
        return status.IsComplete ? status : throw new TimeoutException($"Batch {Id} was not complete after {timeout.TotalMilliseconds:0} ms ({status}).");
    }

    /// <summary>
    /// Adds a task to the batch while it is open — typically from inside one of its running tasks (<see cref="Workflow.CurrentBatch"/>),
    /// which keeps the batch open until the task has added what it adds: the batch completes only once nothing is pending.
    /// </summary>
    /// <typeparam name="T">The task's result.</typeparam>
    /// <param name="task">The task.</param>
    /// <param name="cancellationToken">Cancels the send.</param>
    /// <exception cref="InvalidOperationException">The batch is already complete (or its state is gone).</exception>
    /// <returns>The task's handle.</returns>
    public Task<TaskHandle<T>> AddAsync<T>(TaskSignature<T> task, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(task);
        return AddAsync(Workflow.Chain(task), cancellationToken);
    }

    /// <summary>
    /// Adds a chain to the batch while it is open (as <see cref="AddAsync{T}(TaskSignature{T}, CancellationToken)"/>
    /// adds a task): it counts as one member, finished when its last step's outcome is recorded.
    /// </summary>
    /// <typeparam name="T">The chain's result.</typeparam>
    /// <param name="chain">The chain.</param>
    /// <param name="cancellationToken">Cancels the send.</param>
    /// <exception cref="InvalidOperationException">The batch is already complete (or its state is gone).</exception>
    /// <returns>The handle on the chain's last step.</returns>
    public async Task<TaskHandle<T>> AddAsync<T>(TaskChain<T> chain, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(chain);
        CeleriacClient celeriac = Workflow.ClientOf(_client);
        chain.Spec.Check(celeriac);
        ITaskBroker broker = await celeriac.GetBrokerAsync(cancellationToken).ConfigureAwait(false);
        IWorkflowStore store = Workflow.StoreOf(broker);
        if (await store.ReadBatchAsync(Id, cancellationToken).ConfigureAwait(false) is not { IsComplete: false })
        {
            throw new InvalidOperationException($"Batch {Id} is complete (or its state expired): no task can be added to it.");
        }

        // Sent first, counted second: a member that finishes before it is counted is counted by its own outcome (the
        // join adds an id it does not know while the batch is open), and the adder, still running, keeps the batch open.
        string rootId = CeleriacClient.CurrentRootId() ?? Id;
        var tree = new List<string>(chain.Spec.Steps.Count + 1);
        (EnqueueItem item, string lastId, string lastQueue) = chain.Spec.Build(celeriac, broker, null, -1, rootId, reply: true, tree, Id);
        await Task.WhenAll(
            broker.EnqueueAsync([item], cancellationToken),
            Workflow.RecordAsync(celeriac, broker, rootId, Id, tree, null, default, cancellationToken)).ConfigureAwait(false);
        if (!await store.AddToBatchAsync(Id, [lastId], celeriac.ResultTtl, cancellationToken).ConfigureAwait(false))
        {
            throw new InvalidOperationException($"Batch {Id} completed while task {lastId} was added: the task was sent but is not counted in the batch.");
        }

        return new TaskHandle<T>(_client, lastId, lastQueue, chain.Formatter, chain.Options);
    }

    /// <inheritdoc/>
    public override string ToString() => Id;
}

/// <summary>A batch's status (<see cref="BatchHandle.GetStatusAsync"/>).</summary>
public sealed class BatchStatus
{
    /// <summary>Creates a status.</summary>
    /// <param name="id">The batch's id.</param>
    /// <param name="total">How many tasks the batch has (those added while it ran included).</param>
    /// <param name="pending">How many have no final outcome yet.</param>
    /// <param name="succeeded">How many succeeded.</param>
    /// <param name="failed">How many failed for good (a failure, a revocation, a dead letter).</param>
    /// <param name="isComplete">Whether the batch is complete: nothing is pending, its callbacks are due.</param>
    public BatchStatus(string id, int total, int pending, int succeeded, int failed, bool isComplete)
    {
        Id = id;
        Total = total;
        Pending = pending;
        Succeeded = succeeded;
        Failed = failed;
        IsComplete = isComplete;
    }

    /// <summary>The batch's id.</summary>
    public string Id { get; }

    /// <summary>How many tasks the batch has (those added while it ran included).</summary>
    public int Total { get; }

    /// <summary>How many have no final outcome yet.</summary>
    public int Pending { get; }

    /// <summary>How many succeeded.</summary>
    public int Succeeded { get; }

    /// <summary>How many failed for good (a failure, a revocation, a dead letter).</summary>
    public int Failed { get; }

    /// <summary>Whether the batch is complete: nothing is pending, and its callbacks are due.</summary>
    public bool IsComplete { get; }

    /// <inheritdoc/>
    public override string ToString() => $"batch {Id}: total {Total}, pending {Pending}, succeeded {Succeeded}, failed {Failed}{(IsComplete ? ", complete" : string.Empty)}";
}
