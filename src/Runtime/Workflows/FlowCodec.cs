using System.Buffers;
using Celeriac.Brokers;
using Celeriac.Protocol;
using MessagePack;

namespace Celeriac.Workflows;

/// <summary>One step of a workflow, sent later: a chain's next task, a chord's callback or error callback.</summary>
/// <param name="Id">The step's task id, chosen when the workflow was sent (so handles know it, and a repeat is refused).</param>
/// <param name="Task">The task's wire name.</param>
/// <param name="Queue">The queue it is sent to.</param>
/// <param name="Priority">Its priority.</param>
/// <param name="CountdownMs">Delay after it is sent, or null.</param>
/// <param name="ExpiresInMs">How long after it is sent it may still run, or null.</param>
/// <param name="ArgCount">How many arguments the task takes, the first (filled when sent) included.</param>
/// <param name="RestArgs">The encoded arguments after the first (values one after the other, no array header).</param>
/// <param name="GroupId">For a group step (a group inside a chain: every member gets the previous step's result), the group's id; else null.</param>
/// <param name="Members">For a group step, its members (each a task with every argument but the first); else null.</param>
/// <param name="Tail">
/// For a group step's member that is a chain, the steps after its first (the member's own chain, its last step the one
/// the group counts; a step of it may be a group step itself); else null.
/// </param>
internal sealed record FlowStep(string Id, string Task, string Queue, int Priority, long? CountdownMs, long? ExpiresInMs, int ArgCount, ReadOnlyMemory<byte> RestArgs, string? GroupId = null, IReadOnlyList<FlowStep>? Members = null, IReadOnlyList<FlowStep>? Tail = null)
{
    /// <summary>The task name a group step's result record carries.</summary>
    public const string GroupTask = "celeriac.group";

    /// <summary>Whether this is a group step.</summary>
    public bool IsGroup => Members is not null;

    /// <summary>Adds every task id this step may send to <paramref name="ids"/>: its own, a group step's members' and the steps of their chains, at any depth.</summary>
    public void CollectIds(List<string> ids)
    {
        ids.Add(Id);
        foreach (FlowStep step in (Members ?? []).Concat(Tail ?? []))
        {
            step.CollectIds(ids);
        }
    }
}

/// <summary>Where a workflow part came from, for the steps it sends: its id (their parent), its task, its root, the reply channel.</summary>
internal readonly record struct Origin(string Id, string Task, string? RootId, string? ReplyTo)
{
    public static Origin Of(Envelope envelope) => new(envelope.Id, envelope.Task, envelope.RootId, envelope.ReplyTo);
}

/// <summary>
/// The join state's spec of a group step (a group inside a chain): where its results are recorded as one array (its
/// own id), and what follows it (the rest of its chain, the chord it is a member of, where a failure is recorded).
/// </summary>
internal sealed record GroupStepSpec(string ResultId, string ResultQueue, ReadOnlyMemory<byte> Continuation, string? RootId, string? ReplyTo);

/// <summary>What a task's envelope says to do once its outcome is final (field 16, docs/workflows.md).</summary>
/// <param name="Next">The chain's remaining steps, the next one first (empty: none).</param>
/// <param name="GroupId">The chord this task is a member of, or null.</param>
/// <param name="Index">Its index in the chord (call order).</param>
/// <param name="FinalId">The workflow's last task (where a failure of this step is recorded), or null.</param>
/// <param name="FinalQueue">The queue of <paramref name="FinalId"/>.</param>
/// <param name="FinalTask">The task name of <paramref name="FinalId"/>.</param>
/// <param name="BatchId">The batch this task is a member of, or null.</param>
internal sealed record Flow(IReadOnlyList<FlowStep> Next, string? GroupId, int Index, string? FinalId, string? FinalQueue, string? FinalTask, string? BatchId = null);

/// <summary>A batch's spec, written once with its state: its callbacks (each one's first argument: the batch id) and where they are sent from.</summary>
internal sealed record BatchSpec(FlowStep? OnSuccess, FlowStep? OnComplete, string? RootId);

/// <summary>
/// A chord's spec, written once with its join state: the callback (its first argument: the members' results), the
/// error callback (its first argument: a description of the failure), and where a failure is recorded.
/// </summary>
/// <remarks><see cref="BatchId"/>: the batch the chord is a member of (its failure is counted there), or null.</remarks>
internal sealed record GroupSpec(int Total, FlowStep Callback, ReadOnlyMemory<byte> CallbackFlow, FlowStep? ErrorCallback, string? RootId, string? ReplyTo, string FinalId, string FinalQueue, string FinalTask, string? BatchId = null);

/// <summary>
/// Encodes and decodes the workflow parts of the protocol (docs/workflows.md): an envelope's <c>flow</c> field, the
/// follow-ups kept in a queue's outbox, a chord's spec; and builds the envelopes of later steps.
/// </summary>
internal static class FlowCodec
{
    private const int Version = 1;
    private const string KindEnqueue = "E";
    private const string KindFail = "F";
    private const string KindJoin = "J";
    private const string KindFanOut = "G";
    private const string KindStepSpec = "step";
    private const string KindBatch = "B";

    public static byte[] EncodeFlow(Flow flow)
    {
        var buffer = new ArrayBufferWriter<byte>(128);
        var w = new MessagePackWriter(buffer);
        w.WriteArrayHeader(flow.BatchId is null ? 4 : 5);
        w.Write(Version);
        if (flow.Next.Count == 0)
        {
            w.WriteNil();
        }
        else
        {
            w.WriteArrayHeader(flow.Next.Count);
            foreach (FlowStep step in flow.Next)
            {
                WriteStep(ref w, step);
            }
        }

        if (flow.GroupId is null)
        {
            w.WriteNil();
        }
        else
        {
            w.WriteArrayHeader(2);
            w.Write(flow.GroupId);
            w.Write(flow.Index);
        }

        if (flow.FinalId is null)
        {
            w.WriteNil();
        }
        else
        {
            w.WriteArrayHeader(3);
            w.Write(flow.FinalId);
            w.Write(flow.FinalQueue);
            w.Write(flow.FinalTask);
        }

        if (flow.BatchId is not null)
        {
            w.Write(flow.BatchId);
        }

        w.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    /// <exception cref="InvalidDataException">The bytes are not a flow of a known version.</exception>
    public static Flow DecodeFlow(ReadOnlyMemory<byte> bytes)
    {
        try
        {
            var r = new MessagePackReader(bytes);
            int count = r.ReadArrayHeader();
            int version = r.ReadInt32();
            if (version != Version || count < 4)
            {
                throw new InvalidDataException($"The envelope's flow has version {version} with {count} fields; this worker reads version {Version}.");
            }

            FlowStep[] next = [];
            if (!r.TryReadNil())
            {
                next = new FlowStep[r.ReadArrayHeader()];
                for (int i = 0; i < next.Length; i++)
                {
                    next[i] = ReadStep(ref r);
                }
            }

            string? group = null;
            int index = -1;
            if (!r.TryReadNil())
            {
                _ = r.ReadArrayHeader();
                group = r.ReadString();
                index = r.ReadInt32();
            }

            string? finalId = null, finalQueue = null, finalTask = null;
            if (!r.TryReadNil())
            {
                _ = r.ReadArrayHeader();
                finalId = r.ReadString();
                finalQueue = r.ReadString();
                finalTask = r.ReadString();
            }

            string? batch = count >= 5 ? r.ReadString() : null;
            return new Flow(next, group, index, finalId, finalQueue, finalTask, batch);
        }
        catch (Exception ex) when (ex is not InvalidDataException)
        {
            throw new InvalidDataException("The envelope's flow is malformed: " + ex.Message, ex);
        }
    }

    public static byte[] EncodeSpec(GroupSpec spec)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        var w = new MessagePackWriter(buffer);
        w.WriteArrayHeader(spec.BatchId is null ? 9 : 10);
        w.Write(spec.Total);
        WriteStep(ref w, spec.Callback);
        WriteBinOrNil(ref w, spec.CallbackFlow);
        if (spec.ErrorCallback is null)
        {
            w.WriteNil();
        }
        else
        {
            WriteStep(ref w, spec.ErrorCallback);
        }

        w.Write(spec.RootId);
        w.Write(spec.ReplyTo);
        w.Write(spec.FinalId);
        w.Write(spec.FinalQueue);
        w.Write(spec.FinalTask);
        if (spec.BatchId is not null)
        {
            w.Write(spec.BatchId);
        }

        w.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    public static GroupSpec DecodeSpec(ReadOnlyMemory<byte> bytes)
    {
        var r = new MessagePackReader(bytes);
        int fields = r.ReadArrayHeader();
        int total = r.ReadInt32();
        FlowStep callback = ReadStep(ref r);
        ReadOnlyMemory<byte> callbackFlow = ReadBinOrNil(ref r);
        FlowStep? error = r.TryReadNil() ? null : ReadStep(ref r);
        string? root = r.ReadString();
        string? replyTo = r.ReadString();
        string finalId = r.ReadString()!;
        string finalQueue = r.ReadString()!;
        string finalTask = r.ReadString()!;
        string? batch = fields >= 10 ? r.ReadString() : null;
        return new GroupSpec(total, callback, callbackFlow, error, root, replyTo, finalId, finalQueue, finalTask, batch);
    }

    /// <summary>A group's members as recorded for re-created handles: each one's last task id and queue, in call order.</summary>
    public static byte[] EncodeMembers(IReadOnlyList<(string Id, string Queue)> members)
    {
        var buffer = new ArrayBufferWriter<byte>(16 + (members.Count * 48));
        var w = new MessagePackWriter(buffer);
        w.WriteArrayHeader(2);
        w.Write(Version);
        w.WriteArrayHeader(members.Count * 2);
        foreach ((string id, string queue) in members)
        {
            w.Write(id);
            w.Write(queue);
        }

        w.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    /// <exception cref="InvalidDataException">The bytes are not a member list of a known version.</exception>
    public static IReadOnlyList<(string Id, string Queue)> DecodeMembers(ReadOnlyMemory<byte> bytes)
    {
        try
        {
            var r = new MessagePackReader(bytes);
            _ = r.ReadArrayHeader();
            int version = r.ReadInt32();
            if (version != Version)
            {
                throw new InvalidDataException($"The group's member list has version {version}; this client reads version {Version}.");
            }

            var members = new (string, string)[r.ReadArrayHeader() / 2];
            for (int i = 0; i < members.Length; i++)
            {
                members[i] = (r.ReadString()!, r.ReadString()!);
            }

            return members;
        }
        catch (Exception ex) when (ex is not InvalidDataException)
        {
            throw new InvalidDataException("The group's member list is malformed: " + ex.Message, ex);
        }
    }

    /// <summary>The follow-ups of a success: the chain's next step (a task, or a group step's fan-out), or the chord member's count.</summary>
    public static List<FollowUp> OnSuccess(Envelope envelope, Flow flow, ReadOnlySpan<byte> value, long nowMs)
        => OnSuccess(Origin.Of(envelope), flow, value, nowMs);

    /// <summary>The follow-ups of a success of <paramref name="origin"/> (a task, or a group step whose results are <paramref name="value"/>).</summary>
    public static List<FollowUp> OnSuccess(Origin origin, Flow flow, ReadOnlySpan<byte> value, long nowMs)
    {
        var followUps = new List<FollowUp>(1);
        if (flow.Next.Count > 0)
        {
            FlowStep step = flow.Next[0];
            bool more = flow.Next.Count > 1 || flow.GroupId is not null;
            if (step.IsGroup)
            {
                // The rest of the chain follows the group step: it is the group's continuation, always encoded (its
                // final id at least says where a member's failure is recorded).
                byte[] continuation = EncodeFlow(Rest(flow));
                followUps.Add(new FollowUp("g:" + step.GroupId, EncodeFanOut(step, value, continuation, origin.RootId ?? origin.Id, origin.Id, origin.ReplyTo)));
            }
            else
            {
                // The last step of a batch's chain carries the batch too: its outcome is the one the batch counts.
                byte[] nextFlow = more || flow.BatchId is not null ? EncodeFlow(Rest(flow)) : [];
                EnqueueItem item = BuildStep(step, value, nextFlow, origin.RootId ?? origin.Id, origin.Id, origin.ReplyTo, nowMs);
                followUps.Add(new FollowUp("e:" + step.Id, EncodeEnqueue(item)));
            }
        }
        else if (flow.GroupId is not null)
        {
            followUps.Add(new FollowUp(JoinKey(flow.GroupId, flow.Index), EncodeJoin(flow.GroupId, flow.Index, success: true, value)));
        }
        else if (flow.BatchId is not null)
        {
            // A batch's member is counted by its last step's outcome (a task alone is its own last step).
            string member = flow.FinalId ?? origin.Id;
            followUps.Add(new FollowUp("b:" + flow.BatchId + ":" + member, EncodeBatchJoin(flow.BatchId, member, success: true)));
        }

        return followUps;
    }

    /// <summary>The flow of the step after the next one: the rest of the chain, with the same group membership, last task and batch.</summary>
    private static Flow Rest(Flow flow) => flow with { Next = [.. flow.Next.Skip(1)] };

    /// <summary>The follow-ups of a final failure (or revocation): the chord fails, or the chain's last step is recorded as failed.</summary>
    public static List<FollowUp> OnFailure(Envelope envelope, Flow flow, TaskError error)
        => OnFailure(Origin.Of(envelope), flow, error);

    /// <summary>The follow-ups of a final failure of <paramref name="origin"/>.</summary>
    public static List<FollowUp> OnFailure(Origin origin, Flow flow, TaskError error)
    {
        var followUps = new List<FollowUp>(1);
        if (flow.GroupId is not null)
        {
            followUps.Add(new FollowUp(JoinKey(flow.GroupId, flow.Index), EncodeJoin(flow.GroupId, flow.Index, success: false, EncodeMemberError(origin.Id, origin.Task, error))));
        }
        else if (flow.FinalId is not null && !string.Equals(flow.FinalId, origin.Id, StringComparison.Ordinal))
        {
            // (A batch's chain's last step carries its own id as the last task: its failure is already its record.)
            var failure = new TaskError(error.Type, $"step '{origin.Task}' (task {origin.Id}) of the chain failed: {error.Message}", error.StackTrace);
            followUps.Add(new FollowUp("f:" + flow.FinalId, EncodeFail(flow.FinalQueue!, flow.FinalId, flow.FinalTask!, failure, origin.ReplyTo)));
        }

        if (flow.BatchId is not null && flow.GroupId is null)
        {
            // Counted by the member's last step: the chain's failure is recorded there first (the forwarder counts batch
            // members after the other follow-ups), so a batch callback that reads it finds it.
            string member = flow.FinalId ?? origin.Id;
            followUps.Add(new FollowUp("b:" + flow.BatchId + ":" + member, EncodeBatchJoin(flow.BatchId, member, success: false)));
        }

        return followUps;
    }

    private static string JoinKey(string groupId, int index) => "j:" + groupId + ":" + index.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The message of a later step (<see cref="Client.EnvelopeFactory.Step"/>), in the native format.</summary>
    public static EnqueueItem BuildStep(FlowStep step, ReadOnlySpan<byte> firstArg, ReadOnlyMemory<byte> flow, string? rootId, string? parentId, string? replyTo, long nowMs)
        => Client.EnvelopeFactory.Step(step, firstArg, flow, rootId, parentId, replyTo, nowMs, EnvelopeFormats.Native);

    /// <summary>An encoded array of <paramref name="values"/> (each already an encoded value): a chord callback's first argument.</summary>
    public static byte[] EncodeArray(IReadOnlyList<ReadOnlyMemory<byte>> values)
    {
        int size = 5;
        foreach (ReadOnlyMemory<byte> value in values)
        {
            size += value.Length;
        }

        var buffer = new ArrayBufferWriter<byte>(size);
        var w = new MessagePackWriter(buffer);
        w.WriteArrayHeader(values.Count);
        w.Flush();
        foreach (ReadOnlyMemory<byte> value in values)
        {
            buffer.Write(value.Span);
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>An encoded string: an error callback's first argument.</summary>
    public static byte[] EncodeString(string text)
    {
        var buffer = new ArrayBufferWriter<byte>(text.Length + 8);
        var w = new MessagePackWriter(buffer);
        w.Write(text);
        w.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    // Follow-ups: ["E", queue, id, due_ms, priority, envelope] | ["F", queue, id, task, error type, message, traceback, reply_to]
    //             | ["J", group, index, success, value (a success's result; a failure's [member id, task, type, message])]
    public static byte[] EncodeEnqueue(EnqueueItem item)
    {
        var buffer = new ArrayBufferWriter<byte>(item.Envelope.Length + 64);
        var w = new MessagePackWriter(buffer);
        w.WriteArrayHeader(6);
        w.Write(KindEnqueue);
        w.Write(item.Queue);
        w.Write(item.Id);
        w.Write(item.DueAtMs);
        w.Write(item.Priority);
        w.Write(item.Envelope.Span);
        w.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    public static byte[] EncodeFail(string queue, string id, string task, TaskError error, string? replyTo)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        var w = new MessagePackWriter(buffer);
        w.WriteArrayHeader(8);
        w.Write(KindFail);
        w.Write(queue);
        w.Write(id);
        w.Write(task);
        w.Write(error.Type);
        w.Write(error.Message);
        w.Write(error.StackTrace);
        w.Write(replyTo);
        w.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    public static byte[] EncodeJoin(string groupId, int index, bool success, ReadOnlySpan<byte> value)
    {
        var buffer = new ArrayBufferWriter<byte>(value.Length + 64);
        var w = new MessagePackWriter(buffer);
        w.WriteArrayHeader(5);
        w.Write(KindJoin);
        w.Write(groupId);
        w.Write(index);
        w.Write(success);
        w.Write(value);
        w.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    //             | ["G", group step, value (the previous step's result), continuation flow, root id, parent id, reply_to]
    public static byte[] EncodeFanOut(FlowStep step, ReadOnlySpan<byte> value, ReadOnlySpan<byte> continuation, string? rootId, string parentId, string? replyTo)
    {
        var buffer = new ArrayBufferWriter<byte>(value.Length + continuation.Length + 256);
        var w = new MessagePackWriter(buffer);
        w.WriteArrayHeader(7);
        w.Write(KindFanOut);
        WriteStep(ref w, step);
        w.Write(value);
        w.Write(continuation);
        w.Write(rootId);
        w.Write(parentId);
        w.Write(replyTo);
        w.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    //             | ["B", batch, member id, success]
    public static byte[] EncodeBatchJoin(string batchId, string memberId, bool success)
    {
        var buffer = new ArrayBufferWriter<byte>(96);
        var w = new MessagePackWriter(buffer);
        w.WriteArrayHeader(4);
        w.Write(KindBatch);
        w.Write(batchId);
        w.Write(memberId);
        w.Write(success);
        w.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    public static byte[] EncodeBatchSpec(BatchSpec spec)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        var w = new MessagePackWriter(buffer);
        w.WriteArrayHeader(3);
        WriteStepOrNil(ref w, spec.OnSuccess);
        WriteStepOrNil(ref w, spec.OnComplete);
        w.Write(spec.RootId);
        w.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    public static BatchSpec DecodeBatchSpec(ReadOnlyMemory<byte> bytes)
    {
        var r = new MessagePackReader(bytes);
        _ = r.ReadArrayHeader();
        FlowStep? onSuccess = r.TryReadNil() ? null : ReadStep(ref r);
        FlowStep? onComplete = r.TryReadNil() ? null : ReadStep(ref r);
        return new BatchSpec(onSuccess, onComplete, r.ReadString());
    }

    private static void WriteStepOrNil(ref MessagePackWriter w, FlowStep? step)
    {
        if (step is null)
        {
            w.WriteNil();
        }
        else
        {
            WriteStep(ref w, step);
        }
    }

    public static byte[] EncodeStepSpec(GroupStepSpec spec)
    {
        var buffer = new ArrayBufferWriter<byte>(spec.Continuation.Length + 128);
        var w = new MessagePackWriter(buffer);
        w.WriteArrayHeader(6);
        w.Write(KindStepSpec);
        w.Write(spec.ResultId);
        w.Write(spec.ResultQueue);
        w.Write(spec.Continuation.Span);
        w.Write(spec.RootId);
        w.Write(spec.ReplyTo);
        w.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>A group step's spec, or null when <paramref name="bytes"/> is a chord's (<see cref="DecodeSpec"/>).</summary>
    public static GroupStepSpec? TryDecodeStepSpec(ReadOnlyMemory<byte> bytes)
    {
        var r = new MessagePackReader(bytes);
        _ = r.ReadArrayHeader();
        if (r.NextMessagePackType != MessagePackType.String)
        {
            return null;
        }

        _ = r.ReadString();
        return new GroupStepSpec(r.ReadString()!, r.ReadString()!, ReadBinOrNil(ref r), r.ReadString(), r.ReadString());
    }

    public static byte[] EncodeMemberError(string memberId, string task, TaskError error)
    {
        var buffer = new ArrayBufferWriter<byte>(128);
        var w = new MessagePackWriter(buffer);
        w.WriteArrayHeader(4);
        w.Write(memberId);
        w.Write(task);
        w.Write(error.Type);
        w.Write(error.Message);
        w.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    public static (string MemberId, string Task, string Type, string Message) DecodeMemberError(ReadOnlyMemory<byte> bytes)
    {
        var r = new MessagePackReader(bytes);
        _ = r.ReadArrayHeader();
        return (r.ReadString() ?? "?", r.ReadString() ?? "?", r.ReadString() ?? "?", r.ReadString() ?? string.Empty);
    }

    /// <summary>A decoded follow-up: exactly one of the three shapes is set.</summary>
    internal sealed record Decoded(EnqueueItem? Enqueue, (string Queue, string Id, string Task, TaskError Error, string? ReplyTo)? Fail, (string Group, int Index, bool Success, ReadOnlyMemory<byte> Value)? Join, FanOut? Fan = null, (string Batch, string Member, bool Success)? Batch = null);

    /// <summary>A decoded fan-out: a group step to start with the previous step's result.</summary>
    internal sealed record FanOut(FlowStep Step, ReadOnlyMemory<byte> Value, ReadOnlyMemory<byte> Continuation, string? RootId, string ParentId, string? ReplyTo);

    public static Decoded DecodeFollowUp(ReadOnlyMemory<byte> bytes)
    {
        var r = new MessagePackReader(bytes);
        _ = r.ReadArrayHeader();
        string kind = r.ReadString() ?? string.Empty;
        switch (kind)
        {
            case KindEnqueue:
            {
                string queue = r.ReadString()!;
                string id = r.ReadString()!;
                long due = r.ReadInt64();
                int priority = r.ReadInt32();
                ReadOnlyMemory<byte> envelope = ReadBinOrNil(ref r);
                return new Decoded(new EnqueueItem(id, queue, envelope, due, priority), null, null);
            }

            case KindFail:
            {
                string queue = r.ReadString()!;
                string id = r.ReadString()!;
                string task = r.ReadString()!;
                var error = new TaskError(r.ReadString() ?? "?", r.ReadString() ?? string.Empty, r.ReadString());
                return new Decoded(null, (queue, id, task, error, r.ReadString()), null);
            }

            case KindJoin:
            {
                string group = r.ReadString()!;
                int index = r.ReadInt32();
                bool success = r.ReadBoolean();
                return new Decoded(null, null, (group, index, success, ReadBinOrNil(ref r)));
            }

            case KindBatch:
            {
                string batch = r.ReadString()!;
                string member = r.ReadString()!;
                return new Decoded(null, null, null, null, (batch, member, r.ReadBoolean()));
            }

            case KindFanOut:
            {
                FlowStep step = ReadStep(ref r);
                ReadOnlyMemory<byte> value = ReadBinOrNil(ref r);
                ReadOnlyMemory<byte> continuation = ReadBinOrNil(ref r);
                return new Decoded(null, null, null, new FanOut(step, value, continuation, r.ReadString(), r.ReadString()!, r.ReadString()));
            }

            default:
                throw new InvalidDataException($"Unknown follow-up kind '{kind}'.");
        }
    }

    // A step: [id, task, queue, priority, countdown or nil, expires or nil, argument count, rest arguments]; a group step
    // two more: [..., group id, [member steps]]; a group step's member that is a chain three more (added after the
    // others, so a step written without them reads as before): [..., nil, nil, [its later steps]].
    private static void WriteStep(ref MessagePackWriter w, FlowStep step)
    {
        w.WriteArrayHeader(step.Tail is not null ? 11 : step.IsGroup ? 10 : 8);
        w.Write(step.Id);
        w.Write(step.Task);
        w.Write(step.Queue);
        w.Write(step.Priority);
        WriteNullable(ref w, step.CountdownMs);
        WriteNullable(ref w, step.ExpiresInMs);
        w.Write(step.ArgCount);
        w.Write(step.RestArgs.Span);
        if (step.Tail is null && step.Members is null)
        {
            return;
        }

        w.Write(step.GroupId);
        WriteSteps(ref w, step.Members);
        if (step.Tail is { } tail)
        {
            WriteSteps(ref w, tail);
        }
    }

    private static void WriteSteps(ref MessagePackWriter w, IReadOnlyList<FlowStep>? steps)
    {
        if (steps is null)
        {
            w.WriteNil();
            return;
        }

        w.WriteArrayHeader(steps.Count);
        foreach (FlowStep step in steps)
        {
            WriteStep(ref w, step);
        }
    }

    private static FlowStep ReadStep(ref MessagePackReader r)
    {
        int fields = r.ReadArrayHeader();
        string id = r.ReadString()!;
        string task = r.ReadString()!;
        string queue = r.ReadString()!;
        int priority = r.ReadInt32();
        long? countdown = r.TryReadNil() ? null : r.ReadInt64();
        long? expires = r.TryReadNil() ? null : r.ReadInt64();
        int argCount = r.ReadInt32();
        ReadOnlyMemory<byte> rest = ReadBinOrNil(ref r);
        if (fields < 10)
        {
            return new FlowStep(id, task, queue, priority, countdown, expires, argCount, rest);
        }

        string? group = r.ReadString();
        FlowStep[]? members = ReadSteps(ref r);
        FlowStep[]? tail = fields >= 11 ? ReadSteps(ref r) : null;
        for (int i = 11; i < fields; i++)
        {
            r.Skip(); // written by a later version: not this one's to read
        }

        return new FlowStep(id, task, queue, priority, countdown, expires, argCount, rest, group, members, tail);
    }

    private static FlowStep[]? ReadSteps(ref MessagePackReader r)
    {
        if (r.TryReadNil())
        {
            return null;
        }

        var steps = new FlowStep[r.ReadArrayHeader()];
        for (int i = 0; i < steps.Length; i++)
        {
            steps[i] = ReadStep(ref r);
        }

        return steps;
    }

    private static void WriteNullable(ref MessagePackWriter w, long? value)
    {
        if (value is { } v)
        {
            w.Write(v);
        }
        else
        {
            w.WriteNil();
        }
    }

    private static void WriteBinOrNil(ref MessagePackWriter w, ReadOnlyMemory<byte> value)
    {
        if (value.IsEmpty)
        {
            w.WriteNil();
        }
        else
        {
            w.Write(value.Span);
        }
    }

    private static ReadOnlyMemory<byte> ReadBinOrNil(ref MessagePackReader r)
    {
        if (r.TryReadNil())
        {
            return default;
        }

        ReadOnlySequence<byte> bytes = r.ReadBytes()!.Value;
        return bytes.ToArray();
    }
}
