namespace Celeriac.Protocol;

/// <summary>
/// A wire format for task messages: how an <see cref="Envelope"/> becomes bytes in the broker and back. The native
/// format (<see cref="NativeEnvelopeCodec"/>, MessagePack, docs/protocol.md §1) is the only one today; Celery's protocol
/// v2 (JSON or msgpack bodies, ../shared/research/celery-protocol.md) is meant to sit beside it. Code that reads a
/// stored message picks the codec with <see cref="EnvelopeFormats.For"/>; code that writes one takes the codec of the
/// queue it writes to (<see cref="Client.EnvelopeFactory"/>). See docs/design/envelopes.md.
/// </summary>
internal interface IEnvelopeCodec
{
    /// <summary>A short name for logs and dead-letter reasons ("celeriac-msgpack").</summary>
    string Name { get; }

    /// <summary>Whether <paramref name="message"/> is in this format, judged from its first bytes only (no decoding).</summary>
    /// <param name="message">A stored message.</param>
    /// <returns><see langword="true"/> when this codec should decode it.</returns>
    bool Recognizes(ReadOnlySpan<byte> message);

    /// <summary>Encodes an envelope.</summary>
    /// <param name="envelope">The envelope.</param>
    /// <returns>The bytes to store.</returns>
    byte[] Encode(Envelope envelope);

    /// <summary>
    /// Decodes a message, refusing anything out of range with an <see cref="EnvelopeException"/> that names a dead-letter
    /// reason. The known strings are reused when the message carries the same value (no allocation per message).
    /// </summary>
    /// <param name="bytes">The message.</param>
    /// <param name="knownId">The id the broker delivered it under, when it is a string.</param>
    /// <param name="knownQueue">The queue it was fetched from.</param>
    /// <param name="knownTask">The task name of the previous message decoded by this caller.</param>
    /// <param name="into">An envelope to reuse, or <see langword="null"/> for a new one.</param>
    /// <param name="knownReplyTo">The reply channel of the previous message decoded by this caller.</param>
    /// <param name="knownIdUtf8">The id's bytes as the broker delivered them, when it has them.</param>
    /// <returns>The decoded envelope (<paramref name="into"/> when given).</returns>
    Envelope Decode(ReadOnlyMemory<byte> bytes, string? knownId, string? knownQueue, string? knownTask, Envelope? into, string? knownReplyTo, ReadOnlyMemory<byte> knownIdUtf8);

    /// <summary>Reads only the task name and reply channel of a message that is refused undecoded (bounded, quoted).</summary>
    /// <param name="bytes">The message.</param>
    /// <param name="task">The task name, or <see langword="null"/>.</param>
    /// <param name="replyTo">The reply channel, or <see langword="null"/>.</param>
    void Peek(ReadOnlyMemory<byte> bytes, out string? task, out string? replyTo);

    /// <summary>The message with its retry count set to zero (a requeued dead letter starts afresh), or <see langword="null"/> when it cannot be read.</summary>
    /// <param name="bytes">The message.</param>
    /// <returns>The new bytes, or <see langword="null"/>.</returns>
    byte[]? ResetRetries(ReadOnlyMemory<byte> bytes);

    /// <summary>The task name and retry count of a stored message, for listings (dead letters).</summary>
    /// <param name="bytes">The message.</param>
    /// <param name="task">The task name.</param>
    /// <param name="retries">The retry count.</param>
    /// <returns><see langword="false"/> when the message cannot be read.</returns>
    bool TryReadSummary(ReadOnlyMemory<byte> bytes, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out string? task, out int retries);
}

/// <summary>The native format: Celeriac's MessagePack envelope (docs/protocol.md §1), encoded by <see cref="EnvelopeCodec"/>.</summary>
internal sealed class NativeEnvelopeCodec : IEnvelopeCodec
{
    private NativeEnvelopeCodec()
    {
    }

    /// <summary>The one instance.</summary>
    public static NativeEnvelopeCodec Instance { get; } = new();

    /// <inheritdoc />
    public string Name => "celeriac-msgpack";

    /// <inheritdoc />
    /// <remarks>A MessagePack array (fixarray, array16, array32): what every native envelope starts with.</remarks>
    public bool Recognizes(ReadOnlySpan<byte> message) => !message.IsEmpty && (message[0] is >= 0x90 and <= 0x9f or 0xdc or 0xdd);

    /// <inheritdoc />
    public byte[] Encode(Envelope envelope) => EnvelopeCodec.Encode(envelope);

    /// <inheritdoc />
    public Envelope Decode(ReadOnlyMemory<byte> bytes, string? knownId, string? knownQueue, string? knownTask, Envelope? into, string? knownReplyTo, ReadOnlyMemory<byte> knownIdUtf8)
        => EnvelopeCodec.Decode(bytes, knownId, knownQueue, knownTask, into, knownReplyTo, knownIdUtf8);

    /// <inheritdoc />
    public void Peek(ReadOnlyMemory<byte> bytes, out string? task, out string? replyTo) => EnvelopeCodec.Peek(bytes, out task, out replyTo);

    /// <inheritdoc />
    public byte[]? ResetRetries(ReadOnlyMemory<byte> bytes) => EnvelopeCodec.ResetRetries(bytes);

    /// <inheritdoc />
    public bool TryReadSummary(ReadOnlyMemory<byte> bytes, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out string? task, out int retries)
        => EnvelopeCodec.TryReadSummary(bytes, out task, out retries);
}

/// <summary>The wire formats a worker reads, and how a stored message's format is found.</summary>
internal static class EnvelopeFormats
{
    /// <summary>Every format known, the native one first. A second format (Celery protocol v2) is added here.</summary>
    private static readonly IEnvelopeCodec[] Known = [NativeEnvelopeCodec.Instance];

    /// <summary>The native format.</summary>
    public static IEnvelopeCodec Native => NativeEnvelopeCodec.Instance;

    /// <summary>
    /// The codec for a stored message: the first whose <see cref="IEnvelopeCodec.Recognizes"/> says yes, else the native
    /// one (whose decoder then refuses the message as undecodable, with the reason it gives today).
    /// </summary>
    /// <param name="message">The stored message.</param>
    /// <returns>The codec to read it with.</returns>
    public static IEnvelopeCodec For(ReadOnlySpan<byte> message)
    {
        IEnvelopeCodec[] known = Known;
        for (int i = 0; i < known.Length; i++)
        {
            if (known[i].Recognizes(message))
            {
                return known[i];
            }
        }

        return NativeEnvelopeCodec.Instance;
    }
}
