namespace Celeriac.Inspection;

/// <summary>
/// What a stored message says (its envelope, docs/protocol.md §1), for showing it to an operator: a dead letter's
/// envelope (<see cref="Brokers.DeadLetter.Envelope"/>) read field by field. The arguments stay MessagePack bytes: only
/// the task's generated formatter knows their types.
/// </summary>
/// <param name="Id">The task id.</param>
/// <param name="TaskName">The task's wire name.</param>
/// <param name="Queue">The queue the message was sent to.</param>
/// <param name="Retries">How many times the task had been retried when this message was written.</param>
/// <param name="Eta">When the task was due to run, if it had an ETA or countdown.</param>
/// <param name="Expires">When the task expires, if it has an expiry.</param>
/// <param name="Priority">Its priority, 0 (lowest) to 9.</param>
/// <param name="Created">When the message was written.</param>
/// <param name="ParentId">The task that sent it, if it was sent from a running task.</param>
/// <param name="RootId">The first task of its workflow (its own id when it has no parent).</param>
/// <param name="Headers">Its headers (none is an empty dictionary).</param>
/// <param name="Arguments">The MessagePack-encoded argument list, as the task's generated formatter wrote it.</param>
public sealed record MessageDetails(
    string Id,
    string TaskName,
    string Queue,
    int Retries,
    DateTimeOffset? Eta,
    DateTimeOffset? Expires,
    int Priority,
    DateTimeOffset Created,
    string? ParentId,
    string? RootId,
    IReadOnlyDictionary<string, string> Headers,
    ReadOnlyMemory<byte> Arguments)
{
    /// <summary>Reads a stored envelope; <see langword="null"/> when the bytes are not an envelope this version reads.</summary>
    /// <param name="envelope">The message's bytes exactly as stored.</param>
    /// <returns>The message's fields, or <see langword="null"/>.</returns>
    public static MessageDetails? TryRead(ReadOnlyMemory<byte> envelope)
    {
        Protocol.Envelope decoded;
        try
        {
            decoded = Protocol.EnvelopeFormats.For(envelope.Span).Decode(envelope, null, null, null, null, null, default);
        }
        catch (Protocol.EnvelopeException)
        {
            return null;
        }

        return new MessageDetails(
            decoded.Id,
            decoded.Task,
            decoded.Queue,
            decoded.Retries,
            decoded.EtaMs is { } eta ? FromMs(eta) : null,
            decoded.ExpiresMs is { } expires ? FromMs(expires) : null,
            decoded.Priority,
            FromMs(decoded.CreatedMs),
            decoded.ParentId,
            decoded.RootId,
            decoded.Headers ?? new Dictionary<string, string>(),
            decoded.Args.ToArray());
    }

    private static DateTimeOffset FromMs(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(Math.Clamp(ms, 0, 253_402_300_799_999));
}
