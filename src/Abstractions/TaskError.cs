namespace Celeriac;

/// <summary>The error a failed task left: the remote exception's type, message and stack trace.</summary>
/// <param name="Type">The full name of the exception type thrown by the task (or a Celeriac reason such as <c>Celeriac.UnknownTask</c>).</param>
/// <param name="Message">The exception's message.</param>
/// <param name="StackTrace">The remote stack trace, when known.</param>
public sealed record TaskError(string Type, string Message, string? StackTrace);

/// <summary>Thrown by a task handle when the task ended in <see cref="TaskState.Failure"/>.</summary>
public sealed class TaskFailedException : Exception
{
    /// <summary>Creates the exception for task <paramref name="taskId"/> that failed with <paramref name="error"/>.</summary>
    /// <param name="taskId">The failed task's id.</param>
    /// <param name="error">The remote error.</param>
    public TaskFailedException(string taskId, TaskError error)
        : base($"Task {taskId} failed: {error.Type}: {error.Message}")
    {
        TaskId = taskId;
        Error = error;
    }

    /// <summary>The failed task's id.</summary>
    public string TaskId { get; }

    /// <summary>The remote error.</summary>
    public TaskError Error { get; }

    /// <summary>The full name of the remote exception type.</summary>
    public string RemoteType => Error.Type;

    /// <summary>The remote exception's message.</summary>
    public string RemoteMessage => Error.Message;

    /// <summary>The remote stack trace, when known.</summary>
    public string? RemoteStackTrace => Error.StackTrace;
}

/// <summary>Thrown by a task handle when the task was revoked (or expired) before it ran.</summary>
public sealed class TaskRevokedException : Exception
{
    /// <summary>Creates the exception for task <paramref name="taskId"/>.</summary>
    /// <param name="taskId">The revoked task's id.</param>
    /// <param name="reason">Why it was revoked.</param>
    public TaskRevokedException(string taskId, string? reason)
        : base($"Task {taskId} was revoked{(reason is null ? "" : ": " + reason)}")
    {
        TaskId = taskId;
        Reason = reason;
    }

    /// <summary>The revoked task's id.</summary>
    public string TaskId { get; }

    /// <summary>Why it was revoked, when known (for example <c>expired</c>).</summary>
    public string? Reason { get; }
}

/// <summary>
/// Thrown by a generated invoker when a message's argument payload cannot be decoded for the task. The worker sets
/// such a message aside (dead letter) instead of failing the task's code.
/// </summary>
public sealed class TaskPayloadException : Exception
{
    /// <summary>Creates the exception for task <paramref name="taskName"/>.</summary>
    /// <param name="taskName">The task whose payload could not be decoded.</param>
    /// <param name="inner">The decoding error.</param>
    public TaskPayloadException(string taskName, Exception inner)
        : base($"The arguments of task '{taskName}' could not be decoded: {inner.Message}", inner)
    {
        TaskName = taskName;
    }

    /// <summary>The task whose payload could not be decoded.</summary>
    public string TaskName { get; }
}
