namespace Celeriac;

/// <summary>The lifecycle state of a task, with Celery's meanings.</summary>
public enum TaskState
{
    /// <summary>Unknown to the result backend: waiting in a queue, scheduled, or never sent (or its result expired).</summary>
    Pending = 0,

    /// <summary>A worker has received the task.</summary>
    Received = 1,

    /// <summary>A worker has started running the task.</summary>
    Started = 2,

    /// <summary>The task failed and will be retried.</summary>
    Retry = 3,

    /// <summary>The task finished and its result is stored. Final.</summary>
    Success = 4,

    /// <summary>The task failed for good (an exception, or it could not be run). Final.</summary>
    Failure = 5,

    /// <summary>The task was revoked or expired before it ran. Final.</summary>
    Revoked = 6,
}

/// <summary>Helpers over <see cref="TaskState"/>.</summary>
public static class TaskStateExtensions
{
    /// <summary>Whether <paramref name="state"/> is final (success, failure or revoked): it will not change again.</summary>
    /// <param name="state">The state to test.</param>
    /// <returns><see langword="true"/> for <see cref="TaskState.Success"/>, <see cref="TaskState.Failure"/> and <see cref="TaskState.Revoked"/>.</returns>
    public static bool IsReady(this TaskState state) => state is TaskState.Success or TaskState.Failure or TaskState.Revoked;
}
