using System.Text;
using Celeriac.Protocol;
using Celeriac.Workflows;
using MessagePack;

namespace Celeriac.RuntimeUnitTests;

/// <summary>
/// The workflow field of the envelope (field 16) and what it holds: written only for a workflow task, read back with
/// the fields before it whatever they are, and the next step's message built from it carries the previous result first.
/// </summary>
public sealed class EnvelopeFlowUnitTests
{
    private static readonly FlowStep Next = new("id-2", "t.next", "q2", 3, 500, 60_000, 3, new byte[] { 0x07, 0xa1, 0x78 });

    private static Envelope Sample(ReadOnlyMemory<byte> flow, string? replyTo = null, string? traceParent = null) => new()
    {
        Id = "id-1",
        Task = "t.first",
        Args = new byte[] { 0x91, 0x05 },
        Queue = "q1",
        RootId = "id-1",
        CreatedMs = 10,
        ReplyTo = replyTo,
        TraceParent = traceParent is null ? default : Encoding.UTF8.GetBytes(traceParent),
        Flow = flow,
    };

    [Fact]
    public void An_envelope_without_a_flow_is_written_as_before()
    {
        byte[] plain = EnvelopeCodec.Encode(Sample(default));
        Assert.Equal(0x9d, plain[0]); // 13 fields, nothing appended
        Assert.True(EnvelopeCodec.Decode(plain).Flow.IsEmpty);
    }

    [Theory]
    [InlineData(null, null)]
    [InlineData("celeriac:reply:abc", null)]
    [InlineData(null, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")]
    [InlineData("celeriac:reply:abc", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")]
    public void The_flow_reads_back_with_whatever_fields_come_before_it(string? replyTo, string? traceParent)
    {
        byte[] flow = FlowCodec.EncodeFlow(new Flow([Next], "group-1", 4, "id-9", "q9", "t.last"));
        Envelope read = EnvelopeCodec.Decode(EnvelopeCodec.Encode(Sample(flow, replyTo, traceParent)));
        Assert.Equal(flow, read.Flow.ToArray());
        Assert.Equal(replyTo, read.ReplyTo);
        Assert.Equal(traceParent, read.TraceParent.IsEmpty ? null : Encoding.UTF8.GetString(read.TraceParent.Span));

        Flow decoded = FlowCodec.DecodeFlow(read.Flow);
        Assert.Equal(Next with { RestArgs = default }, Assert.Single(decoded.Next) with { RestArgs = default });
        Assert.Equal(Next.RestArgs.ToArray(), decoded.Next[0].RestArgs.ToArray());
        Assert.Equal(("group-1", 4, "id-9", "q9", "t.last"), (decoded.GroupId, decoded.Index, decoded.FinalId, decoded.FinalQueue, decoded.FinalTask));
    }

    [Fact]
    public void The_next_steps_message_has_the_previous_result_as_its_first_argument_and_the_rest_of_the_chain()
    {
        Envelope current = Sample(FlowCodec.EncodeFlow(new Flow([Next, Next with { Id = "id-3" }], null, -1, "id-3", "q2", "t.next")), "celeriac:reply:abc");
        byte[] result = MessagePackSerializer.Serialize("value");
        FollowUp followUp = Assert.Single(FlowCodec.OnSuccess(current, FlowCodec.DecodeFlow(current.Flow), result, 1_000));
        Assert.Equal("e:id-2", followUp.Key);

        var item = FlowCodec.DecodeFollowUp(followUp.Payload).Enqueue!.Value;
        Assert.Equal(("id-2", "q2", 1_500L, 3), (item.Id, item.Queue, item.DueAtMs, item.Priority));
        Envelope next = EnvelopeCodec.Decode(item.Envelope);
        Assert.Equal(("t.next", "id-1", "id-1", "celeriac:reply:abc", 61_000L), (next.Task, next.ParentId, next.RootId, next.ReplyTo, next.ExpiresMs!.Value));
        var args = new MessagePackReader(next.Args);
        Assert.Equal(3, args.ReadArrayHeader());
        Assert.Equal("value", args.ReadString());
        Assert.Equal(7, args.ReadInt32());
        Assert.Equal("x", args.ReadString());
        Assert.Equal("id-3", Assert.Single(FlowCodec.DecodeFlow(next.Flow).Next).Id);
    }

    [Fact]
    public void A_last_chain_step_carries_no_flow_and_a_failure_is_recorded_on_the_chains_last_task()
    {
        Envelope current = Sample(FlowCodec.EncodeFlow(new Flow([Next], null, -1, "id-2", "q2", "t.next")));
        var item = FlowCodec.DecodeFollowUp(FlowCodec.OnSuccess(current, FlowCodec.DecodeFlow(current.Flow), [0x01], 0)[0].Payload).Enqueue!.Value;
        Assert.True(EnvelopeCodec.Decode(item.Envelope).Flow.IsEmpty); // the last step completes like any task

        FollowUp failed = Assert.Single(FlowCodec.OnFailure(current, FlowCodec.DecodeFlow(current.Flow), new TaskError("E", "boom", null)));
        var fail = FlowCodec.DecodeFollowUp(failed.Payload).Fail!.Value;
        Assert.Equal(("q2", "id-2", "t.next", "E"), (fail.Queue, fail.Id, fail.Task, fail.Error.Type));
        Assert.Contains("step 't.first' (task id-1) of the chain failed: boom", fail.Error.Message, StringComparison.Ordinal);
    }

    private static readonly FlowStep Member = new("m-1", "t.member", "q3", 0, null, null, 2, new byte[] { 0x05 });

    [Fact]
    public void A_group_step_whose_members_are_single_steps_is_written_as_before_member_chains_existed()
    {
        // The layout an earlier version wrote (and reads): a group step is 10 fields, its members 8 each.
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        var w = new MessagePackWriter(buffer);
        w.WriteArrayHeader(10);
        w.Write("id-g");
        w.Write("celeriac.group");
        w.Write("q3");
        w.Write(0);
        w.WriteNil();
        w.WriteNil();
        w.Write(1);
        w.Write(ReadOnlySpan<byte>.Empty);
        w.Write("group-7");
        w.WriteArrayHeader(1);
        w.WriteArrayHeader(8);
        w.Write("m-1");
        w.Write("t.member");
        w.Write("q3");
        w.Write(0);
        w.WriteNil();
        w.WriteNil();
        w.Write(2);
        w.Write(new byte[] { 0x05 });
        w.Flush();
        byte[] earlier = buffer.WrittenSpan.ToArray();

        var group = new FlowStep("id-g", FlowStep.GroupTask, "q3", 0, null, null, 1, default, "group-7", [Member]);
        byte[] flow = FlowCodec.EncodeFlow(new Flow([group], null, -1, "id-g", "q3", FlowStep.GroupTask));
        Assert.True(flow.AsSpan().IndexOf(earlier) >= 0, "a group step of single steps keeps its earlier bytes");
        FlowStep read = Assert.Single(FlowCodec.DecodeFlow(flow).Next);
        Assert.Equal("group-7", read.GroupId);
        Assert.Null(Assert.Single(read.Members!).Tail);
    }

    [Fact]
    public void A_group_steps_member_chain_reads_back_with_its_later_steps_a_group_step_among_them()
    {
        var inner = new FlowStep("id-h", FlowStep.GroupTask, "q3", 0, null, null, 1, default, "group-8", [Member with { Id = "m-3" }, Member with { Id = "m-4" }]);
        var chain = Member with { Tail = [Next, inner] };
        var group = new FlowStep("id-g", FlowStep.GroupTask, "q3", 0, null, null, 1, default, "group-7", [chain, Member with { Id = "m-2" }]);
        Flow decoded = FlowCodec.DecodeFlow(FlowCodec.EncodeFlow(new Flow([group], null, -1, "id-g", "q3", FlowStep.GroupTask)));

        FlowStep[] members = [.. Assert.Single(decoded.Next).Members!];
        Assert.Equal(["m-1", "m-2"], members.Select(m => m.Id));
        Assert.Null(members[1].Tail);
        FlowStep[] tail = [.. members[0].Tail!];
        Assert.Equal(("id-2", "t.next", 3), (tail[0].Id, tail[0].Task, tail[0].ArgCount));
        Assert.Null(tail[0].Members);
        Assert.Equal(("group-8", 2), (tail[1].GroupId, tail[1].Members!.Count));

        var ids = new List<string>();
        group.CollectIds(ids);
        Assert.Equal(["id-g", "m-1", "id-2", "id-h", "m-3", "m-4", "m-2"], ids); // what revoking the workflow reaches
    }

    [Fact]
    public void A_chords_spec_is_written_as_before_unless_the_chord_is_a_batchs_member()
    {
        var spec = new GroupSpec(3, Next, default, null, "root", null, "id-2", "q2", "t.next");
        byte[] plain = FlowCodec.EncodeSpec(spec);
        Assert.Equal(0x99, plain[0]); // 9 fields, as before
        Assert.Null(FlowCodec.DecodeSpec(plain).BatchId);
        Assert.Equal("batch-1", FlowCodec.DecodeSpec(FlowCodec.EncodeSpec(spec with { BatchId = "batch-1" })).BatchId);
    }

    [Fact]
    public void A_batchs_chain_is_counted_by_its_last_step_and_a_failure_midway_is_recorded_there_first()
    {
        var last = Next with { Id = "id-3" };
        Envelope first = Sample(FlowCodec.EncodeFlow(new Flow([Next, last], null, -1, "id-3", "q2", "t.next", "batch-1")));
        FollowUp send = Assert.Single(FlowCodec.OnSuccess(first, FlowCodec.DecodeFlow(first.Flow), [0x01], 0)); // no count yet
        Envelope second = EnvelopeCodec.Decode(FlowCodec.DecodeFollowUp(send.Payload).Enqueue!.Value.Envelope);
        Envelope third = EnvelopeCodec.Decode(FlowCodec.DecodeFollowUp(Assert.Single(FlowCodec.OnSuccess(second, FlowCodec.DecodeFlow(second.Flow), [0x01], 0)).Payload).Enqueue!.Value.Envelope);
        Flow lastFlow = FlowCodec.DecodeFlow(third.Flow);
        Assert.Equal(("batch-1", "id-3", 0), (lastFlow.BatchId, lastFlow.FinalId, lastFlow.Next.Count)); // the last step carries the batch

        FollowUp counted = Assert.Single(FlowCodec.OnSuccess(third, lastFlow, [0x01], 0));
        Assert.Equal(("batch-1", "id-3", true), FlowCodec.DecodeFollowUp(counted.Payload).Batch!.Value);
        Assert.Equal(("batch-1", "id-3", false), FlowCodec.DecodeFollowUp(Assert.Single(FlowCodec.OnFailure(third, lastFlow, new TaskError("E", "boom", null))).Payload).Batch!.Value);

        List<FollowUp> midway = FlowCodec.OnFailure(second, FlowCodec.DecodeFlow(second.Flow), new TaskError("E", "boom", null));
        Assert.Equal(["f:id-3", "b:batch-1:id-3"], midway.Select(f => f.Key));
    }
}
