using System.Buffers;
using Celeriac.Protocol;
using MessagePack;

namespace Celeriac.IntegrationTests.HostileInput;

/// <summary>The element count that runs before any argument formatter: exact on valid payloads, and refusing before allocating.</summary>
public sealed class PayloadScanUnitTests
{
    [Fact]
    public void A_valid_payload_counts_every_value_and_passes()
    {
        byte[] payload = Encode((ref MessagePackWriter w) =>
        {
            w.WriteArrayHeader(4);
            w.Write("text");
            w.WriteMapHeader(2);
            w.Write("a");
            w.Write(1L << 40);
            w.Write("b");
            w.Write(new byte[300]);
            w.WriteArrayHeader(2);
            w.Write(1.5);
            w.WriteNil();
            w.WriteExtensionFormat(new ExtensionResult(-1, new byte[12])); // a timestamp
        });
        Assert.Equal(PayloadScan.Outcome.Ok, PayloadScan.Scan(payload, 0, out long elements));
        Assert.Equal(11, elements); // array, text, map, a, 2^40, b, bin, array, 1.5, nil, ext
        Assert.Equal(PayloadScan.Outcome.Ok, PayloadScan.Scan(payload, 11, out _));
        Assert.Equal(PayloadScan.Outcome.TooManyElements, PayloadScan.Scan(payload, 10, out _));
    }

    [Fact]
    public void Every_truncation_of_a_valid_payload_is_refused()
    {
        byte[] payload = Encode((ref MessagePackWriter w) =>
        {
            w.WriteArrayHeader(3);
            w.Write(new string('x', 40));
            w.Write(new byte[70000]);
            w.WriteExtensionFormat(new ExtensionResult(5, new byte[300]));
        });
        for (int length = 0; length < payload.Length; length++)
        {
            Assert.Equal(PayloadScan.Outcome.Truncated, PayloadScan.Scan(payload.AsSpan(0, length), 0, out _));
        }

        Assert.Equal(PayloadScan.Outcome.Ok, PayloadScan.Scan(payload, 0, out _));
    }

    [Fact]
    public void Headers_that_declare_more_elements_than_bytes_and_reserved_bytes_are_refused_at_once()
    {
        Assert.Equal(PayloadScan.Outcome.Truncated, PayloadScan.Scan([0xdd, 0x7f, 0xff, 0xff, 0xff, 0x00], 0, out long elements));
        Assert.Equal(1, elements);
        Assert.Equal(PayloadScan.Outcome.Truncated, PayloadScan.Scan([0xdf, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00], 0, out _));
        Assert.Equal(PayloadScan.Outcome.Truncated, PayloadScan.Scan([0xdb, 0xff, 0xff, 0xff, 0xff, 0x41], 0, out _));
        Assert.Equal(PayloadScan.Outcome.Invalid, PayloadScan.Scan([0x92, 0x01, 0xc1], 0, out _));
    }

    [Fact]
    public void Deep_nesting_is_scanned_without_recursion()
    {
        byte[] payload = [.. Enumerable.Repeat((byte)0x91, 1_000_000), 0x01];
        Assert.Equal(PayloadScan.Outcome.Ok, PayloadScan.Scan(payload, 0, out long elements));
        Assert.Equal(1_000_001, elements);
    }

    private static byte[] Encode(WriteAction write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(buffer);
        write(ref writer);
        writer.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    private delegate void WriteAction(ref MessagePackWriter writer);
}
