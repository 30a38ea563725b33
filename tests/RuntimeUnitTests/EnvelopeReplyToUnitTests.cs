using Celeriac.Protocol;

namespace Celeriac.RuntimeUnitTests;

/// <summary>The optional trailing <c>reply_to</c> envelope field (docs/protocol.md §1): written only when set, read when present.</summary>
public sealed class EnvelopeReplyToUnitTests
{
    [Fact]
    public void Reply_to_is_a_trailing_optional_field()
    {
        var without = new Envelope { Id = "a", Task = "t", Args = new byte[] { 0x90 }, Queue = "q", CreatedMs = 1 };
        var with = new Envelope { Id = "a", Task = "t", Args = new byte[] { 0x90 }, Queue = "q", CreatedMs = 1, ReplyTo = "celeriac:reply:0011" };
        byte[] a = EnvelopeCodec.Encode(without);
        byte[] b = EnvelopeCodec.Encode(with);
        Assert.Equal(0x9d, a[0]); // 13 fields, as before
        Assert.Equal(0x9e, b[0]); // 14 fields
        Assert.Null(EnvelopeCodec.Decode(a).ReplyTo);
        Assert.Equal("celeriac:reply:0011", EnvelopeCodec.Decode(b).ReplyTo);
        Assert.Equal("t", EnvelopeCodec.Decode(b).Task);
    }
}
