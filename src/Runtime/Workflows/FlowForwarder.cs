using System.Threading.Channels;
using Celeriac.Brokers;
using Microsoft.Extensions.Logging;

namespace Celeriac.Workflows;

/// <summary>
/// Carries out the follow-ups a workflow task's completion put in its queue's outbox (docs/workflows.md): the worker
/// that completed the task does it at once, and a sweep of the worker's queues does it for a worker that died first.
/// Every step is idempotent (send-once by id, join once per member, fail-once), so a follow-up carried out twice —
/// by its worker and by a sweep, or by two sweeps — has the effect of once; it leaves the outbox only once done.
/// </summary>
internal sealed partial class FlowForwarder
{
    /// <summary>How often a worker looks for follow-ups left behind in its queues' outboxes.</summary>
    internal static readonly TimeSpan SweepInterval = TimeSpan.FromSeconds(2);

    /// <summary>How old a follow-up must be before a sweep takes it: its own worker normally carries it out within milliseconds.</summary>
    internal static readonly TimeSpan StaleAfter = TimeSpan.FromSeconds(5);

    private const int SweepBatch = 200;
    private const int PumpBatch = 1000;

    private readonly IWorkflowStore _store;
    private readonly TimeProvider _time;
    private readonly TimeSpan _ttl;
    private readonly ILogger _logger;
    private readonly string _worker;
    private readonly Channel<(string Queue, FollowUp FollowUp)> _posted = Channel.CreateUnbounded<(string, FollowUp)>(new UnboundedChannelOptions { SingleReader = true });

    public FlowForwarder(IWorkflowStore store, TimeProvider time, TimeSpan resultTtl, ILogger logger, string worker)
    {
        _store = store;
        _time = time;
        _ttl = resultTtl;
        _logger = logger;
        _worker = worker;
    }

    /// <summary>
    /// Hands follow-ups that were just stored with their outcome to the pump (<see cref="PumpAsync"/>), which carries
    /// them out in batches off the consumer: a worker that dies first leaves them in the outbox for the sweep.
    /// </summary>
    public void Post(string queue, IReadOnlyList<FollowUp> followUps)
    {
        foreach (FollowUp followUp in followUps)
        {
            if (!_posted.Writer.TryWrite((queue, followUp)))
            {
                return; // stopping: the sweep of a live worker carries it out
            }
        }
    }

    /// <summary>Carries out posted follow-ups, as many at a time as were posted meanwhile, until <see cref="Complete"/> and the last one is done.</summary>
    public async Task PumpAsync()
    {
        var batch = new List<(string Queue, FollowUp FollowUp)>(PumpBatch);
        ChannelReader<(string, FollowUp)> reader = _posted.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            batch.Clear();
            while (batch.Count < PumpBatch && reader.TryRead(out (string, FollowUp) posted))
            {
                batch.Add(posted);
            }

            try
            {
                await CarryOutAsync(batch, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                LogPumpFailed(_logger, ex, batch.Count); // still in the outbox: the sweep carries them out
            }
        }
    }

    /// <summary>No more posts: the pump ends once it has carried out what was posted.</summary>
    public void Complete() => _posted.Writer.TryComplete();

    /// <summary>
    /// Carries out follow-ups (of any queues), then removes them from their outboxes: the sends and fails one by one
    /// (all at once), the joins of one group in one call.
    /// </summary>
    public async Task CarryOutAsync(IReadOnlyList<(string Queue, FollowUp FollowUp)> followUps, CancellationToken cancellationToken)
    {
        if (followUps.Count == 0)
        {
            return;
        }

        await ExecuteAsync(followUps.Select(f => f.FollowUp), cancellationToken).ConfigureAwait(false);
        var removals = new List<Task>();
        foreach (IGrouping<string, (string Queue, FollowUp FollowUp)> queue in followUps.GroupBy(f => f.Queue, StringComparer.Ordinal))
        {
            removals.Add(_store.RemoveFollowUpsAsync(queue.Key, [.. queue.Select(f => f.FollowUp.Key)], cancellationToken));
        }

        await Task.WhenAll(removals).ConfigureAwait(false);
    }

    /// <summary>Carries out follow-ups, each idempotent: the sends and fails one by one (all at once), the joins of one group in one call, fan-outs of group steps.</summary>
    private async Task ExecuteAsync(IEnumerable<FollowUp> followUps, CancellationToken cancellationToken)
    {
        var calls = new List<Task>();
        var joins = new Dictionary<string, List<JoinItem>>(StringComparer.Ordinal);
        Dictionary<string, List<(string, bool)>>? batches = null;
        foreach (FollowUp followUp in followUps)
        {
            FlowCodec.Decoded decoded;
            try
            {
                decoded = FlowCodec.DecodeFollowUp(followUp.Payload);
            }
            catch (Exception ex) when (ex is InvalidDataException or MessagePack.MessagePackSerializationException or InvalidOperationException or EndOfStreamException)
            {
                LogUnreadable(_logger, ex, followUp.Key); // nothing can carry it out: removed with the rest
                continue;
            }

            if (decoded.Enqueue is { } enqueue)
            {
                calls.Add(_store.EnqueueOnceAsync(enqueue, cancellationToken));
            }
            else if (decoded.Fail is { } fail)
            {
                calls.Add(_store.RecordOnceAsync(fail.Queue, fail.Id, Failure(fail.Task, fail.Error), fail.ReplyTo, _ttl, cancellationToken));
            }
            else if (decoded.Fan is { } fan)
            {
                calls.Add(FanOutAsync(fan, cancellationToken));
            }
            else if (decoded.Batch is { } batch)
            {
                batches ??= new Dictionary<string, List<(string, bool)>>(StringComparer.Ordinal);
                if (!batches.TryGetValue(batch.Batch, out List<(string, bool)>? outcomes))
                {
                    batches[batch.Batch] = outcomes = [];
                }

                outcomes.Add((batch.Member, batch.Success));
            }
            else
            {
                (string group, int index, bool success, ReadOnlyMemory<byte> value) = decoded.Join!.Value;
                if (!joins.TryGetValue(group, out List<JoinItem>? members))
                {
                    joins[group] = members = [];
                }

                members.Add(new JoinItem(index, success, value));
            }
        }

        foreach ((string group, List<JoinItem> members) in joins)
        {
            calls.Add(JoinAsync(group, members, cancellationToken));
        }

        await Task.WhenAll(calls).ConfigureAwait(false);
        if (batches is null)
        {
            return;
        }

        // Batch members are counted last: a member that is a chain has its failure recorded on its last task by the
        // follow-ups above, before the count that may complete the batch and send its callbacks.
        await Task.WhenAll(batches.Select(batch => JoinBatchAsync(batch.Key, batch.Value, cancellationToken))).ConfigureAwait(false);
    }

    /// <summary>
    /// Starts a group step: its join state (left alone when a repeat finds it), then every member with the previous
    /// step's result as its first argument (send-once: a repeat sends none twice).
    /// </summary>
    private async Task FanOutAsync(FlowCodec.FanOut fan, CancellationToken cancellationToken)
    {
        FlowStep step = fan.Step;
        IReadOnlyList<FlowStep> members = step.Members!;
        var spec = new GroupStepSpec(step.Id, step.Queue, fan.Continuation, fan.RootId, fan.ReplyTo);
        await _store.CreateGroupAsync(step.GroupId!, members.Count, FlowCodec.EncodeStepSpec(spec), _ttl, onlyIfAbsent: true, cancellationToken).ConfigureAwait(false);
        long now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        var sends = new Task[members.Count];
        for (int i = 0; i < sends.Length; i++)
        {
            // A member is a step, or a chain of steps (its later steps travel in its flow): its last step is counted in the group.
            byte[] flow = FlowCodec.EncodeFlow(new Flow(members[i].Tail ?? [], step.GroupId, i, null, null, null));
            EnqueueItem item = FlowCodec.BuildStep(members[i], fan.Value.Span, flow, fan.RootId, fan.ParentId, null, now);
            sends[i] = _store.EnqueueOnceAsync(item, cancellationToken);
        }

        await Task.WhenAll(sends).ConfigureAwait(false);
    }

    /// <summary>Every <see cref="SweepInterval"/>, carries out what dead workers left in the outboxes of <paramref name="queues"/>.</summary>
    public async Task SweepLoopAsync(IReadOnlyList<string> queues, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(SweepInterval, _time, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            foreach (string queue in queues)
            {
                try
                {
                    await SweepAsync(queue, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
                {
                    LogSweepFailed(_logger, ex, queue);
                }
            }
        }
    }

    /// <summary>One sweep of <paramref name="queue"/>'s outbox; returns how many follow-ups it carried out.</summary>
    internal async Task<int> SweepAsync(string queue, CancellationToken cancellationToken)
    {
        int total = 0;
        while (true)
        {
            IReadOnlyList<FollowUp> stale = await _store.ClaimStaleFollowUpsAsync(queue, _time.GetUtcNow() - StaleAfter, SweepBatch, cancellationToken).ConfigureAwait(false);
            if (stale.Count == 0)
            {
                return total;
            }

            LogSweeping(_logger, stale.Count, queue);
            await CarryOutAsync([.. stale.Select(f => (queue, f))], cancellationToken).ConfigureAwait(false);
            total += stale.Count;
            if (stale.Count < SweepBatch)
            {
                return total;
            }
        }
    }

    /// <summary>Counts members of one group; when that decides the chord, sends the callback, or records the failure and sends the error callback.</summary>
    private async Task JoinAsync(string group, List<JoinItem> members, CancellationToken cancellationToken)
    {
        JoinReply reply = await _store.JoinAsync(group, members, _ttl, cancellationToken).ConfigureAwait(false);
        long now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        if (reply.State is JoinState.Done or JoinState.Failed && FlowCodec.TryDecodeStepSpec(reply.Spec) is { } step)
        {
            await StepDecidedAsync(reply, step, now, cancellationToken).ConfigureAwait(false);
            return;
        }

        switch (reply.State)
        {
            case JoinState.Done:
            {
                // Sent by whoever counted the last member, and again by any repeat of a join after that: the callback's
                // id was chosen with the chord, so the send-once refuses every send but the first.
                GroupSpec spec = FlowCodec.DecodeSpec(reply.Spec);
                EnqueueItem callback = FlowCodec.BuildStep(spec.Callback, FlowCodec.EncodeArray(reply.Values), spec.CallbackFlow, spec.RootId, group, spec.ReplyTo, now);
                await _store.EnqueueOnceAsync(callback, cancellationToken).ConfigureAwait(false);
                break;
            }

            case JoinState.Failed:
            {
                GroupSpec spec = FlowCodec.DecodeSpec(reply.Spec);
                string description = Describe(reply);
                (_, _, string type, _) = FlowCodec.DecodeMemberError(reply.FailedError);
                await _store.RecordOnceAsync(spec.FinalQueue, spec.FinalId, Failure(spec.FinalTask, new TaskError(type, description, null)), spec.ReplyTo, _ttl, cancellationToken).ConfigureAwait(false);
                if (spec.ErrorCallback is { } onError)
                {
                    EnqueueItem errback = FlowCodec.BuildStep(onError, FlowCodec.EncodeString(description), default, spec.RootId, group, spec.ReplyTo, now);
                    await _store.EnqueueOnceAsync(errback, cancellationToken).ConfigureAwait(false);
                }

                if (spec.BatchId is { } batch)
                {
                    // A chord that is a batch's member is counted by its last task, which will never run: counted failed
                    // here (once per id, so a repeat of this join counts nothing more).
                    await JoinBatchAsync(batch, [(spec.FinalId, false)], cancellationToken).ConfigureAwait(false);
                }

                break;
            }

            case JoinState.Gone:
                LogGroupGone(_logger, group, members[0].Index);
                break;
        }
    }

    /// <summary>
    /// Counts batch members' outcomes; once nothing is pending, sends the batch's callbacks — <c>OnComplete</c> always,
    /// <c>OnSuccess</c> when no member failed — each with send-once (their ids were chosen with the batch), so the join
    /// that completes the batch and any repeat of it send each callback once.
    /// </summary>
    private async Task JoinBatchAsync(string batch, List<(string Id, bool Success)> outcomes, CancellationToken cancellationToken)
    {
        (BatchStatus? status, ReadOnlyMemory<byte> specBytes) = await _store.JoinBatchAsync(batch, outcomes, _ttl, cancellationToken).ConfigureAwait(false);
        if (status is null)
        {
            LogBatchGone(_logger, batch, outcomes[0].Id);
            return;
        }

        if (!status.IsComplete)
        {
            return;
        }

        BatchSpec spec = FlowCodec.DecodeBatchSpec(specBytes);
        long now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        byte[] id = FlowCodec.EncodeString(batch);
        var sends = new List<Task>(2);
        if (spec.OnComplete is { } onComplete)
        {
            sends.Add(_store.EnqueueOnceAsync(FlowCodec.BuildStep(onComplete, id, default, spec.RootId, batch, null, now), cancellationToken));
        }

        if (spec.OnSuccess is { } onSuccess && status.Failed == 0)
        {
            sends.Add(_store.EnqueueOnceAsync(FlowCodec.BuildStep(onSuccess, id, default, spec.RootId, batch, null, now), cancellationToken));
        }

        await Task.WhenAll(sends).ConfigureAwait(false);
    }

    /// <summary>
    /// A group step is decided: its results are recorded as one array under its own id (or its failure, naming the
    /// member), then what follows it goes on as after any step — the chain's next step, the outer chord's count, or
    /// the chain's failure — each follow-up idempotent, so a repeat of the decisive join repeats nothing.
    /// </summary>
    private async Task StepDecidedAsync(JoinReply reply, GroupStepSpec step, long now, CancellationToken cancellationToken)
    {
        Flow continuation = FlowCodec.DecodeFlow(step.Continuation);
        var origin = new Origin(step.ResultId, FlowStep.GroupTask, step.RootId, step.ReplyTo);
        List<FollowUp> next;
        if (reply.State == JoinState.Done)
        {
            byte[] values = FlowCodec.EncodeArray(reply.Values);
            var success = new TaskResult { State = TaskState.Success, Value = values, TaskName = FlowStep.GroupTask, Timestamp = _time.GetUtcNow(), Worker = _worker };
            await _store.RecordOnceAsync(step.ResultQueue, step.ResultId, success, step.ReplyTo, _ttl, cancellationToken).ConfigureAwait(false);
            next = FlowCodec.OnSuccess(origin, continuation, values, now);
        }
        else
        {
            (_, _, string type, _) = FlowCodec.DecodeMemberError(reply.FailedError);
            var error = new TaskError(type, Describe(reply).Replace("chord member", "group member", StringComparison.Ordinal), null);
            await _store.RecordOnceAsync(step.ResultQueue, step.ResultId, Failure(FlowStep.GroupTask, error), step.ReplyTo, _ttl, cancellationToken).ConfigureAwait(false);
            next = FlowCodec.OnFailure(origin, continuation, error);
        }

        await ExecuteAsync(next, cancellationToken).ConfigureAwait(false);
    }

    private static string Describe(JoinReply reply)
    {
        (string memberId, string task, string type, string message) = FlowCodec.DecodeMemberError(reply.FailedError);
        return $"chord member {reply.FailedIndex} ('{task}', task {memberId}) failed: {type}: {message}";
    }

    private TaskResult Failure(string task, TaskError error)
        => new() { State = TaskState.Failure, Error = error, TaskName = task, Timestamp = _time.GetUtcNow(), Worker = _worker };

    [LoggerMessage(4000, LogLevel.Information, "Carrying out {Count} workflow follow-ups left in the outbox of queue {Queue} (their worker stopped before it did)")]
    private static partial void LogSweeping(ILogger logger, int count, string queue);

    [LoggerMessage(4001, LogLevel.Warning, "Sweeping the workflow outbox of queue {Queue} failed; retrying at the next sweep")]
    private static partial void LogSweepFailed(ILogger logger, Exception exception, string queue);

    [LoggerMessage(4002, LogLevel.Error, "Workflow follow-up {Key} cannot be read; dropped")]
    private static partial void LogUnreadable(ILogger logger, Exception exception, string key);

    [LoggerMessage(4004, LogLevel.Warning, "Carrying out {Count} workflow follow-ups failed; they stay in the outbox and the sweep carries them out")]
    private static partial void LogPumpFailed(ILogger logger, Exception exception, int count);

    [LoggerMessage(4005, LogLevel.Warning, "Member {Member} of batch {Batch} finished, but the batch's state is gone (expired after its TTL); its outcome is not counted")]
    private static partial void LogBatchGone(ILogger logger, string batch, string member);

    [LoggerMessage(4003, LogLevel.Warning, "Member {Index} of group {Group} finished, but the group's join state is gone (expired after its TTL); its outcome is not counted")]
    private static partial void LogGroupGone(ILogger logger, string group, int index);
}
