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
}
