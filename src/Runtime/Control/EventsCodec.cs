using System.Globalization;

namespace Celeriac.Control;

/// <summary>
/// One event on its way to the stream: plain values (the strings already exist on the worker's path), written into the
/// publisher's bounded channel without allocating an object per event.
/// </summary>
internal readonly record struct EventRecord
{
    public required TaskEventKind Kind { get; init; }

    /// <summary>When it happened (unix ms).</summary>
    public required long AtMs { get; init; }

    /// <summary>Who writes it (a worker's name, a client's host:pid).</summary>
    public required string Source { get; init; }

    public string? TaskId { get; init; }

    public string? TaskName { get; init; }

    public string? Queue { get; init; }

    public int Retries { get; init; }

    public string? ErrorType { get; init; }

    public string? ErrorMessage { get; init; }

    public string? Reason { get; init; }

    /// <summary>The run's duration (ms), or a negative value when none.</summary>
    public double RuntimeMs { get; init; }

    /// <summary>When the task is due (unix ms), or 0.</summary>
    public long EtaMs { get; init; }

    public int Active { get; init; }

    public long Processed { get; init; }

    /// <summary>The load average, or NaN when none.</summary>
    public double Load { get; init; }
}

/// <summary>
/// How an event is written as a stream entry's fields and read back (docs/observability.md, "Task events"): the type
/// under <c>type</c> with Celery's names, the time under <c>ts</c>, the writer under <c>src</c>, then only the fields the
/// kind carries. The same layout serves the Redis stream and the in-process broker's.
/// </summary>
internal static class EventsCodec
{
    /// <summary>The wire name of each <see cref="TaskEventKind"/>, by its value.</summary>
    private static readonly string[] WireNames =
    [
        "task-sent", "task-received", "task-started", "task-succeeded", "task-failed", "task-retried", "task-revoked",
        "task-dead-lettered", "worker-online", "worker-heartbeat", "worker-offline",
    ];

    /// <summary>The wire name of <paramref name="kind"/>.</summary>
    public static string WireName(TaskEventKind kind) => WireNames[(int)kind];

    /// <summary>The entry's fields, in order.</summary>
    public static List<KeyValuePair<string, string>> ToFields(in EventRecord e)
    {
        var fields = new List<KeyValuePair<string, string>>(8)
        {
            new("type", WireName(e.Kind)),
            new("ts", e.AtMs.ToString(CultureInfo.InvariantCulture)),
            new("src", e.Source),
        };
        Add(fields, "id", e.TaskId);
        Add(fields, "task", e.TaskName);
        Add(fields, "queue", e.Queue);
        if (e.TaskId is not null)
        {
            fields.Add(new("retries", e.Retries.ToString(CultureInfo.InvariantCulture)));
        }

        Add(fields, "error", e.ErrorType);
        Add(fields, "message", e.ErrorMessage);
        Add(fields, "reason", e.Reason);
        if (e.RuntimeMs >= 0)
        {
            fields.Add(new("runtime_ms", e.RuntimeMs.ToString("0.###", CultureInfo.InvariantCulture)));
        }

        if (e.EtaMs > 0)
        {
            fields.Add(new("eta", e.EtaMs.ToString(CultureInfo.InvariantCulture)));
        }

        if (e.Kind is TaskEventKind.WorkerOnline or TaskEventKind.WorkerHeartbeat or TaskEventKind.WorkerOffline)
        {
            fields.Add(new("active", e.Active.ToString(CultureInfo.InvariantCulture)));
            fields.Add(new("processed", e.Processed.ToString(CultureInfo.InvariantCulture)));
            if (!double.IsNaN(e.Load))
            {
                fields.Add(new("load", e.Load.ToString("0.##", CultureInfo.InvariantCulture)));
            }
        }

        return fields;
    }

    /// <summary>
    /// Reads an entry back; <see langword="null"/> for an entry that is not an event this version knows (an unknown
    /// type, no time): a newer writer's kinds are skipped by older readers, never fatal.
    /// </summary>
    public static TaskEvent? FromFields(string id, IEnumerable<KeyValuePair<string, string>> fields)
    {
        TaskEventKind? kind = null;
        long ts = -1;
        string source = "", taskId = null!, taskName = null!, queue = null!, error = null!, message = null!, reason = null!;
        int retries = 0;
        double? runtime = null, load = null;
        long? eta = null, processed = null;
        int? active = null;
        foreach ((string name, string value) in fields)
        {
            switch (name)
            {
                case "type":
                    int index = Array.IndexOf(WireNames, value);
                    kind = index >= 0 ? (TaskEventKind)index : null;
                    break;
                case "ts":
                    ts = long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out long t) ? t : -1;
                    break;
                case "src":
                    source = value;
                    break;
                case "id":
                    taskId = value;
                    break;
                case "task":
                    taskName = value;
                    break;
                case "queue":
                    queue = value;
                    break;
                case "retries":
                    retries = int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int r) ? r : 0;
                    break;
                case "error":
                    error = value;
                    break;
                case "message":
                    message = value;
                    break;
                case "reason":
                    reason = value;
                    break;
                case "runtime_ms":
                    runtime = double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double ms) ? ms : null;
                    break;
                case "eta":
                    eta = long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out long due) ? due : null;
                    break;
                case "active":
                    active = int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int a) ? a : null;
                    break;
                case "processed":
                    processed = long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out long p) ? p : null;
                    break;
                case "load":
                    load = double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double l) ? l : null;
                    break;
            }
        }

        if (kind is null || ts < 0)
        {
            return null;
        }

        return new TaskEvent
        {
            Id = id,
            Kind = kind.Value,
            Timestamp = DateTimeOffset.FromUnixTimeMilliseconds(ts),
            Source = source,
            TaskId = taskId,
            TaskName = taskName,
            Queue = queue,
            Retries = retries,
            ErrorType = error,
            ErrorMessage = message,
            Reason = reason,
            Runtime = runtime is { } run ? TimeSpan.FromMilliseconds(run) : null,
            Eta = eta is { } at ? DateTimeOffset.FromUnixTimeMilliseconds(at) : null,
            Active = active,
            Processed = processed,
            Load = load,
        };
    }

    private static void Add(List<KeyValuePair<string, string>> fields, string name, string? value)
    {
        if (value is not null)
        {
            fields.Add(new(name, value));
        }
    }
}
