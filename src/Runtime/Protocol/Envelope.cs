namespace Celeriac.Protocol;

/// <summary>
/// The native message: routing and bookkeeping fields kept apart from the task's argument payload, which is carried
/// as opaque bytes. Encoded by <see cref="EnvelopeCodec"/>; the layout is documented in docs/protocol.md.
/// </summary>
internal sealed class Envelope
{
    public required string Id { get; init; }
    public required string Task { get; init; }
    /// <summary>The MessagePack-encoded argument list, written by the task's generated formatter.</summary>
    public required ReadOnlyMemory<byte> Args { get; init; }
    public required string Queue { get; init; }
    public int Retries { get; init; }
    public long? EtaMs { get; init; }
    public long? ExpiresMs { get; init; }
    public string? RootId { get; init; }
    public string? ParentId { get; init; }
    public IReadOnlyDictionary<string, string>? Headers { get; init; }
    public int Priority { get; init; }
    public long CreatedMs { get; init; }
    /// <summary>Optional trailing field 13: the sending client's reply channel (<c>P:reply:&lt;clientId&gt;</c>), where the worker publishes the final result.</summary>
    public string? ReplyTo { get; init; }
}

/// <summary>Why an envelope could not be read; the reason is what the dead-letter entry records.</summary>
internal sealed class EnvelopeException(string reason, string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>A stable, short reason code: <c>undecodable</c>, <c>unsupported-version</c>, <c>oversized</c>.</summary>
    public string Reason { get; } = reason;
}
