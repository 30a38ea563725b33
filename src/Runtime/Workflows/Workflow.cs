using Celeriac.Brokers;
using Celeriac.Workflows;
using MessagePack;
using MessagePack.Formatters;

namespace Celeriac;

/// <summary>
/// Builds workflows from generated signatures (docs/workflows.md): a chain runs steps one after the other, each step's
/// result the next one's first argument; a group runs signatures in parallel; a chord is a group whose callback gets
/// every result. Typed end to end: a step that does not fit the one before it does not compile.
/// </summary>
public static class Workflow
{
    /// <summary>A chain of one step, to be extended with <see cref="TaskChain{TResult}.Then{TNext}(TaskStep{TResult, TNext})"/>.</summary>
    /// <typeparam name="T1">The first step's result.</typeparam>
    /// <param name="first">The first step.</param>
    /// <returns>The chain.</returns>
    public static TaskChain<T1> Chain<T1>(TaskSignature<T1> first)
    {
        ArgumentNullException.ThrowIfNull(first);
        return new TaskChain<T1>(new ChainSpec(first.Header, first.Args, []), first.ResultFormatter, first.SerializerOptions);
    }

    /// <summary>A chain of two steps: <paramref name="second"/> gets <paramref name="first"/>'s result as its first argument.</summary>
    /// <typeparam name="T1">The first step's result.</typeparam>
    /// <typeparam name="T2">The second step's result.</typeparam>
    /// <param name="first">The first step.</param>
    /// <param name="second">The second step.</param>
    /// <returns>The chain.</returns>
    public static TaskChain<T2> Chain<T1, T2>(TaskSignature<T1> first, TaskStep<T1, T2> second)
        => Chain(first).Then(second);

    /// <summary>A chain of three steps, each one's result the next one's first argument.</summary>
    /// <typeparam name="T1">The first step's result.</typeparam>
    /// <typeparam name="T2">The second step's result.</typeparam>
    /// <typeparam name="T3">The third step's result.</typeparam>
    /// <param name="first">The first step.</param>
    /// <param name="second">The second step.</param>
    /// <param name="third">The third step.</param>
    /// <returns>The chain.</returns>
    public static TaskChain<T3> Chain<T1, T2, T3>(TaskSignature<T1> first, TaskStep<T1, T2> second, TaskStep<T2, T3> third)
        => Chain(first).Then(second).Then(third);

    /// <summary>A chain of four steps, each one's result the next one's first argument.</summary>
    /// <typeparam name="T1">The first step's result.</typeparam>
    /// <typeparam name="T2">The second step's result.</typeparam>
    /// <typeparam name="T3">The third step's result.</typeparam>
    /// <typeparam name="T4">The fourth step's result.</typeparam>
    /// <param name="first">The first step.</param>
    /// <param name="second">The second step.</param>
    /// <param name="third">The third step.</param>
    /// <param name="fourth">The fourth step.</param>
    /// <returns>The chain.</returns>
    public static TaskChain<T4> Chain<T1, T2, T3, T4>(TaskSignature<T1> first, TaskStep<T1, T2> second, TaskStep<T2, T3> third, TaskStep<T3, T4> fourth)
        => Chain(first).Then(second).Then(third).Then(fourth);

    /// <summary>
    /// A chain that starts with a step (its first argument still to come): a member of a group or chord inside a chain
    /// (<see cref="Group{TInput, T}(IEnumerable{TaskChainStep{TInput, T}})"/>), whose first step gets the previous step's
    /// result and whose last step's result is the one the group collects. Extend it with <c>Then</c>.
    /// </summary>
    /// <typeparam name="TInput">What the step before the chain returns: the first step's first parameter.</typeparam>
    /// <typeparam name="T1">The first step's result.</typeparam>
    /// <param name="first">The first step.</param>
    /// <returns>The chain.</returns>
    public static TaskChainStep<TInput, T1> Chain<TInput, T1>(TaskStep<TInput, T1> first)
    {
        ArgumentNullException.ThrowIfNull(first);
        return new TaskChainStep<TInput, T1>([new StepSpec(first.Header, first.ArgCount, first.RestArgs)], first.ResultFormatter, first.SerializerOptions);
    }

    /// <summary>A chain of two steps that starts with a step (<see cref="Chain{TInput, T1}(TaskStep{TInput, T1})"/>).</summary>
    /// <typeparam name="TInput">What the step before the chain returns: the first step's first parameter.</typeparam>
    /// <typeparam name="T1">The first step's result.</typeparam>
    /// <typeparam name="T2">The second step's result.</typeparam>
    /// <param name="first">The first step.</param>
    /// <param name="second">The second step.</param>
    /// <returns>The chain.</returns>
    public static TaskChainStep<TInput, T2> Chain<TInput, T1, T2>(TaskStep<TInput, T1> first, TaskStep<T1, T2> second)
        => Chain(first).Then(second);

    /// <summary>A chain of three steps that starts with a step (<see cref="Chain{TInput, T1}(TaskStep{TInput, T1})"/>).</summary>
    /// <typeparam name="TInput">What the step before the chain returns: the first step's first parameter.</typeparam>
    /// <typeparam name="T1">The first step's result.</typeparam>
    /// <typeparam name="T2">The second step's result.</typeparam>
    /// <typeparam name="T3">The third step's result.</typeparam>
    /// <param name="first">The first step.</param>
    /// <param name="second">The second step.</param>
    /// <param name="third">The third step.</param>
    /// <returns>The chain.</returns>
    public static TaskChainStep<TInput, T3> Chain<TInput, T1, T2, T3>(TaskStep<TInput, T1> first, TaskStep<T1, T2> second, TaskStep<T2, T3> third)
        => Chain(first).Then(second).Then(third);

    /// <summary>A group: the signatures run in parallel; the handle gives their results in call order.</summary>
    /// <typeparam name="T">The members' result.</typeparam>
    /// <param name="members">The members.</param>
    /// <returns>The group.</returns>
    public static TaskGroup<T> Group<T>(IEnumerable<TaskSignature<T>> members)
    {
        ArgumentNullException.ThrowIfNull(members);
        return new TaskGroup<T>([.. members.Select(m => Chain(m))]);
    }

    /// <summary>A group of chains: the chains run in parallel (each one's steps in order); the handle gives their last steps' results in call order.</summary>
    /// <typeparam name="T">The chains' result.</typeparam>
    /// <param name="members">The chains.</param>
    /// <returns>The group.</returns>
    public static TaskGroup<T> Group<T>(IEnumerable<TaskChain<T>> members)
    {
        ArgumentNullException.ThrowIfNull(members);
        return new TaskGroup<T>([.. members]);
    }

    /// <summary>
    /// A group inside a chain: each member is a step whose first argument is the previous step's result (Celery's
    /// <c>chain(a, group(b, c))</c>). Put it in a chain with <see cref="TaskChain{TResult}.Then{T}(TaskGroupStep{TResult, T})"/>.
    /// </summary>
    /// <typeparam name="TInput">What the previous step returns: every member's first parameter.</typeparam>
    /// <typeparam name="T">The members' result.</typeparam>
    /// <param name="members">The members (at least one).</param>
    /// <returns>The group step.</returns>
    public static TaskGroupStep<TInput, T> Group<TInput, T>(IEnumerable<TaskStep<TInput, T>> members)
    {
        ArgumentNullException.ThrowIfNull(members);
        TaskStep<TInput, T>[] steps = [.. members];
        if (steps.Length == 0)
        {
            throw new ArgumentException("A group inside a chain needs at least one member.", nameof(members));
        }

        return new TaskGroupStep<TInput, T>([.. steps.Select(m => new StepSpec(m.Header, m.ArgCount, m.RestArgs))], steps[0].ResultFormatter, steps[0].SerializerOptions);
    }

    /// <summary>
    /// A group of chains inside a chain (Celery's <c>chain(a, group(chain(b, c), chain(d, e)))</c>): each member chain's
    /// first step gets the previous step's result, its steps run in order, and the chains run in parallel; the chain goes
    /// on with each member chain's last result, in call order. A step of a member chain that fails for good fails the group.
    /// </summary>
    /// <typeparam name="TInput">What the previous step returns: every member chain's first step's first parameter.</typeparam>
    /// <typeparam name="T">The member chains' result.</typeparam>
    /// <param name="members">The member chains (<see cref="Chain{TInput, T1}(TaskStep{TInput, T1})"/>), at least one.</param>
    /// <returns>The group step.</returns>
    public static TaskGroupStep<TInput, T> Group<TInput, T>(IEnumerable<TaskChainStep<TInput, T>> members)
    {
        ArgumentNullException.ThrowIfNull(members);
        TaskChainStep<TInput, T>[] chains = [.. members];
        if (chains.Length == 0)
        {
            throw new ArgumentException("A group inside a chain needs at least one member.", nameof(members));
        }

        return new TaskGroupStep<TInput, T>([.. chains.Select(chain => (chain ?? throw new ArgumentNullException(nameof(members), "A member is null.")).AsMember())], chains[0].Formatter, chains[0].Options);
    }

    /// <summary>
    /// A chord of chains inside a chain: each member chain's first step gets the previous step's result, and once every
    /// chain's last step has succeeded <paramref name="callback"/> runs, exactly once, with their results in call order.
    /// </summary>
    /// <typeparam name="TInput">What the previous step returns: every member chain's first step's first parameter.</typeparam>
    /// <typeparam name="T">The member chains' result.</typeparam>
    /// <typeparam name="TResult">The callback's result.</typeparam>
    /// <param name="members">The member chains, at least one.</param>
    /// <param name="callback">The callback; its first parameter is a <typeparamref name="T"/>[].</param>
    /// <returns>The chord step.</returns>
    public static TaskChordStep<TInput, TResult> Chord<TInput, T, TResult>(IEnumerable<TaskChainStep<TInput, T>> members, TaskStep<T[], TResult> callback)
    {
        ArgumentNullException.ThrowIfNull(callback);
        TaskGroupStep<TInput, T> group = Group(members);
        return new TaskChordStep<TInput, TResult>(group.Members, new StepSpec(callback.Header, callback.ArgCount, callback.RestArgs), callback.ResultFormatter, callback.SerializerOptions);
    }

    /// <summary>
    /// A chord inside a chain: each member gets the previous step's result as its first argument, and once every one
    /// has succeeded <paramref name="callback"/> runs, exactly once, with their results. Put it in a chain with
    /// <see cref="TaskChain{TResult}.Then{TNext}(TaskChordStep{TResult, TNext})"/>.
    /// </summary>
    /// <typeparam name="TInput">What the previous step returns: every member's first parameter.</typeparam>
    /// <typeparam name="T">The members' result.</typeparam>
    /// <typeparam name="TResult">The callback's result.</typeparam>
    /// <param name="members">The members (at least one).</param>
    /// <param name="callback">The callback; its first parameter is a <typeparamref name="T"/>[].</param>
    /// <returns>The chord step.</returns>
    public static TaskChordStep<TInput, TResult> Chord<TInput, T, TResult>(IEnumerable<TaskStep<TInput, T>> members, TaskStep<T[], TResult> callback)
    {
        ArgumentNullException.ThrowIfNull(callback);
        TaskGroupStep<TInput, T> group = Group(members);
        return new TaskChordStep<TInput, TResult>(group.Members, new StepSpec(callback.Header, callback.ArgCount, callback.RestArgs), callback.ResultFormatter, callback.SerializerOptions);
    }

    /// <summary>
    /// A chord: the members run in parallel, and once every one has succeeded <paramref name="callback"/> runs, exactly
    /// once, with their results in call order as its first argument. A member that fails for good fails the chord.
    /// </summary>
    /// <typeparam name="T">The members' result.</typeparam>
    /// <typeparam name="TResult">The callback's result.</typeparam>
    /// <param name="members">The members.</param>
    /// <param name="callback">The callback; its first parameter is a <typeparamref name="T"/>[].</param>
    /// <returns>The chord.</returns>
    public static TaskChord<TResult> Chord<T, TResult>(IEnumerable<TaskSignature<T>> members, TaskStep<T[], TResult> callback)
    {
        ArgumentNullException.ThrowIfNull(members);
        return Chord(members.Select(m => Chain(m)), callback);
    }

    /// <summary>
    /// A chord of chains: the chains run in parallel (each one's steps in order), and once every chain's last step has
    /// succeeded <paramref name="callback"/> runs, exactly once, with their results in call order. A step that fails for
    /// good fails its chain and so the chord.
    /// </summary>
    /// <typeparam name="T">The chains' result.</typeparam>
    /// <typeparam name="TResult">The callback's result.</typeparam>
    /// <param name="members">The chains.</param>
    /// <param name="callback">The callback; its first parameter is a <typeparamref name="T"/>[].</param>
    /// <returns>The chord.</returns>
    public static TaskChord<TResult> Chord<T, TResult>(IEnumerable<TaskChain<T>> members, TaskStep<T[], TResult> callback)
    {
        ArgumentNullException.ThrowIfNull(members);
        ArgumentNullException.ThrowIfNull(callback);
        return new TaskChord<TResult>(
            [.. members.Select(m => m.Spec)],
            new StepSpec(callback.Header, callback.ArgCount, callback.RestArgs),
            [],
            null,
            callback.ResultFormatter,
            callback.SerializerOptions);
    }

    /// <summary>
    /// A map (Celery's <c>map</c> and <c>starmap</c>): every call runs in one message, one after the other, in the
    /// worker that takes it; the result is their results in call order. A signature like any other: send it, chain it,
    /// make it a group's or a chord's member. The calls go to one queue (the first call's), whose workers run them all.
    /// </summary>
    /// <typeparam name="T">The calls' result.</typeparam>
    /// <param name="calls">The calls (signatures of tasks that return <typeparamref name="T"/>), at least one, all routed to one queue.</param>
    /// <returns>The map's signature.</returns>
    /// <exception cref="ArgumentException">No call, or calls routed to different queues.</exception>
    public static TaskSignature<T[]> Map<T>(IEnumerable<TaskSignature<T>> calls)
    {
        ArgumentNullException.ThrowIfNull(calls);
        return MapOf([.. calls], nameof(calls));
    }

    /// <summary>
    /// Chunks (Celery's <c>chunks</c>): the calls split into groups of <paramref name="size"/>, each run as one map
    /// (<see cref="Map{T}"/>), the maps in parallel. The group's handle gives each chunk's results; <see cref="JoinAsync{T}"/>
    /// joins them into one array in call order. With a callback (<see cref="TaskGroup{T}.Then{TResult}"/>) it is a chord over the chunks.
    /// </summary>
    /// <typeparam name="T">The calls' result.</typeparam>
    /// <param name="calls">The calls, all routed to one queue.</param>
    /// <param name="size">How many calls one chunk runs (the last one may run fewer).</param>
    /// <returns>A group of ceil(calls / size) maps.</returns>
    public static TaskGroup<T[]> Chunks<T>(IEnumerable<TaskSignature<T>> calls, int size)
    {
        ArgumentNullException.ThrowIfNull(calls);
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        TaskSignature<T>[] all = [.. calls];
        return Group(all.Chunk(size).Select(chunk => MapOf(chunk, nameof(calls))));
    }

    /// <summary>Waits for every chunk (<see cref="Chunks{T}"/>) and joins their results into one array, in call order.</summary>
    /// <typeparam name="T">The calls' result.</typeparam>
    /// <param name="chunks">The handle of the chunks' group.</param>
    /// <param name="timeout">How long to wait for all of them.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>Every call's result, in call order.</returns>
    public static async Task<T[]> JoinAsync<T>(this GroupHandle<T[]> chunks, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(chunks);
        T[][] parts = await chunks.GetAsync(timeout, cancellationToken).ConfigureAwait(false);
        return [.. parts.SelectMany(part => part)];
    }

    private static TaskSignature<T[]> MapOf<T>(IReadOnlyList<TaskSignature<T>> calls, string paramName)
    {
        if (calls.Count == 0)
        {
            throw new ArgumentException("A map needs at least one call.", paramName);
        }

        TaskSignature<T> first = calls[0];
        var items = new (string Name, ReadOnlyMemory<byte> Args)[calls.Count];
        for (int i = 0; i < items.Length; i++)
        {
            TaskSignature<T> call = calls[i] ?? throw new ArgumentNullException(paramName, $"Call {i} is null.");
            if (!string.Equals(call.Queue, first.Queue, StringComparison.Ordinal))
            {
                throw new ArgumentException($"Call {i} ('{call.TaskName}') goes to queue '{call.Queue}', call 0 ('{first.TaskName}') to '{first.Queue}': a map runs in one worker, so its calls share one queue.", paramName);
            }

            items[i] = (call.TaskName, call.Args);
        }

        return TaskSignature<T[]>.Create(MapTask.Definition(first.Queue, first.Priority, first.SerializerOptions), new MapTask.Calls(items), new ResultArrayFormatter<T>(first.ResultFormatter), first.SerializerOptions);
    }

    /// <summary>An empty batch, to fill with <see cref="TaskBatch.Add{T}(TaskSignature{T})"/> (Sidekiq Pro's batches; docs/workflows.md).</summary>
    /// <returns>The batch.</returns>
    public static TaskBatch Batch() => new([], null, null);

    /// <summary>Re-creates a batch's handle from its id, in any process.</summary>
    /// <param name="client">The client (a <see cref="CeleriacClient"/>).</param>
    /// <param name="batchId">The batch's id (<see cref="BatchHandle.Id"/>).</param>
    /// <returns>The handle (nothing is read until it is used).</returns>
    public static BatchHandle OpenBatch(ITaskClient client, string batchId)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentException.ThrowIfNullOrEmpty(batchId);
        return new BatchHandle(client, batchId);
    }

    /// <summary>The batch the running task is a member of (to add tasks to it), or <see langword="null"/> outside a task or when the task is not a batch's member.</summary>
    /// <param name="client">The client to read and send with.</param>
    /// <returns>The batch's handle, or <see langword="null"/>.</returns>
    public static BatchHandle? CurrentBatch(ITaskClient client)
    {
        ArgumentNullException.ThrowIfNull(client);
        return Worker.RunningTask.TryGetFlow(out ReadOnlyMemory<byte> flow) && !flow.IsEmpty && FlowCodec.DecodeFlow(flow).BatchId is { } batchId
            ? new BatchHandle(client, batchId)
            : null;
    }

    /// <summary>
    /// Re-creates a group's handle from its id (<see cref="GroupHandle{T}.Id"/>) in any process, not only the one that sent
    /// it: the members' ids and queues are kept in the broker with the group, for the result TTL.
    /// </summary>
    /// <typeparam name="T">The members' result.</typeparam>
    /// <param name="client">The client to read the members' results with.</param>
    /// <param name="groupId">The group's id.</param>
    /// <param name="handleOf">Makes a member's handle from its id and queue: a generated <c>{Task}.Handle</c> of a task that returns <typeparamref name="T"/>, e.g. <c>Calc.SquareTask.Handle</c>.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <exception cref="KeyNotFoundException">No group has that id (never sent, or its record expired with its results).</exception>
    /// <returns>The group's handle, its members in call order.</returns>
    public static async Task<GroupHandle<T>> OpenGroupAsync<T>(ITaskClient client, string groupId, Func<ITaskClient, string, string?, TaskHandle<T>> handleOf, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(groupId);
        ArgumentNullException.ThrowIfNull(handleOf);
        CeleriacClient celeriac = ClientOf(client);
        ITaskBroker broker = await celeriac.GetBrokerAsync(cancellationToken).ConfigureAwait(false);
        ReadOnlyMemory<byte>? members = await StoreOf(broker).ReadGroupAsync(groupId, cancellationToken).ConfigureAwait(false);
        if (members is not { } bytes)
        {
            throw new KeyNotFoundException($"No group has the id '{groupId}': it was never sent, or its record expired with its results (CeleriacOptions.ResultTtl).");
        }

        IReadOnlyList<(string Id, string Queue)> lasts = FlowCodec.DecodeMembers(bytes);
        var handles = new TaskHandle<T>[lasts.Count];
        for (int i = 0; i < handles.Length; i++)
        {
            handles[i] = handleOf(client, lasts[i].Id, lasts[i].Queue);
        }

        return new GroupHandle<T>(groupId, handles);
    }

    /// <summary>
    /// Makes handles on results that are arrays of a task's results — a map's, a chunk's, a group step's (a chain that
    /// ends in a group) — from that task's generated <c>Handle</c>: re-create such a handle from its id with
    /// <c>Workflow.ResultsOf(Calc.SquareTask.Handle)(client, id, null)</c>, or a chunks' group with
    /// <c>Workflow.OpenGroupAsync(client, id, Workflow.ResultsOf(Calc.SquareTask.Handle))</c>.
    /// </summary>
    /// <typeparam name="T">The task's result.</typeparam>
    /// <param name="handleOf">A generated <c>{Task}.Handle</c> of a task that returns <typeparamref name="T"/>.</param>
    /// <returns>A maker of handles whose result is a <typeparamref name="T"/>[].</returns>
    public static Func<ITaskClient, string, string?, TaskHandle<T[]>> ResultsOf<T>(Func<ITaskClient, string, string?, TaskHandle<T>> handleOf)
    {
        ArgumentNullException.ThrowIfNull(handleOf);
        return (client, id, queue) =>
        {
            TaskHandle<T> one = handleOf(client, id, queue);
            return new TaskHandle<T[]>(client, id, queue, new ResultArrayFormatter<T>(one.Formatter), one.Options);
        };
    }

    /// <summary>
    /// Revokes a whole workflow: every task of every workflow sent under <paramref name="id"/> — a root id (a running
    /// task's <see cref="TaskContext.RootId"/>, a group's id) or a workflow's handle id (a chain's or chord's last task) —
    /// that has not run yet ends <see cref="TaskState.Revoked"/> when it arrives (members, later chain steps, a chord's
    /// callback and error callback); one that is running has its cancellation token cancelled, as
    /// <see cref="CeleriacClient.RevokeAsync"/> does. A revoked step ends its chain and fails its chord.
    /// </summary>
    /// <param name="client">The client (a <see cref="CeleriacClient"/>).</param>
    /// <param name="id">The root id, or a workflow's handle id.</param>
    /// <param name="keepFor">How long the broker remembers the revocations; <see langword="null"/> for <see cref="CeleriacOptions.RevokeTtl"/>.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>How many task ids were revoked (the workflow's tasks, and <paramref name="id"/> itself).</returns>
    public static async Task<int> RevokeAsync(ITaskClient client, string id, TimeSpan? keepFor = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        CeleriacClient celeriac = ClientOf(client);
        TimeSpan keep = keepFor ?? celeriac.RevokeTtl;
        if (keep <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(keepFor), keep, "A revocation must be kept for a positive time.");
        }

        ITaskBroker broker = await celeriac.GetBrokerAsync(cancellationToken).ConfigureAwait(false);
        return await StoreOf(broker).RevokeTreeAsync(id, keep, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Records a workflow sent now: its task ids under its root and its handle's id (so revoking either reaches them), and a group's members.</summary>
    internal static Task RecordAsync(CeleriacClient client, ITaskBroker broker, string rootId, string handleId, IReadOnlyList<string> ids, string? groupId, ReadOnlyMemory<byte> members, CancellationToken cancellationToken)
    {
        string[] names = string.Equals(rootId, handleId, StringComparison.Ordinal) ? [rootId] : [rootId, handleId];
        return StoreOf(broker).RecordAsync(names, ids, groupId, members, client.ResultTtl, cancellationToken);
    }

    /// <summary>The client a workflow is sent through: workflows need the runtime's client (the message factory and the broker's workflow role).</summary>
    internal static CeleriacClient ClientOf(ITaskClient client)
    {
        ArgumentNullException.ThrowIfNull(client);
        return client as CeleriacClient ?? throw new ArgumentException("Workflows are sent through a CeleriacClient (the ITaskClient of AddCeleriac, or CeleriacClient.ConnectAsync).", nameof(client));
    }

    /// <summary>The broker's workflow role.</summary>
    internal static IWorkflowStore StoreOf(ITaskBroker broker)
        => broker as IWorkflowStore ?? throw new NotSupportedException($"The {broker.Name} broker does not support workflows.");

    /// <summary>The later steps of a workflow with the ids chosen for them now.</summary>
    internal static FlowStep[] Assign(ITaskBroker broker, IReadOnlyList<StepSpec> steps)
    {
        var assigned = new FlowStep[steps.Count];
        for (int i = 0; i < assigned.Length; i++)
        {
            assigned[i] = steps[i].Assign(broker);
        }

        return assigned;
    }
}

/// <summary>
/// A later step without its id yet: task, options, and the arguments after the first; or a group step (a group inside a
/// chain), whose <paramref name="Members"/> each get the previous step's result.
/// </summary>
/// <remarks><see cref="Tail"/>: for a group step's member that is a chain (<see cref="TaskChainStep{TInput, TResult}"/>), the steps after its first.</remarks>
internal sealed record StepSpec(StepHeader Header, int ArgCount, ReadOnlyMemory<byte> RestArgs, IReadOnlyList<StepSpec>? Members = null, IReadOnlyList<StepSpec>? Tail = null)
{
    public FlowStep Assign(string id) => new(
        id,
        Header.TaskName,
        Header.Queue,
        Header.Priority,
        Header.Countdown is { } countdown ? (long)countdown.TotalMilliseconds : null,
        Header.ExpiresIn is { } expires ? (long)expires.TotalMilliseconds : null,
        ArgCount,
        RestArgs);

    /// <summary>
    /// The step with ids chosen now: its own (for a group step, where its results are recorded), a group step's group
    /// and members', and the steps of a member's chain, at any depth.
    /// </summary>
    public FlowStep Assign(ITaskBroker broker)
    {
        FlowStep step = Assign(broker.NewTaskId());
        if (Members is not null)
        {
            step = step with { GroupId = broker.NewTaskId(), Members = [.. Members.Select(m => m.Assign(broker))] };
        }

        return Tail is null ? step : step with { Tail = Workflow.Assign(broker, Tail) };
    }

    /// <summary>Refuses a queue of the step (a group step's members and their chains included) that a per-call override would refuse.</summary>
    public void Check(CeleriacClient client)
    {
        client.CheckQueue(Header.Queue);
        foreach (StepSpec step in (Members ?? []).Concat(Tail ?? []))
        {
            step.Check(client);
        }
    }

    /// <summary>A group step over <paramref name="members"/>: its result is recorded in the first member's queue.</summary>
    public static StepSpec Group(IReadOnlyList<StepSpec> members)
    {
        if (members.Count == 0)
        {
            throw new ArgumentException("A group inside a chain needs at least one member.", nameof(members));
        }

        return new StepSpec(new StepHeader(FlowStep.GroupTask, members[0].Header.Queue, 0, null, null), 1, default, members);
    }
}

/// <summary>A chain without ids yet: its first signature (task, options, arguments) and its later steps; a signature alone is a chain of one.</summary>
internal sealed record ChainSpec(StepHeader First, ReadOnlyMemory<byte> FirstArgs, IReadOnlyList<StepSpec> Steps)
{
    /// <summary>Refuses a queue of the chain that a per-call override would refuse.</summary>
    public void Check(CeleriacClient client)
    {
        client.CheckQueue(First.Queue);
        foreach (StepSpec step in Steps)
        {
            step.Check(client);
        }
    }

    /// <summary>
    /// The message of the chain's first step, with ids chosen for every step; alone, its last step is where a failure
    /// is recorded; as member <paramref name="index"/> of chord <paramref name="groupId"/>, its last step's outcome is
    /// counted by the chord's join; as a member of batch <paramref name="batchId"/>, its last step's outcome is counted
    /// by the batch. Every task id it may send is added to <paramref name="ids"/>.
    /// </summary>
    public (EnqueueItem First, string LastId, string LastQueue) Build(CeleriacClient client, ITaskBroker broker, string? groupId, int index, string? rootId, bool reply, List<string> ids, string? batchId = null)
    {
        string firstId = broker.NewTaskId();
        FlowStep[] later = Workflow.Assign(broker, Steps);
        ids.Add(firstId);
        foreach (FlowStep step in later)
        {
            step.CollectIds(ids);
        }

        ReadOnlyMemory<byte> flow = default;
        (string lastId, string lastQueue) = later.Length > 0 ? (later[^1].Id, later[^1].Queue) : (firstId, First.Queue);
        if (groupId is not null)
        {
            flow = FlowCodec.EncodeFlow(new Flow(later, groupId, index, null, null, null));
        }
        else if (later.Length > 0)
        {
            _ = Workflow.StoreOf(broker);
            flow = FlowCodec.EncodeFlow(new Flow(later, null, -1, later[^1].Id, later[^1].Queue, later[^1].Task, batchId));
        }
        else if (batchId is not null)
        {
            flow = FlowCodec.EncodeFlow(new Flow([], null, -1, null, null, null, batchId));
        }

        return (client.BuildSignatureItem(broker, First, FirstArgs, firstId, flow, rootId, reply), lastId, lastQueue);
    }
}

/// <summary>A chain of steps, each one's result the next one's first argument (Celery's <c>chain</c>). Immutable: <see cref="Then{TNext}(TaskStep{TResult, TNext})"/> returns a longer chain.</summary>
/// <typeparam name="TResult">The last step's result.</typeparam>
public sealed class TaskChain<TResult>
{
    private readonly IMessagePackFormatter<TResult> _formatter;
    private readonly MessagePackSerializerOptions _options;

    internal TaskChain(ChainSpec spec, IMessagePackFormatter<TResult> formatter, MessagePackSerializerOptions options)
    {
        Spec = spec;
        _formatter = formatter;
        _options = options;
    }

    internal ChainSpec Spec { get; }

    internal IMessagePackFormatter<TResult> Formatter => _formatter;

    internal MessagePackSerializerOptions Options => _options;

    /// <summary>The chain with one more step, which gets this chain's result as its first argument.</summary>
    /// <typeparam name="TNext">The new last step's result.</typeparam>
    /// <param name="step">The step.</param>
    /// <returns>The longer chain.</returns>
    public TaskChain<TNext> Then<TNext>(TaskStep<TResult, TNext> step)
    {
        ArgumentNullException.ThrowIfNull(step);
        return new TaskChain<TNext>(Spec with { Steps = [.. Spec.Steps, new StepSpec(step.Header, step.ArgCount, step.RestArgs)] }, step.ResultFormatter, step.SerializerOptions);
    }

    /// <summary>
    /// The chain followed by a group (Celery's chain into a group): every member gets this chain's result as its first
    /// argument and runs in parallel; the chain's result is then the members' results in call order. A member that fails
    /// for good fails the chain.
    /// </summary>
    /// <typeparam name="T">The members' result.</typeparam>
    /// <param name="group">The group (<see cref="Workflow.Group{TInput, T}(IEnumerable{TaskStep{TInput, T}})"/>).</param>
    /// <returns>The longer chain, whose result is the members' results.</returns>
    public TaskChain<T[]> Then<T>(TaskGroupStep<TResult, T> group)
    {
        ArgumentNullException.ThrowIfNull(group);
        return new TaskChain<T[]>(Spec with { Steps = [.. Spec.Steps, StepSpec.Group(group.Members)] }, new ResultArrayFormatter<T>(group.Formatter), group.Options);
    }

    /// <summary>
    /// The chain followed by a chord: every member gets this chain's result as its first argument, and once every one
    /// has succeeded the callback runs, exactly once, with their results; the chain's result is the callback's.
    /// </summary>
    /// <typeparam name="TNext">The callback's result.</typeparam>
    /// <param name="chord">The chord (<see cref="Workflow.Chord{TInput, T, TResult}(IEnumerable{TaskStep{TInput, T}}, TaskStep{T[], TResult})"/>).</param>
    /// <returns>The longer chain.</returns>
    public TaskChain<TNext> Then<TNext>(TaskChordStep<TResult, TNext> chord)
    {
        ArgumentNullException.ThrowIfNull(chord);
        return new TaskChain<TNext>(Spec with { Steps = [.. Spec.Steps, StepSpec.Group(chord.Members), chord.Callback] }, chord.Formatter, chord.Options);
    }

    /// <summary>The chain followed by another chain whose first step gets this chain's result: one longer chain.</summary>
    /// <typeparam name="TNext">The other chain's result.</typeparam>
    /// <param name="chain">The chain (<see cref="Workflow.Chain{TInput, T1}(TaskStep{TInput, T1})"/>).</param>
    /// <returns>The longer chain.</returns>
    public TaskChain<TNext> Then<TNext>(TaskChainStep<TResult, TNext> chain)
    {
        ArgumentNullException.ThrowIfNull(chain);
        return new TaskChain<TNext>(Spec with { Steps = [.. Spec.Steps, .. chain.Steps] }, chain.Formatter, chain.Options);
    }

    /// <summary>
    /// Sends the chain's first step; each later step is sent by the worker that records its previous step's success, in
    /// the same atomic step. A step that fails for good ends the chain: the handle then throws with that step's error.
    /// </summary>
    /// <param name="client">The client (a <see cref="CeleriacClient"/>).</param>
    /// <param name="cancellationToken">Cancels the send.</param>
    /// <returns>A handle on the last step (re-create it from its id with the last task's <c>Handle</c>).</returns>
    public async ValueTask<TaskHandle<TResult>> DelayAsync(ITaskClient client, CancellationToken cancellationToken = default)
    {
        CeleriacClient celeriac = Workflow.ClientOf(client);
        Spec.Check(celeriac);
        ITaskBroker broker = await celeriac.GetBrokerAsync(cancellationToken).ConfigureAwait(false);
        var ids = new List<string>(Spec.Steps.Count + 1);
        (EnqueueItem first, string lastId, string lastQueue) = Spec.Build(celeriac, broker, null, -1, null, reply: true, ids);
        // A chain of one is a plain task: nothing to record, nothing more to pay. Otherwise the record and the send go
        // out together (no round trip more), both done before the handle is returned.
        await (ids.Count > 1
            ? Task.WhenAll(Workflow.RecordAsync(celeriac, broker, CeleriacClient.CurrentRootId() ?? first.Id, lastId, ids, null, default, cancellationToken), broker.EnqueueAsync([first], cancellationToken))
            : broker.EnqueueAsync([first], cancellationToken)).ConfigureAwait(false);
        return new TaskHandle<TResult>(client, lastId, lastQueue, _formatter, _options);
    }
}

/// <summary>A group of signatures (or chains) run in parallel (Celery's <c>group</c>).</summary>
/// <typeparam name="T">The members' result.</typeparam>
public sealed class TaskGroup<T>
{
    private readonly IReadOnlyList<TaskChain<T>> _members;

    internal TaskGroup(IReadOnlyList<TaskChain<T>> members) => _members = members;

    /// <summary>How many members the group has.</summary>
    public int Count => _members.Count;

    internal IReadOnlyList<TaskChain<T>> Members => _members;

    /// <summary>The group followed by a step that gets every member's result (Celery upgrades such a chain to a chord): <see cref="Workflow.Chord{T, TResult}(IEnumerable{TaskChain{T}}, TaskStep{T[], TResult})"/>.</summary>
    /// <typeparam name="TResult">The callback's result.</typeparam>
    /// <param name="callback">The callback; its first parameter is a <typeparamref name="T"/>[].</param>
    /// <returns>The chord.</returns>
    public TaskChord<TResult> Then<TResult>(TaskStep<T[], TResult> callback) => Workflow.Chord(_members, callback);

    /// <summary>Sends every member (a chain's first step), in as few broker round trips as the broker allows.</summary>
    /// <param name="client">The client (a <see cref="CeleriacClient"/>).</param>
    /// <param name="cancellationToken">Cancels the send.</param>
    /// <returns>A handle on the members (a chain's last step), in call order.</returns>
    public async ValueTask<GroupHandle<T>> DelayAsync(ITaskClient client, CancellationToken cancellationToken = default)
    {
        CeleriacClient celeriac = Workflow.ClientOf(client);
        foreach (TaskChain<T> member in _members)
        {
            member.Spec.Check(celeriac);
        }

        ITaskBroker broker = await celeriac.GetBrokerAsync(cancellationToken).ConfigureAwait(false);
        string groupId = broker.NewTaskId();
        var items = new EnqueueItem[_members.Count];
        var handles = new TaskHandle<T>[_members.Count];
        var ids = new List<string>(_members.Count);
        var lasts = new (string Id, string Queue)[_members.Count];
        for (int i = 0; i < items.Length; i++)
        {
            TaskChain<T> member = _members[i];
            (items[i], string lastId, string lastQueue) = member.Spec.Build(celeriac, broker, null, -1, groupId, reply: true, ids);
            handles[i] = new TaskHandle<T>(client, lastId, lastQueue, member.Formatter, member.Options);
            lasts[i] = (lastId, lastQueue);
        }

        // Recorded with the send: once this returns, any process can re-create the handle from the group's id.
        await Task.WhenAll(
            Workflow.RecordAsync(celeriac, broker, CeleriacClient.CurrentRootId() ?? groupId, groupId, ids, groupId, FlowCodec.EncodeMembers(lasts), cancellationToken),
            broker.EnqueueAsync(items, cancellationToken)).ConfigureAwait(false);
        return new GroupHandle<T>(groupId, handles);
    }
}

/// <summary>A handle on a sent group: its members' handles, in call order.</summary>
/// <typeparam name="T">The members' result.</typeparam>
public sealed class GroupHandle<T>
{
    /// <summary>Creates a handle over member handles (in call order).</summary>
    /// <param name="id">The group's id (the root id of its members).</param>
    /// <param name="members">The members' handles.</param>
    public GroupHandle(string id, IReadOnlyList<TaskHandle<T>> members)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        ArgumentNullException.ThrowIfNull(members);
        Id = id;
        Members = members;
    }

    /// <summary>The group's id, which is its members' root id.</summary>
    public string Id { get; }

    /// <summary>The members' handles, in call order.</summary>
    public IReadOnlyList<TaskHandle<T>> Members { get; }

    /// <summary>Waits for every member and returns their results in call order.</summary>
    /// <param name="timeout">How long to wait for all of them.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <exception cref="TimeoutException">Not every member was ready in time.</exception>
    /// <exception cref="TaskFailedException">A member failed (the first in call order that did).</exception>
    /// <exception cref="TaskRevokedException">A member was revoked.</exception>
    /// <returns>The results.</returns>
    public async Task<T[]> GetAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        long started = TimeProvider.System.GetTimestamp();
        var results = new T[Members.Count];
        for (int i = 0; i < results.Length; i++)
        {
            TimeSpan left = timeout - TimeProvider.System.GetElapsedTime(started);
            results[i] = await Members[i].GetAsync(left > TimeSpan.Zero ? left : TimeSpan.Zero, cancellationToken).ConfigureAwait(false);
        }

        return results;
    }
}

/// <summary>
/// A chord (Celery's <c>chord</c>): members run in parallel, then a callback with every result, exactly once. A member
/// that fails for good fails the chord: the callback does not run, the handle throws naming the member and its error,
/// and the error callback (<see cref="OnError{TAny}"/>) runs once.
/// </summary>
/// <typeparam name="TResult">The result of the chord's last step (its callback, or the last step chained after it).</typeparam>
public sealed class TaskChord<TResult>
{
    private readonly IMessagePackFormatter<TResult> _formatter;
    private readonly MessagePackSerializerOptions _options;

    internal TaskChord(IReadOnlyList<ChainSpec> members, StepSpec callback, IReadOnlyList<StepSpec> then, StepSpec? onError, IMessagePackFormatter<TResult> formatter, MessagePackSerializerOptions options)
    {
        Spec = new ChordSpec(members, callback, then, onError);
        _formatter = formatter;
        _options = options;
    }

    /// <summary>How many members the chord has.</summary>
    public int Count => Spec.Members.Count;

    internal ChordSpec Spec { get; }

    /// <summary>
    /// The chord with an error callback: when a member fails for good, <paramref name="errorCallback"/> runs once, its
    /// first argument a description naming the member and its error.
    /// </summary>
    /// <typeparam name="TAny">The error callback's result (not read).</typeparam>
    /// <param name="errorCallback">The error callback; its first parameter is a <see cref="string"/>.</param>
    /// <returns>The chord with the error callback.</returns>
    public TaskChord<TResult> OnError<TAny>(TaskStep<string, TAny> errorCallback)
    {
        ArgumentNullException.ThrowIfNull(errorCallback);
        return new TaskChord<TResult>(Spec.Members, Spec.Callback, Spec.Then, new StepSpec(errorCallback.Header, errorCallback.ArgCount, errorCallback.RestArgs), _formatter, _options);
    }

    /// <summary>The chord followed by a step that gets its result (a chain after the chord).</summary>
    /// <typeparam name="TNext">The step's result.</typeparam>
    /// <param name="step">The step.</param>
    /// <returns>The longer workflow.</returns>
    public TaskChord<TNext> Then<TNext>(TaskStep<TResult, TNext> step)
    {
        ArgumentNullException.ThrowIfNull(step);
        return new TaskChord<TNext>(Spec.Members, Spec.Callback, [.. Spec.Then, new StepSpec(step.Header, step.ArgCount, step.RestArgs)], Spec.OnError, step.ResultFormatter, step.SerializerOptions);
    }

    /// <summary>
    /// Writes the chord's join state, then sends every member in bulk. The worker that records the last member's success
    /// sends the callback in the same atomic step as it counts it; a repeat of any member's outcome is counted once.
    /// </summary>
    /// <param name="client">The client (a <see cref="CeleriacClient"/>).</param>
    /// <param name="cancellationToken">Cancels the send.</param>
    /// <returns>A handle on the callback (or on the last step chained after it).</returns>
    public async ValueTask<TaskHandle<TResult>> DelayAsync(ITaskClient client, CancellationToken cancellationToken = default)
    {
        CeleriacClient celeriac = Workflow.ClientOf(client);
        Spec.Check(celeriac);
        ITaskBroker broker = await celeriac.GetBrokerAsync(cancellationToken).ConfigureAwait(false);
        string groupId = broker.NewTaskId();
        string rootId = CeleriacClient.CurrentRootId() ?? groupId;
        var ids = new List<string>(Spec.Members.Count + Spec.Then.Count + 2);
        ChordSending sending = Spec.Prepare(celeriac, broker, groupId, rootId, null, ids);
        var handle = new TaskHandle<TResult>(client, sending.Last.Id, sending.Last.Queue, _formatter, _options);
        if (sending.Spec is { } spec)
        {
            await Task.WhenAll(
                Workflow.StoreOf(broker).CreateGroupAsync(groupId, Spec.Members.Count, spec, celeriac.ResultTtl, onlyIfAbsent: false, cancellationToken),
                Workflow.RecordAsync(celeriac, broker, rootId, sending.Last.Id, ids, null, default, cancellationToken)).ConfigureAwait(false);
        }

        await broker.EnqueueAsync(sending.Items, cancellationToken).ConfigureAwait(false);
        return handle;
    }
}

/// <summary>A chord without ids yet: its members (chains), its callback, the steps chained after it, its error callback.</summary>
internal sealed record ChordSpec(IReadOnlyList<ChainSpec> Members, StepSpec Callback, IReadOnlyList<StepSpec> Then, StepSpec? OnError)
{
    /// <summary>Refuses a queue of the chord that a per-call override would refuse.</summary>
    public void Check(CeleriacClient client)
    {
        foreach (ChainSpec member in Members)
        {
            member.Check(client);
        }

        Callback.Check(client);
        foreach (StepSpec step in Then)
        {
            step.Check(client);
        }

        OnError?.Check(client);
    }

    /// <summary>
    /// Chooses the chord's ids and builds its messages, writing nothing: the members' first steps (with the group's
    /// spec to write before they are sent), or, with no member, the callback to send now. As a member of batch
    /// <paramref name="batchId"/>, the chord's last task carries the batch (its outcome is the one the batch counts) and
    /// so does the spec (a failed chord is counted there). Every task id it may send is added to <paramref name="ids"/>.
    /// </summary>
    public ChordSending Prepare(CeleriacClient client, ITaskBroker broker, string groupId, string rootId, string? batchId, List<string> ids)
    {
        FlowStep callback = Callback.Assign(broker.NewTaskId());
        FlowStep[] then = Workflow.Assign(broker, Then);
        FlowStep last = then.Length > 0 ? then[^1] : callback;
        ReadOnlyMemory<byte> callbackFlow = then.Length > 0 || batchId is not null
            ? FlowCodec.EncodeFlow(new Flow(then, null, -1, last.Id, last.Queue, last.Task, batchId))
            : default;
        if (Members.Count == 0)
        {
            // Nothing to wait for: the callback is sent now, with no results.
            ids.Add(callback.Id);
            ids.AddRange(then.Select(step => step.Id));
            EnqueueItem now = FlowCodec.BuildStep(callback, FlowCodec.EncodeArray([]), callbackFlow, rootId, groupId, broker.ReplyChannel, TimeProvider.System.GetUtcNow().ToUnixTimeMilliseconds());
            return new ChordSending(last, [now], null);
        }

        FlowStep? onError = OnError?.Assign(broker.NewTaskId());
        var spec = new GroupSpec(Members.Count, callback, callbackFlow, onError, rootId, broker.ReplyChannel, last.Id, last.Queue, last.Task, batchId);
        ids.Add(callback.Id);
        ids.AddRange(then.Select(step => step.Id));
        if (onError is not null)
        {
            ids.Add(onError.Id);
        }

        var items = new EnqueueItem[Members.Count];
        for (int i = 0; i < items.Length; i++)
        {
            // No reply channel: nobody waits on a member by itself, so its result is not published to this client.
            (items[i], _, _) = Members[i].Build(client, broker, groupId, i, rootId, reply: false, ids);
        }

        return new ChordSending(last, items, FlowCodec.EncodeSpec(spec));
    }
}

/// <summary>A chord made ready to send (<see cref="ChordSpec.Prepare"/>): its last task, its messages, and its join state's spec to write first (null: no member, nothing to join).</summary>
internal sealed record ChordSending(FlowStep Last, EnqueueItem[] Items, byte[]? Spec);

/// <summary>
/// A group inside a chain (<see cref="Workflow.Group{TInput, T}(IEnumerable{TaskStep{TInput, T}})"/>): each member is a
/// step that gets the previous step's result; the chain goes on with the members' results in call order.
/// </summary>
/// <typeparam name="TInput">What the previous step must return.</typeparam>
/// <typeparam name="T">The members' result.</typeparam>
public sealed class TaskGroupStep<TInput, T>
{
    internal TaskGroupStep(IReadOnlyList<StepSpec> members, IMessagePackFormatter<T> formatter, MessagePackSerializerOptions options)
    {
        Members = members;
        Formatter = formatter;
        Options = options;
    }

    /// <summary>How many members the group has.</summary>
    public int Count => Members.Count;

    internal IReadOnlyList<StepSpec> Members { get; }

    internal IMessagePackFormatter<T> Formatter { get; }

    internal MessagePackSerializerOptions Options { get; }
}

/// <summary>
/// A chord inside a chain (<see cref="Workflow.Chord{TInput, T, TResult}(IEnumerable{TaskStep{TInput, T}}, TaskStep{T[], TResult})"/>):
/// each member gets the previous step's result, then the callback gets every member's result, exactly once.
/// </summary>
/// <typeparam name="TInput">What the previous step must return.</typeparam>
/// <typeparam name="TResult">The callback's result.</typeparam>
public sealed class TaskChordStep<TInput, TResult>
{
    internal TaskChordStep(IReadOnlyList<StepSpec> members, StepSpec callback, IMessagePackFormatter<TResult> formatter, MessagePackSerializerOptions options)
    {
        Members = members;
        Callback = callback;
        Formatter = formatter;
        Options = options;
    }

    /// <summary>How many members the chord has.</summary>
    public int Count => Members.Count;

    internal IReadOnlyList<StepSpec> Members { get; }

    internal StepSpec Callback { get; }

    internal IMessagePackFormatter<TResult> Formatter { get; }

    internal MessagePackSerializerOptions Options { get; }
}

/// <summary>
/// A chain that starts with a step whose first argument is still to come (<see cref="Workflow.Chain{TInput, T1}(TaskStep{TInput, T1})"/>):
/// a member of a group or chord inside a chain, or the rest of a chain (<see cref="TaskChain{TResult}.Then{TNext}(TaskChainStep{TResult, TNext})"/>).
/// Immutable: <c>Then</c> returns a longer one.
/// </summary>
/// <typeparam name="TInput">What the step before the chain must return: its first step's first parameter.</typeparam>
/// <typeparam name="TResult">The chain's last step's result.</typeparam>
public sealed class TaskChainStep<TInput, TResult>
{
    internal TaskChainStep(IReadOnlyList<StepSpec> steps, IMessagePackFormatter<TResult> formatter, MessagePackSerializerOptions options)
    {
        Steps = steps;
        Formatter = formatter;
        Options = options;
    }

    /// <summary>How many steps the chain has (a group inside it counts as one step, a chord as two: its group and its callback).</summary>
    public int Count => Steps.Count;

    internal IReadOnlyList<StepSpec> Steps { get; }

    internal IMessagePackFormatter<TResult> Formatter { get; }

    internal MessagePackSerializerOptions Options { get; }

    /// <summary>The chain with one more step, which gets this chain's result as its first argument.</summary>
    /// <typeparam name="TNext">The new last step's result.</typeparam>
    /// <param name="step">The step.</param>
    /// <returns>The longer chain.</returns>
    public TaskChainStep<TInput, TNext> Then<TNext>(TaskStep<TResult, TNext> step)
    {
        ArgumentNullException.ThrowIfNull(step);
        return new TaskChainStep<TInput, TNext>([.. Steps, new StepSpec(step.Header, step.ArgCount, step.RestArgs)], step.ResultFormatter, step.SerializerOptions);
    }

    /// <summary>The chain followed by a group whose members each get this chain's result; its result is theirs, in call order.</summary>
    /// <typeparam name="T">The members' result.</typeparam>
    /// <param name="group">The group (<see cref="Workflow.Group{TInput, T}(IEnumerable{TaskStep{TInput, T}})"/>).</param>
    /// <returns>The longer chain.</returns>
    public TaskChainStep<TInput, T[]> Then<T>(TaskGroupStep<TResult, T> group)
    {
        ArgumentNullException.ThrowIfNull(group);
        return new TaskChainStep<TInput, T[]>([.. Steps, StepSpec.Group(group.Members)], new ResultArrayFormatter<T>(group.Formatter), group.Options);
    }

    /// <summary>The chain followed by a chord whose members each get this chain's result; its result is the callback's.</summary>
    /// <typeparam name="TNext">The callback's result.</typeparam>
    /// <param name="chord">The chord (<see cref="Workflow.Chord{TInput, T, TResult}(IEnumerable{TaskStep{TInput, T}}, TaskStep{T[], TResult})"/>).</param>
    /// <returns>The longer chain.</returns>
    public TaskChainStep<TInput, TNext> Then<TNext>(TaskChordStep<TResult, TNext> chord)
    {
        ArgumentNullException.ThrowIfNull(chord);
        return new TaskChainStep<TInput, TNext>([.. Steps, StepSpec.Group(chord.Members), chord.Callback], chord.Formatter, chord.Options);
    }

    /// <summary>The chain as a group step's member: its first step, carrying the later ones (none: a plain member).</summary>
    internal StepSpec AsMember() => Steps.Count == 1 ? Steps[0] : Steps[0] with { Tail = [.. Steps.Skip(1)] };
}

/// <summary>Reads (and writes) a group step's result: a MessagePack array of its members' results, each read with the members' own formatter.</summary>
internal sealed class ResultArrayFormatter<T>(IMessagePackFormatter<T> element) : IMessagePackFormatter<T[]>
{
    public void Serialize(ref MessagePackWriter writer, T[] value, MessagePackSerializerOptions options)
    {
        writer.WriteArrayHeader(value.Length);
        foreach (T item in value)
        {
            element.Serialize(ref writer, item, options);
        }
    }

    public T[] Deserialize(ref MessagePackReader reader, MessagePackSerializerOptions options)
    {
        var values = new T[reader.ReadArrayHeader()];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = element.Deserialize(ref reader, options);
        }

        return values;
    }
}
