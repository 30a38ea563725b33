namespace Celeriac.Protocol;

/// <summary>
/// The native message: routing and bookkeeping fields kept apart from the task's argument payload, which is carried
/// as opaque bytes. Encoded by <see cref="EnvelopeCodec"/>; the layout is documented in docs/protocol.md.
/// </summary>
internal sealed class Envelope
{
    public required string Id { get; set; }
    public required string Task { get; set; }
    /// <summary>The MessagePack-encoded argument list, written by the task's generated formatter.</summary>
    public required ReadOnlyMemory<byte> Args { get; set; }
    public required string Queue { get; set; }
    public int Retries { get; set; }
    public long? EtaMs { get; set; }
    public long? ExpiresMs { get; set; }
    public string? RootId { get; set; }
    public string? ParentId { get; set; }
    public IReadOnlyDictionary<string, string>? Headers { get; set; }
    public int Priority { get; set; }
    public long CreatedMs { get; set; }
    /// <summary>Optional trailing field 13: the sending client's reply channel (<c>P:reply:&lt;clientId&gt;</c>), where the worker publishes the final result.</summary>
    public string? ReplyTo { get; set; }
}

/// <summary>Why an envelope could not be read; the reason is what the dead-letter entry records.</summary>
internal sealed class EnvelopeException(string reason, string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>A stable, short reason code: <c>undecodable</c>, <c>unsupported-version</c>, <c>oversized</c>.</summary>
    public string Reason { get; } = reason;
}
