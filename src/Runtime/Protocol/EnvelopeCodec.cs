using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using Celeriac.Brokers;
using MessagePack;

namespace Celeriac.Protocol;

/// <summary>
/// Encodes and decodes <see cref="Envelope"/> as one MessagePack array:
/// <c>[version, id, task, args(bin), queue, retries, eta_ms|nil, expires_ms|nil, root_id|nil, parent_id|nil, headers(map)|nil, priority, created_ms(, reply_to|nil(, traceparent(, tracestate)))]</c>.
/// The trailing fields are optional: <c>reply_to</c> is written when set or when trace context follows it (as nil then),
/// <c>traceparent</c> (W3C, as a string) only when the sender traced the send, <c>tracestate</c> only when it is not
/// empty; an envelope without them is byte-for-byte what it was before they existed.
/// Readers of version 1 ignore trailing elements they do not know, so fields can be added without a version change;
/// a different version number means an incompatible layout and the message is set aside, never guessed at.
/// Numbers are checked against what the worker does with them: an instant (<c>eta_ms</c>, <c>expires_ms</c>,
/// <c>created_ms</c>) must be one a <see cref="DateTimeOffset"/> holds, <c>retries</c> must not be negative and
/// <c>priority</c> must be 0-9; an envelope that breaks one is undecodable, with the field named.
/// </summary>
internal static class EnvelopeCodec
{
    public const int Version = 1;
    private const int FieldCount = 13;

    /// <summary>The earliest instant a <see cref="DateTimeOffset"/> holds, in unix ms (0001-01-01).</summary>
    internal const long MinUnixMs = -62_135_596_800_000;

    /// <summary>The latest instant a <see cref="DateTimeOffset"/> holds, in unix ms (9999-12-31T23:59:59.999).</summary>
    internal const long MaxUnixMs = 253_402_300_799_999;

    /// <summary>The most headers an envelope may carry; one with more is undecodable (its map is never allocated).</summary>
    public const int MaxHeaders = 1024;

    public static void Write(IBufferWriter<byte> output, Envelope envelope)
    {
        var writer = new MessagePackWriter(output);
        bool flow = !envelope.Flow.IsEmpty;
        int count = flow ? FieldCount + 4
            : !envelope.TraceState.IsEmpty && !envelope.TraceParent.IsEmpty ? FieldCount + 3
            : !envelope.TraceParent.IsEmpty ? FieldCount + 2
            : envelope.ReplyTo is null ? FieldCount : FieldCount + 1;
        writer.WriteArrayHeader(count);
        writer.Write(Version);
        writer.Write(envelope.Id);
        writer.Write(envelope.Task);
        writer.Write(envelope.Args.Span);
        writer.Write(envelope.Queue);
        writer.Write(envelope.Retries);
        WriteNullable(ref writer, envelope.EtaMs);
        WriteNullable(ref writer, envelope.ExpiresMs);
        writer.Write(envelope.RootId);
        writer.Write(envelope.ParentId);
        if (envelope.Headers is { Count: > 0 } headers)
        {
            writer.WriteMapHeader(headers.Count);
            foreach (KeyValuePair<string, string> header in headers)
            {
                writer.Write(header.Key);
                writer.Write(header.Value);
            }
        }
        else
        {
            writer.WriteNil();
        }

        writer.Write(envelope.Priority);
        writer.Write(envelope.CreatedMs);
        if (count > FieldCount)
        {
            writer.Write(envelope.ReplyTo); // nil when only trace context follows
        }

        if (count > FieldCount + 1)
        {
            WriteUtf8OrNil(ref writer, envelope.TraceParent); // nil only when the workflow field follows
        }

        if (count > FieldCount + 2)
        {
            WriteUtf8OrNil(ref writer, envelope.TraceState);
        }

        if (flow)
        {
            writer.Write(envelope.Flow.Span);
        }

        writer.Flush();
    }

    public static byte[] Encode(Envelope envelope)
    {
        var buffer = new ArrayBufferWriter<byte>(128 + envelope.Args.Length);
        Write(buffer, envelope);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Decodes an envelope. <paramref name="bytes"/> must stay alive as long as the envelope's <see cref="Envelope.Args"/> is used.</summary>
    /// <param name="bytes">The encoded envelope.</param>
    /// <param name="knownId">The id the broker gave (the worker's delivery): when the id, <c>root_id</c> or <c>parent_id</c> equals it, that string is reused instead of allocating a new one.</param>
    /// <param name="knownQueue">Likewise for the queue.</param>
    /// <param name="knownTask">Likewise for the task name (e.g. the last one decoded).</param>
    /// <exception cref="EnvelopeException">The bytes are not a readable envelope of a supported version.</exception>
    /// <param name="knownReplyTo">Likewise for the reply channel (e.g. the last one decoded: a client's tasks share it).</param>
    /// <param name="knownIdUtf8">The broker's id as bytes: when the envelope's id spells it, <paramref name="into"/> keeps the id as bytes (no string).</param>
    /// <param name="into">An envelope to fill (reused by the worker from task to task), or <see langword="null"/> for a new one.</param>
    public static Envelope Decode(ReadOnlyMemory<byte> bytes, string? knownId = null, string? knownQueue = null, string? knownTask = null, Envelope? into = null, string? knownReplyTo = null, ReadOnlyMemory<byte> knownIdUtf8 = default)
    {
        int version;
        var reader = new MessagePackReader(bytes);
        int count;
        try
        {
            if (reader.NextMessagePackType != MessagePackType.Array)
            {
                throw new EnvelopeException(DeadLetterReasons.Undecodable, $"The message is not a Celeriac envelope (it starts with a {reader.NextMessagePackType}, not an array).");
            }

            count = reader.ReadArrayHeader();
            if (count < 1)
            {
                throw new EnvelopeException(DeadLetterReasons.Undecodable, "The message is an empty array.");
            }

            version = reader.ReadInt32();
        }
        catch (EnvelopeException)
        {
            throw;
        }
        catch (Exception ex)
        {
            throw new EnvelopeException(DeadLetterReasons.Undecodable, "The message is not a Celeriac envelope: " + ex.Message, ex);
        }

        if (version != Version)
        {
            throw new EnvelopeException(DeadLetterReasons.UnsupportedVersion, $"The envelope has protocol version {version}; this worker reads version {Version}.");
        }

        if (count < FieldCount)
        {
            throw new EnvelopeException(DeadLetterReasons.Undecodable, $"The envelope has {count} fields; version {Version} has at least {FieldCount}.");
        }

        try
        {
            // With the broker's id as bytes and an envelope to fill, an id that spells it is kept as a slice of the
            // envelope: no string made. (A copy of the reader probes; the reader itself reads on otherwise.)
            string? id = null;
            ReadOnlyMemory<byte> idUtf8 = default;
            MessagePackReader probe = reader;
            if (into is not null && !knownIdUtf8.IsEmpty && probe.TryReadStringSpan(out ReadOnlySpan<byte> idSpan) && idSpan.SequenceEqual(knownIdUtf8.Span))
            {
                idUtf8 = bytes.Slice((int)probe.Consumed - idSpan.Length, idSpan.Length);
                reader = probe;
            }
            else
            {
                id = ReadRequiredString(ref reader, "id", knownId);
            }

            string task = ReadRequiredString(ref reader, "task", knownTask);
            ReadOnlySequence<byte>? argsSequence = reader.ReadBytes();
            if (argsSequence is null)
            {
                throw new EnvelopeException(DeadLetterReasons.Undecodable, "The envelope has no argument payload.");
            }

            ReadOnlyMemory<byte> args = Slice(bytes, argsSequence.Value);
            string queue = ReadRequiredString(ref reader, "queue", knownQueue);
            int retries = reader.ReadInt32();
            long? eta = ReadNullableInt64(ref reader);
            long? expires = ReadNullableInt64(ref reader);
            string? root = null;
            bool rootIsId = false;
            probe = reader;
            if (id is null && probe.TryReadStringSpan(out ReadOnlySpan<byte> rootSpan) && rootSpan.SequenceEqual(idUtf8.Span))
            {
                rootIsId = true; // the usual case: a task with no parent is its own root
                reader = probe;
            }
            else
            {
                root = ReadString(ref reader, id);
            }

            string? parent = ReadString(ref reader, id);
            Dictionary<string, string>? headers = null;
            if (!reader.TryReadNil())
            {
                int n = reader.ReadMapHeader();
                if (n > MaxHeaders)
                {
                    throw new EnvelopeException(DeadLetterReasons.Undecodable, $"The envelope has {n} headers; at most {MaxHeaders} are read.");
                }

                headers = new Dictionary<string, string>(n, StringComparer.Ordinal);
                for (int i = 0; i < n; i++)
                {
                    string key = ReadRequiredString(ref reader, "header name");
                    headers[key] = reader.ReadString() ?? string.Empty;
                }
            }

            int priority = reader.ReadInt32();
            long created = reader.ReadInt64();
            if (retries < 0 || (uint)priority > 9 || !IsInstant(eta) || !IsInstant(expires) || !IsInstant(created))
            {
                ThrowOutOfRange(retries, eta, expires, priority, created);
            }

            string? replyTo = count > FieldCount ? ReadString(ref reader, knownReplyTo) : null;
            ReadOnlyMemory<byte> traceParent = count > FieldCount + 1 ? ReadUtf8(bytes, ref reader) : default;
            ReadOnlyMemory<byte> traceState = count > FieldCount + 2 ? ReadUtf8(bytes, ref reader) : default;
            ReadOnlyMemory<byte> flow = default;
            if (count > FieldCount + 3 && !reader.TryReadNil())
            {
                flow = Slice(bytes, reader.ReadBytes() ?? throw new EnvelopeException(DeadLetterReasons.Undecodable, "The envelope's flow is not binary."));
            }

            for (int i = FieldCount + 4; i < count; i++)
            {
                reader.Skip();
            }

            // A new envelope, or the caller's to reuse: every field is set either way.
            into ??= new Envelope { Id = string.Empty, Task = string.Empty, Args = default, Queue = string.Empty };
            if (id is null)
            {
                into.SetIdUtf8(idUtf8);
            }
            else
            {
                into.Id = id;
            }

            into.Task = task;
            into.Args = args;
            into.Queue = queue;
            into.Retries = retries;
            into.EtaMs = eta;
            into.ExpiresMs = expires;
            if (rootIsId)
            {
                into.SetRootIsId();
            }
            else
            {
                into.RootId = root;
            }

            into.ParentId = parent;
            into.Headers = headers;
            into.Priority = priority;
            into.CreatedMs = created;
            into.ReplyTo = replyTo;
            into.TraceParent = traceParent;
            into.TraceState = traceState;
            into.Flow = flow;
            return into;
        }
        catch (EnvelopeException)
        {
            throw;
        }
        catch (Exception ex)
        {
            throw new EnvelopeException(DeadLetterReasons.Undecodable, "The envelope is truncated or malformed: " + ex.Message, ex);
        }
    }

    private static bool IsInstant(long? unixMs) => unixMs is not { } ms || ms is >= MinUnixMs and <= MaxUnixMs;

    [DoesNotReturn]
    private static void ThrowOutOfRange(int retries, long? eta, long? expires, int priority, long created)
    {
        (string field, string value, string range) = retries < 0 ? ("retries", retries.ToString(System.Globalization.CultureInfo.InvariantCulture), "0 or more")
            : (uint)priority > 9 ? ("priority", priority.ToString(System.Globalization.CultureInfo.InvariantCulture), "0 to 9")
            : !IsInstant(eta) ? ("eta_ms", eta!.Value.ToString(System.Globalization.CultureInfo.InvariantCulture), InstantRange)
            : !IsInstant(expires) ? ("expires_ms", expires!.Value.ToString(System.Globalization.CultureInfo.InvariantCulture), InstantRange)
            : ("created_ms", created.ToString(System.Globalization.CultureInfo.InvariantCulture), InstantRange);
        throw new EnvelopeException(DeadLetterReasons.Undecodable, $"The envelope's {field} is {value}, out of range (it must be {range}).");
    }

    private const string InstantRange = "an instant from 0001-01-01 to 9999-12-31, unix ms -62135596800000 to 253402300799999";

    /// <summary>
    /// Reads only what a refusal needs from a message that is not decoded (oversized, or set aside before it runs): the
    /// task name, quoted to at most <see cref="Quote.MaxChars"/> characters, and the reply channel. Nothing else is
    /// allocated (headers are skipped); <paramref name="bytes"/> may be a prefix of the message, and whatever cannot be
    /// read stays <see langword="null"/>.
    /// </summary>
    public static void Peek(ReadOnlyMemory<byte> bytes, out string? task, out string? replyTo)
    {
        task = null;
        replyTo = null;
        try
        {
            var reader = new MessagePackReader(bytes);
            int count = reader.ReadArrayHeader();
            if (count < FieldCount || reader.ReadInt32() != Version)
            {
                return;
            }

            reader.Skip(); // id
            if (reader.TryReadStringSpan(out ReadOnlySpan<byte> name))
            {
                task = Quote.Bounded(System.Text.Encoding.UTF8.GetString(name[..Math.Min(name.Length, Quote.MaxChars * 4)]));
            }
            else
            {
                return;
            }

            for (int i = 3; i < FieldCount; i++)
            {
                reader.Skip();
            }

            if (count > FieldCount && reader.TryReadStringSpan(out ReadOnlySpan<byte> reply) && reply.Length <= Quote.MaxChars)
            {
                replyTo = System.Text.Encoding.UTF8.GetString(reply);
            }
        }
        catch (Exception)
        {
            // A prefix, or not an envelope: what was read is kept.
        }
    }

    private static ReadOnlyMemory<byte> Slice(ReadOnlyMemory<byte> whole, ReadOnlySequence<byte> part)
    {
        // A reader over a single ReadOnlyMemory yields single-segment sequences that alias it: slice, don't copy.
        if (part.IsSingleSegment && System.Runtime.InteropServices.MemoryMarshal.TryGetArray(whole, out ArraySegment<byte> wholeSegment)
            && System.Runtime.InteropServices.MemoryMarshal.TryGetArray(part.First, out ArraySegment<byte> partSegment)
            && ReferenceEquals(wholeSegment.Array, partSegment.Array))
        {
            return whole.Slice(partSegment.Offset - wholeSegment.Offset, partSegment.Count);
        }

        return part.ToArray();
    }

    /// <summary>Writes UTF-8 bytes as a string, or nil when there are none.</summary>
    private static void WriteUtf8OrNil(ref MessagePackWriter writer, ReadOnlyMemory<byte> utf8)
    {
        if (utf8.IsEmpty)
        {
            writer.WriteNil();
        }
        else
        {
            writer.WriteString(utf8.Span);
        }
    }

    /// <summary>Reads a string (or nil, or an empty string: empty) as a slice of <paramref name="whole"/>: no allocation.</summary>
    private static ReadOnlyMemory<byte> ReadUtf8(ReadOnlyMemory<byte> whole, ref MessagePackReader reader)
    {
        if (reader.TryReadNil())
        {
            return default;
        }

        ReadOnlySequence<byte> utf8 = reader.ReadStringSequence() ?? default;
        return utf8.IsEmpty ? default : Slice(whole, utf8);
    }

    private static string ReadRequiredString(ref MessagePackReader reader, string field, string? known = null)
        => ReadString(ref reader, known) is { Length: > 0 } value ? value : throw new EnvelopeException(DeadLetterReasons.Undecodable, $"The envelope's {field} is missing.");

    /// <summary>Reads a string (or nil), returning <paramref name="known"/> itself when the bytes spell it (no allocation).</summary>
    private static string? ReadString(ref MessagePackReader reader, string? known)
    {
        if (known is not null && reader.TryReadStringSpan(out ReadOnlySpan<byte> utf8))
        {
            return SpellsAscii(utf8, known) ? known : System.Text.Encoding.UTF8.GetString(utf8);
        }

        return reader.ReadString();
    }

    private static bool SpellsAscii(ReadOnlySpan<byte> utf8, string known)
    {
        if (utf8.Length != known.Length)
        {
            return false;
        }

        for (int i = 0; i < utf8.Length; i++)
        {
            if (utf8[i] != known[i])
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// The envelope with its retry count set to 0 and every other byte as it was (fields this version does not know
    /// included), for a requeued dead letter's fresh start; <see langword="null"/> when the count is 0 already or the
    /// bytes are not a readable envelope of this version (they are requeued unchanged then).
    /// </summary>
    /// <param name="bytes">The stored envelope.</param>
    /// <returns>A new envelope, or <see langword="null"/> when there is nothing to change.</returns>
    public static byte[]? ResetRetries(ReadOnlyMemory<byte> bytes)
    {
        try
        {
            var reader = new MessagePackReader(bytes);
            if (reader.NextMessagePackType != MessagePackType.Array || reader.ReadArrayHeader() < FieldCount || reader.ReadInt32() != Version)
            {
                return null;
            }

            for (int field = 0; field < 4; field++)
            {
                reader.Skip(); // id, task, args, queue
            }

            int start = (int)reader.Consumed;
            if (reader.ReadInt32() == 0)
            {
                return null;
            }

            int end = (int)reader.Consumed;
            byte[] reset = new byte[bytes.Length - (end - start) + 1];
            bytes.Span[..start].CopyTo(reset);
            reset[start] = 0; // MessagePack positive fixint 0
            bytes.Span[end..].CopyTo(reset.AsSpan(start + 1));
            return reset;
        }
        catch (Exception ex) when (ex is MessagePackSerializationException or EndOfStreamException or OverflowException)
        {
            return null;
        }
    }

    /// <summary>Reads the task name and retry count of an envelope, for showing a dead letter; <see langword="false"/> when the bytes cannot be read.</summary>
    /// <param name="bytes">The stored envelope.</param>
    /// <param name="task">The task's wire name.</param>
    /// <param name="retries">How many times the task was retried before this message.</param>
    /// <returns>Whether the envelope could be read.</returns>
    public static bool TryReadSummary(ReadOnlyMemory<byte> bytes, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out string? task, out int retries)
    {
        try
        {
            Envelope envelope = Decode(bytes);
            task = envelope.Task;
            retries = envelope.Retries;
            return true;
        }
        catch (EnvelopeException)
        {
            task = null;
            retries = 0;
            return false;
        }
    }

    private static void WriteNullable(ref MessagePackWriter writer, long? value)
    {
        if (value is { } v)
        {
            writer.Write(v);
        }
        else
        {
            writer.WriteNil();
        }
    }

    private static long? ReadNullableInt64(ref MessagePackReader reader) => reader.TryReadNil() ? null : reader.ReadInt64();
}
