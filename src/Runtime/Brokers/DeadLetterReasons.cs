namespace Celeriac.Brokers;

/// <summary>
/// The reason codes a dead letter's <see cref="DeadLetter.Reason"/> starts with (the code, then <c>": "</c> and details).
/// The strings are part of the wire contract (docs/protocol.md, "dead letter"): they never change.
/// </summary>
public static class DeadLetterReasons
{
    /// <summary>The bytes are not a readable envelope, or a field of it is out of range (the details name the field).</summary>
    public const string Undecodable = "undecodable";

    /// <summary>The envelope has a protocol version this worker does not read.</summary>
    public const string UnsupportedVersion = "unsupported-version";

    /// <summary>The message is larger than <c>CeleriacOptions.MaxMessageBytes</c>.</summary>
    public const string Oversized = "oversized";

    /// <summary>No task of the envelope's name is registered in the worker.</summary>
    public const string UnknownTask = "unknown-task";

    /// <summary>The argument payload does not match the task's parameters.</summary>
    public const string UndecodableArgs = "undecodable-args";

    /// <summary>Runs of the message were started again and again without an outcome (its workers died running it).</summary>
    public const string RedeliveryLimit = "redelivery-limit";

    /// <summary>A final failure of a task whose policy dead-letters failures (the details are the error's type and message).</summary>
    public const string Failed = "failed";

    /// <summary>
    /// The message's bookkeeping in the broker is corrupt (a delivery count, run count or priority that is not a number, a
    /// missing envelope, a message key of the wrong type): set aside by the broker itself, with no result record.
    /// </summary>
    public const string Corrupt = "corrupt";

    /// <summary>The worker could not prepare the run (its context) from a decoded envelope; the details are the error.</summary>
    public const string Unrunnable = "unrunnable";
}
