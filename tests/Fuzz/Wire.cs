using System.Buffers;
using MessagePack;

namespace Celeriac.Fuzz;

/// <summary>
/// The native envelope written from docs/protocol.md §1 — deliberately not the runtime's codec, so that the fuzzer can
/// write what the codec never would (any type in any field, ids that are not UTF-8, fields missing or extra).
/// </summary>
internal sealed class EnvelopeSpec
{
    public object? Version = 1;
    public required byte[] Id;
    public object? Task;
    public byte[]? Args;
    public object? Queue = "default";
    public object? Retries = 0;
    public long? EtaMs;
    public long? ExpiresMs;
    public List<(byte[] Key, byte[] Value)>? Headers;

    /// <summary>Raw MessagePack bytes in the headers field instead of <see cref="Headers"/>.</summary>
    public byte[]? HeadersRaw;
    public object? Priority = 0;
    public long CreatedMs = 1_700_000_000_000;

    /// <summary>Fields left off the end (the envelope has 13 fields when 0).</summary>
    public int DropFields;

    public byte[] Encode()
    {
        var buffer = new ArrayBufferWriter<byte>(64 + (Args?.Length ?? 0));
        var w = new MessagePackWriter(buffer);
        int count = 13 - DropFields;
        w.WriteArrayHeader(count);
        int field = 0;
        void Next(ref MessagePackWriter writer, object? value)
        {
            if (field++ < count)
            {
                Wire.WriteValue(ref writer, value);
            }
        }

        Next(ref w, Version);
        Next(ref w, Id);
        Next(ref w, Task);
        Next(ref w, Args is null ? null : new Bin(Args));
        Next(ref w, Queue);
        Next(ref w, Retries);
        Next(ref w, EtaMs);
        Next(ref w, ExpiresMs);
        Next(ref w, Id); // root_id: its own
        Next(ref w, null); // parent_id
        if (field++ < count)
        {
            if (HeadersRaw is not null)
            {
                w.WriteRaw(HeadersRaw);
            }
            else if (Headers is null)
            {
                w.WriteNil();
            }
            else
            {
                w.WriteMapHeader(Headers.Count);
                foreach ((byte[] key, byte[] value) in Headers)
                {
                    w.WriteString(key);
                    w.WriteString(value);
                }
            }
        }

        Next(ref w, Priority);
        Next(ref w, CreatedMs);
        w.Flush();
        return buffer.WrittenSpan.ToArray();
    }
}

/// <summary>A value written as MessagePack bin (not str).</summary>
internal readonly record struct Bin(byte[] Bytes);

/// <summary>A value written as the given raw MessagePack bytes.</summary>
internal readonly record struct Raw(byte[] Bytes);

internal static class Wire
{
    public static void WriteValue(ref MessagePackWriter w, object? value)
    {
        switch (value)
        {
            case null:
                w.WriteNil();
                break;
            case int i:
                w.Write(i);
                break;
            case long l:
                w.Write(l);
                break;
            case double d:
                w.Write(d);
                break;
            case bool b:
                w.Write(b);
                break;
            case string s:
                w.Write(s);
                break;
            case byte[] utf8:
                w.WriteString(utf8);
                break;
            case Bin bin:
                w.Write(bin.Bytes);
                break;
            case Raw raw:
                w.WriteRaw(raw.Bytes);
                break;
            default:
                throw new ArgumentException($"no wire form for {value.GetType()}");
        }
    }

    /// <summary>One MessagePack array of the given values (a task's argument list).</summary>
    public static byte[] Array(params object?[] values)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var w = new MessagePackWriter(buffer);
        w.WriteArrayHeader(values.Length);
        foreach (object? value in values)
        {
            WriteValue(ref w, value);
        }

        w.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Raw MessagePack bytes written by <paramref name="write"/>.</summary>
    public static byte[] Build(WriteAction write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var w = new MessagePackWriter(buffer);
        write(ref w);
        w.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    public delegate void WriteAction(ref MessagePackWriter writer);

    public static byte[] Utf8(string s) => System.Text.Encoding.UTF8.GetBytes(s);
}
