namespace Celeriac.Protocol;

/// <summary>
/// The native message: routing and bookkeeping fields kept apart from the task's argument payload, which is carried
/// as opaque bytes. Encoded by <see cref="EnvelopeCodec"/>; the layout is documented in docs/protocol.md.
/// </summary>
internal sealed class Envelope
{
    private string? _id;

    /// <summary>The task id; made from <see cref="IdUtf8"/> on first use when the decoder kept only the bytes.</summary>
    public required string Id
    {
        get => _id ??= System.Text.Encoding.UTF8.GetString(IdUtf8.Span);
        set
        {
            _id = value;
            IdUtf8 = default;
        }
    }

    /// <summary>The id's bytes in the encoded envelope, when the decoder did not make a string of them (see <see cref="EnvelopeCodec.Decode"/>).</summary>
    public ReadOnlyMemory<byte> IdUtf8 { get; private set; }

    /// <summary>Sets the id as bytes of the encoded envelope (no string until <see cref="Id"/> is read).</summary>
    public void SetIdUtf8(ReadOnlyMemory<byte> utf8)
    {
        _id = null;
        IdUtf8 = utf8;
    }
    public required string Task { get; set; }
    /// <summary>The MessagePack-encoded argument list, written by the task's generated formatter.</summary>
    public required ReadOnlyMemory<byte> Args { get; set; }
    public required string Queue { get; set; }
    public int Retries { get; set; }
    public long? EtaMs { get; set; }
    public long? ExpiresMs { get; set; }
    private string? _rootId;
    private bool _rootIsId;

    /// <summary>The workflow's first task; the task's own id when it has no parent (then no string of its own is kept).</summary>
    public string? RootId
    {
        get => _rootIsId ? Id : _rootId;
        set
        {
            _rootId = value;
            _rootIsId = false;
        }
    }

    /// <summary>Sets <see cref="RootId"/> to the task's own id.</summary>
    public void SetRootIsId()
    {
        _rootId = null;
        _rootIsId = true;
    }
    public string? ParentId { get; set; }
    public IReadOnlyDictionary<string, string>? Headers { get; set; }
    public int Priority { get; set; }
    public long CreatedMs { get; set; }
    /// <summary>Optional trailing field 13: the sending client's reply channel (<c>P:reply:&lt;clientId&gt;</c>), where the worker publishes the final result.</summary>
    public string? ReplyTo { get; set; }

    /// <summary>
    /// Optional trailing field 14: the W3C <c>traceparent</c> of the span that sent the task, as UTF-8 (empty when the
    /// sender traced nothing). Kept as bytes (a slice of the received message) so that a worker nobody traces reads it
    /// without allocating; <see cref="Diagnostics.Telemetry"/> parses it only when a listener samples the run.
    /// </summary>
    public ReadOnlyMemory<byte> TraceParent { get; set; }

    /// <summary>Optional trailing field 15: the W3C <c>tracestate</c> that goes with <see cref="TraceParent"/>, as UTF-8 (empty when none).</summary>
    public ReadOnlyMemory<byte> TraceState { get; set; }

    /// <summary>
    /// Optional trailing field 16: what a workflow does once this task's outcome is final (the next steps of its chain,
    /// the chord it is a member of), encoded by <see cref="Workflows.FlowCodec"/>; empty for a task outside a workflow.
    /// </summary>
    public ReadOnlyMemory<byte> Flow { get; set; }
}

/// <summary>Why an envelope could not be read; the reason is what the dead-letter entry records.</summary>
internal sealed class EnvelopeException(string reason, string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>A stable, short reason code from <see cref="Brokers.DeadLetterReasons"/>.</summary>
    public string Reason { get; } = reason;
}
