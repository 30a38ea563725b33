namespace Celeriac.Brokers;

/// <summary>
/// Why a message was set aside (the reason code a dead letter records, before its detail), and the error type of the
/// FAILURE result stored with it. One definition, referenced by the codec and the worker (docs/protocol.md and
/// docs/reliability.md list the codes).
/// </summary>
internal static class DeadLetterReasons
{
    /// <summary>No task of that name is registered in the worker.</summary>
    public const string UnknownTask = "unknown-task";

    /// <summary>The envelope cannot be read (or its id differs from the broker's).</summary>
    public const string Undecodable = "undecodable";

    /// <summary>The envelope has a protocol version this worker does not read.</summary>
    public const string UnsupportedVersion = "unsupported-version";

    /// <summary>The message is over the worker's size limit.</summary>
    public const string Oversized = "oversized";

    /// <summary>The task's generated formatter could not read its arguments.</summary>
    public const string UndecodableArgs = "undecodable-args";

    /// <summary>Started too many times without an outcome: its workers probably died running it.</summary>
    public const string RedeliveryLimit = "redelivery-limit";

    /// <summary>The task failed and its policy dead-letters failures (the detail is the error's type and message).</summary>
    public const string Failed = "failed";

    /// <summary>
    /// The message's bookkeeping in Redis is corrupt (a delivery count, run count or priority that is not one, a missing
    /// envelope, a message key of another type): set aside by the script that met it, which also stores a FAILURE
    /// result (<see cref="ErrorTypes.CorruptMessage"/>, the reason as its message) so that a waiting client is answered.
    /// </summary>
    public const string Corrupt = "corrupt";

    /// <summary>The worker could not prepare the run (its context) from a decoded envelope; the detail is the error.</summary>
    public const string Unrunnable = "unrunnable";

    /// <summary>The error type of the FAILURE result stored with a dead letter of <paramref name="reason"/>.</summary>
    public static string ErrorType(string reason) => reason switch
    {
        UnknownTask => ErrorTypes.UnknownTask,
        Undecodable => ErrorTypes.UndecodableMessage,
        UnsupportedVersion => ErrorTypes.UnsupportedVersion,
        Oversized => ErrorTypes.OversizedMessage,
        UndecodableArgs => ErrorTypes.UndecodableArguments,
        RedeliveryLimit => ErrorTypes.RedeliveryLimit,
        Unrunnable => ErrorTypes.UnrunnableMessage,
        Corrupt => ErrorTypes.CorruptMessage,
        _ => ErrorTypes.DeadLetter,
    };
}

/// <summary>The error types (<see cref="TaskError.Type"/>) Celeriac itself records, as opposed to a task's exception type.</summary>
internal static class ErrorTypes
{
    /// <summary>REVOKED: the task was revoked before or while it ran.</summary>
    public const string TaskRevoked = "Celeriac.TaskRevoked";

    /// <summary>REVOKED: the task expired before it ran.</summary>
    public const string TaskExpired = "Celeriac.TaskExpired";

    /// <summary>FAILURE: the task exceeded its soft or hard time limit.</summary>
    public const string TimeLimitExceeded = "Celeriac.TimeLimitExceeded";

    /// <summary>FAILURE of a dead letter: <see cref="DeadLetterReasons.UnknownTask"/>.</summary>
    public const string UnknownTask = "Celeriac.UnknownTask";

    /// <summary>FAILURE of a dead letter: <see cref="DeadLetterReasons.Undecodable"/>.</summary>
    public const string UndecodableMessage = "Celeriac.UndecodableMessage";

    /// <summary>FAILURE of a dead letter: <see cref="DeadLetterReasons.UnsupportedVersion"/>.</summary>
    public const string UnsupportedVersion = "Celeriac.UnsupportedVersion";

    /// <summary>FAILURE of a dead letter: <see cref="DeadLetterReasons.Oversized"/>.</summary>
    public const string OversizedMessage = "Celeriac.OversizedMessage";

    /// <summary>FAILURE of a dead letter: <see cref="DeadLetterReasons.UndecodableArgs"/>.</summary>
    public const string UndecodableArguments = "Celeriac.UndecodableArguments";

    /// <summary>FAILURE of a dead letter: <see cref="DeadLetterReasons.RedeliveryLimit"/>.</summary>
    public const string RedeliveryLimit = "Celeriac.RedeliveryLimit";

    /// <summary>FAILURE of a dead letter: <see cref="DeadLetterReasons.Unrunnable"/>.</summary>
    public const string UnrunnableMessage = "Celeriac.UnrunnableMessage";

    /// <summary>FAILURE of a dead letter: <see cref="DeadLetterReasons.Corrupt"/> (written by the fetch script itself).</summary>
    public const string CorruptMessage = "Celeriac.CorruptMessage";

    /// <summary>FAILURE of a dead letter with any other reason.</summary>
    public const string DeadLetter = "Celeriac.DeadLetter";
}
