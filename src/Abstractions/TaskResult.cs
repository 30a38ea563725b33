namespace Celeriac;

/// <summary>What the result backend holds for a task: its state and, once ready, its encoded value or error.</summary>
public sealed class TaskResult
{
    /// <summary>The result of a task the backend knows nothing about.</summary>
    public static TaskResult Pending { get; } = new() { State = TaskState.Pending };

    /// <summary>The task's state.</summary>
    public required TaskState State { get; init; }

    /// <summary>The MessagePack encoding of the task's return value when <see cref="State"/> is <see cref="TaskState.Success"/>.</summary>
    public ReadOnlyMemory<byte> Value { get; init; }

    /// <summary>The error when <see cref="State"/> is <see cref="TaskState.Failure"/> or <see cref="TaskState.Retry"/>; the reason when revoked.</summary>
    public TaskError? Error { get; init; }

    /// <summary>The task's wire name, when known.</summary>
    public string? TaskName { get; init; }

    /// <summary>How many times the task was retried.</summary>
    public int Retries { get; init; }

    /// <summary>When the state was recorded.</summary>
    public DateTimeOffset? Timestamp { get; init; }

    /// <summary>The worker that recorded the state, when known.</summary>
    public string? Worker { get; init; }

    /// <summary>Whether the state is final.</summary>
    public bool IsReady => State.IsReady();
}
