using System.Text;
using Celeriac.Protocol;

namespace Celeriac.RuntimeUnitTests;

/// <summary>
/// The worker decodes every envelope into one reused object and, given the broker's id as bytes, keeps a matching id
/// (and a root that is the task itself) as bytes: no string per task. What it reads must be what was written.
/// </summary>
public sealed class EnvelopeReuseUnitTests
{
    private static Envelope Blank() => new() { Id = string.Empty, Task = string.Empty, Args = default, Queue = string.Empty };

    [Fact]
    public void A_matching_id_stays_bytes_and_reads_back_as_written()
    {
        const string id = "0123abcd-0000-0000-0000-00000000002a";
        byte[] bytes = EnvelopeCodec.Encode(new Envelope { Id = id, Task = "t", Args = new byte[] { 0x92, 1, 2 }, Queue = "q", RootId = id, CreatedMs = 5, ReplyTo = "r" });
        Envelope into = Blank();
        Envelope read = EnvelopeCodec.Decode(bytes, null, "q", null, into, null, Encoding.UTF8.GetBytes(id));
        Assert.Same(into, read);
        Assert.False(read.IdUtf8.IsEmpty);
        Assert.Equal(id, read.Id);
        Assert.Equal(id, read.RootId);
        Assert.Null(read.ParentId);
        Assert.Equal(new byte[] { 0x92, 1, 2 }, read.Args.ToArray());
        Assert.Equal("r", read.ReplyTo);
    }

    [Fact]
    public void A_different_id_root_or_parent_is_read_as_a_string_and_a_reused_envelope_keeps_nothing_of_the_last_one()
    {
        const string id = "0123abcd-0000-0000-0000-00000000002a";
        Envelope into = Blank();
        EnvelopeCodec.Decode(EnvelopeCodec.Encode(new Envelope { Id = id, Task = "t", Args = new byte[] { 0x90 }, Queue = "q", RootId = id }), null, "q", null, into, null, Encoding.UTF8.GetBytes(id));
        Assert.Equal(id, into.RootId);

        // The next message on the same envelope: another id than the broker's, its own root and a parent.
        byte[] other = EnvelopeCodec.Encode(new Envelope { Id = "other", Task = "t2", Args = new byte[] { 0x90 }, Queue = "q", RootId = "root-1", ParentId = "parent-1" });
        EnvelopeCodec.Decode(other, null, "q", "t", into, null, Encoding.UTF8.GetBytes(id));
        Assert.True(into.IdUtf8.IsEmpty);
        Assert.Equal("other", into.Id);
        Assert.Equal("root-1", into.RootId);
        Assert.Equal("parent-1", into.ParentId);
        Assert.Equal("t2", into.Task);
        Assert.Null(into.ReplyTo);
    }
}
