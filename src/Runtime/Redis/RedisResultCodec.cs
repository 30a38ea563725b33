using System.Globalization;
using StackExchange.Redis;

namespace Celeriac.Redis;

/// <summary>
/// Maps a <see cref="TaskResult"/> to the fields of its result hash <c>P:r:&lt;id&gt;</c> and back (docs/protocol.md,
/// "Result record"). States are written with Celery's names so that <c>redis-cli HGETALL</c> reads naturally.
/// </summary>
internal static class RedisResultCodec
{
    public const string StateField = "state";
    public const string ValueField = "value";
    public const string ExcTypeField = "exc_type";
    public const string ExcMessageField = "exc_message";
    public const string TracebackField = "traceback";
    public const string TaskField = "task";
    public const string RetriesField = "retries";
    public const string DateDoneField = "date_done";
    public const string WorkerField = "worker";

    /// <summary>Celery's name for <paramref name="state"/>.</summary>
    public static string StateName(TaskState state) => state switch
    {
        TaskState.Pending => "PENDING",
        TaskState.Received => "RECEIVED",
        TaskState.Started => "STARTED",
        TaskState.Retry => "RETRY",
        TaskState.Success => "SUCCESS",
        TaskState.Failure => "FAILURE",
        TaskState.Revoked => "REVOKED",
        _ => throw new ArgumentOutOfRangeException(nameof(state), state, "Unknown task state."),
    };

    /// <summary>Parses a Celery state name; unknown names read as <see cref="TaskState.Pending"/>.</summary>
    public static TaskState ParseState(string? name) => name switch
    {
        "RECEIVED" => TaskState.Received,
        "STARTED" => TaskState.Started,
        "RETRY" => TaskState.Retry,
        "SUCCESS" => TaskState.Success,
        "FAILURE" => TaskState.Failure,
        "REVOKED" => TaskState.Revoked,
        _ => TaskState.Pending,
    };

    /// <summary>Appends the hash's field/value pairs for <paramref name="result"/> (state first) to <paramref name="into"/>.</summary>
    /// <param name="result">The result to write.</param>
    /// <param name="now">The timestamp used when <see cref="TaskResult.Timestamp"/> is not set.</param>
    /// <param name="into">The script argument list.</param>
    public static void AppendFields(TaskResult result, DateTimeOffset now, List<RedisValue> into)
    {
        into.Add(StateField);
        into.Add(StateName(result.State));
        if (!result.Value.IsEmpty)
        {
            into.Add(ValueField);
            into.Add(result.Value);
        }

        if (result.Error is { } error)
        {
            into.Add(ExcTypeField);
            into.Add(error.Type);
            into.Add(ExcMessageField);
            into.Add(error.Message);
            if (error.StackTrace is { } trace)
            {
                into.Add(TracebackField);
                into.Add(trace);
            }
        }

        if (result.TaskName is { } task)
        {
            into.Add(TaskField);
            into.Add(task);
        }

        into.Add(RetriesField);
        into.Add(result.Retries);
        into.Add(DateDoneField);
        into.Add((result.Timestamp ?? now).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture));
        if (result.Worker is { } worker)
        {
            into.Add(WorkerField);
            into.Add(worker);
        }
    }

    /// <summary>Reads a result hash; an empty hash (missing key) reads as <see cref="TaskResult.Pending"/>.</summary>
    public static TaskResult Read(HashEntry[] entries)
    {
        if (entries.Length == 0)
        {
            return TaskResult.Pending;
        }

        string? state = null, excType = null, excMessage = null, traceback = null, task = null, worker = null;
        ReadOnlyMemory<byte> value = default;
        int retries = 0;
        DateTimeOffset? timestamp = null;
        foreach (HashEntry entry in entries)
        {
            switch ((string?)entry.Name)
            {
                case StateField: state = entry.Value; break;
                case ValueField: value = (byte[]?)entry.Value ?? []; break;
                case ExcTypeField: excType = entry.Value; break;
                case ExcMessageField: excMessage = entry.Value; break;
                case TracebackField: traceback = entry.Value; break;
                case TaskField: task = entry.Value; break;
                case WorkerField: worker = entry.Value; break;
                case RetriesField:
                    if (entry.Value.TryParse(out int r))
                    {
                        retries = r;
                    }

                    break;
                case DateDoneField:
                    if (DateTimeOffset.TryParse((string?)entry.Value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out DateTimeOffset at))
                    {
                        timestamp = at;
                    }

                    break;
            }
        }

        return new TaskResult
        {
            State = ParseState(state),
            Value = value,
            Error = excType is null && excMessage is null ? null : new TaskError(excType ?? string.Empty, excMessage ?? string.Empty, traceback),
            TaskName = task,
            Retries = retries,
            Timestamp = timestamp,
            Worker = worker,
        };
    }
}
