using System.Text;
using Celeriac.Protocol;
using MessagePack;

namespace Celeriac.RuntimeUnitTests;

/// <summary>
/// The optional trailing trace context fields (docs/protocol.md §1: <c>traceparent</c>, <c>tracestate</c>): written only
/// when the sender traced the send, read as slices of the message (no allocation), and an envelope without them is
/// unchanged.
/// </summary>
public sealed class EnvelopeTraceContextUnitTests
{
    private const string Parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    [Fact]
    public void Trace_context_follows_reply_to_as_fields_14_and_15()
    {
        var traced = new Envelope { Id = "a", Task = "t", Args = new byte[] { 0x90 }, Queue = "q", CreatedMs = 1, ReplyTo = "r", TraceParent = Encoding.UTF8.GetBytes(Parent), TraceState = Encoding.UTF8.GetBytes("k=v") };
        byte[] bytes = EnvelopeCodec.Encode(traced);
        Assert.Equal([0xdc, 0x00, 16], bytes[..3]); // array16 of 16: 13 fields + reply_to + traceparent + tracestate

        Envelope read = EnvelopeCodec.Decode(bytes);
        Assert.Equal("r", read.ReplyTo);
        Assert.Equal(Parent, Encoding.UTF8.GetString(read.TraceParent.Span));
        Assert.Equal("k=v", Encoding.UTF8.GetString(read.TraceState.Span));
    }

    [Fact]
    public void A_traceparent_without_reply_to_writes_reply_to_as_nil_and_no_tracestate()
    {
        var traced = new Envelope { Id = "a", Task = "t", Args = new byte[] { 0x90 }, Queue = "q", CreatedMs = 1, TraceParent = Encoding.UTF8.GetBytes(Parent) };
        byte[] bytes = EnvelopeCodec.Encode(traced);
        Assert.Equal(0x90 + 15, bytes[0]); // fixarray of 15

        var reader = new MessagePackReader(bytes);
        reader.ReadArrayHeader();
        for (int i = 0; i < 13; i++)
        {
            reader.Skip();
        }

        Assert.True(reader.TryReadNil()); // reply_to: nil, which every reader of version 1 takes for "none"
        Assert.Equal(Parent, reader.ReadString());

        Envelope read = EnvelopeCodec.Decode(bytes);
        Assert.Null(read.ReplyTo);
        Assert.Equal(Parent, Encoding.UTF8.GetString(read.TraceParent.Span));
        Assert.True(read.TraceState.IsEmpty);
        EnvelopeCodec.Peek(bytes, out string? task, out string? replyTo);
        Assert.Equal("t", task);
        Assert.Null(replyTo);
    }

    [Fact]
    public void An_envelope_without_trace_context_is_unchanged_and_decodes_with_none()
    {
        var plain = new Envelope { Id = "a", Task = "t", Args = new byte[] { 0x90 }, Queue = "q", CreatedMs = 1, ReplyTo = "r" };
        byte[] bytes = EnvelopeCodec.Encode(plain);
        Assert.Equal(0x90 + 14, bytes[0]); // as before trace context existed

        Envelope read = EnvelopeCodec.Decode(bytes);
        Assert.True(read.TraceParent.IsEmpty);
        Assert.True(read.TraceState.IsEmpty);

        // A reused envelope that last held a traced message forgets its trace context.
        var into = EnvelopeCodec.Decode(EnvelopeCodec.Encode(new Envelope { Id = "b", Task = "t", Args = new byte[] { 0x90 }, Queue = "q", CreatedMs = 1, TraceParent = Encoding.UTF8.GetBytes(Parent) }));
        EnvelopeCodec.Decode(bytes, into: into);
        Assert.True(into.TraceParent.IsEmpty);
    }

    [Fact]
    public void Decoding_trace_context_into_a_reused_envelope_allocates_nothing()
    {
        var traced = new Envelope { Id = "a", Task = "t", Args = new byte[] { 0x90 }, Queue = "q", CreatedMs = 1, ReplyTo = "r", TraceParent = Encoding.UTF8.GetBytes(Parent), TraceState = Encoding.UTF8.GetBytes("k=v") };
        ReadOnlyMemory<byte> bytes = EnvelopeCodec.Encode(traced);
        ReadOnlyMemory<byte> id = Encoding.UTF8.GetBytes("a");
        Envelope into = EnvelopeCodec.Decode(bytes, knownQueue: "q", knownTask: "t", knownReplyTo: "r");
        EnvelopeCodec.Decode(bytes, knownQueue: "q", knownTask: "t", into: into, knownReplyTo: "r", knownIdUtf8: id); // warm
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            EnvelopeCodec.Decode(bytes, knownQueue: "q", knownTask: "t", into: into, knownReplyTo: "r", knownIdUtf8: id);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(Parent, Encoding.UTF8.GetString(into.TraceParent.Span));
    }

    [Fact]
    public void A_requeued_dead_letter_keeps_its_trace_context()
    {
        var traced = new Envelope { Id = "a", Task = "t", Args = new byte[] { 0x90 }, Queue = "q", CreatedMs = 1, TraceParent = Encoding.UTF8.GetBytes(Parent) };
        Envelope read = EnvelopeCodec.Decode(EnvelopeCodec.Encode(traced));
        byte[]? reset = EnvelopeCodec.ResetRetries(EnvelopeCodec.Encode(new Envelope { Id = "a", Task = "t", Args = read.Args, Queue = "q", CreatedMs = 1, Retries = 2, TraceParent = read.TraceParent }));
        Assert.NotNull(reset);
        Envelope requeued = EnvelopeCodec.Decode(reset);
        Assert.Equal(0, requeued.Retries);
        Assert.Equal(Parent, Encoding.UTF8.GetString(requeued.TraceParent.Span));
    }
}
