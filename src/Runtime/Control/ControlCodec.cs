using System.Buffers;
using System.Text.Json;

namespace Celeriac.Control;

/// <summary>A command as it travels to a worker.</summary>
/// <param name="RequestId">Where the replies go (<c>P:{workers}:reply:&lt;id&gt;</c>).</param>
/// <param name="Name">The command (<see cref="ControlCommands"/>).</param>
/// <param name="Argument">Its text argument (a queue name), or <see langword="null"/>.</param>
/// <param name="Number">Its number argument (how many to grow or shrink by), or 0.</param>
/// <param name="DeadlineMs">When the sender stops waiting (unix ms): a command read later is dropped unanswered.</param>
internal sealed record ControlCommand(string RequestId, string Name, string? Argument, int Number, long DeadlineMs);

/// <summary>The command names on the wire (docs/observability.md, "Inspect and control").</summary>
internal static class ControlCommands
{
    public const string Ping = "ping";
    public const string Active = "active";
    public const string Reserved = "reserved";
    public const string Registered = "registered";
    public const string Stats = "stats";
    public const string AddConsumer = "add_consumer";
    public const string CancelConsumer = "cancel_consumer";
    public const string Grow = "pool_grow";
    public const string Shrink = "pool_shrink";
    public const string Shutdown = "shutdown";
}

/// <summary>
/// The JSON of the registry's records, the commands and the replies (docs/observability.md): written with
/// <see cref="Utf8JsonWriter"/> and read with <see cref="JsonDocument"/>, no reflection, readable with <c>redis-cli</c>.
/// Times are unix milliseconds, durations milliseconds.
/// </summary>
internal static class ControlCodec
{
    public static byte[] EncodeWorker(WorkerInfo worker, long intervalMs)
        => Write(w =>
        {
            w.WriteStartObject();
            w.WriteString("id", worker.Id);
            w.WriteString("host", worker.Host);
            w.WriteNumber("pid", worker.ProcessId);
            w.WriteString("version", worker.Version);
            WriteStrings(w, "queues", worker.Queues);
            w.WriteNumber("concurrency", worker.Concurrency);
            w.WriteNumber("prefetch", worker.Prefetch);
            w.WriteNumber("started", worker.StartedAt.ToUnixTimeMilliseconds());
            w.WriteNumber("heartbeat", worker.LastHeartbeat.ToUnixTimeMilliseconds());
            w.WriteNumber("interval", intervalMs);
            w.WriteNumber("processed", worker.Processed);
            w.WriteNumber("failed", worker.Failed);
            w.WriteNumber("active", worker.Active);
            w.WriteEndObject();
        });

    /// <summary>A registry record; <see langword="null"/> when it is not one (a hand edit): such an entry is not listed.</summary>
    public static WorkerInfo? DecodeWorker(ReadOnlyMemory<byte> record, long expiresAtMs)
    {
        try
        {
            using var document = JsonDocument.Parse(record);
            JsonElement e = document.RootElement;
            return new WorkerInfo
            {
                Id = e.GetProperty("id").GetString()!,
                Host = e.GetProperty("host").GetString()!,
                ProcessId = e.GetProperty("pid").GetInt32(),
                Version = e.GetProperty("version").GetString()!,
                Queues = ReadStrings(e.GetProperty("queues")),
                Concurrency = e.GetProperty("concurrency").GetInt32(),
                Prefetch = e.GetProperty("prefetch").GetInt32(),
                StartedAt = Time(e.GetProperty("started")),
                LastHeartbeat = Time(e.GetProperty("heartbeat")),
                ExpiresAt = DateTimeOffset.FromUnixTimeMilliseconds(expiresAtMs),
                Processed = e.GetProperty("processed").GetInt64(),
                Failed = e.GetProperty("failed").GetInt64(),
                Active = e.GetProperty("active").GetInt32(),
            };
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            return null;
        }
    }

    public static byte[] EncodeCommand(ControlCommand command)
        => Write(w =>
        {
            w.WriteStartObject();
            w.WriteString("id", command.RequestId);
            w.WriteString("cmd", command.Name);
            if (command.Argument is not null)
            {
                w.WriteString("arg", command.Argument);
            }

            w.WriteNumber("n", command.Number);
            w.WriteNumber("deadline", command.DeadlineMs);
            w.WriteEndObject();
        });

    /// <summary>A queued command; <see langword="null"/> when it is not one (the worker drops it).</summary>
    public static ControlCommand? DecodeCommand(ReadOnlyMemory<byte> bytes)
    {
        try
        {
            using var document = JsonDocument.Parse(bytes);
            JsonElement e = document.RootElement;
            return new ControlCommand(
                e.GetProperty("id").GetString()!,
                e.GetProperty("cmd").GetString()!,
                e.TryGetProperty("arg", out JsonElement arg) ? arg.GetString() : null,
                e.TryGetProperty("n", out JsonElement n) ? n.GetInt32() : 0,
                e.GetProperty("deadline").GetInt64());
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            return null;
        }
    }

    /// <summary>A reply: the worker's id and either the data (written by <paramref name="data"/>) or an error.</summary>
    public static byte[] EncodeReply(string worker, string? error, Action<Utf8JsonWriter>? data)
        => Write(w =>
        {
            w.WriteStartObject();
            w.WriteString("worker", worker);
            if (error is not null)
            {
                w.WriteString("error", error);
            }
            else if (data is not null)
            {
                w.WritePropertyName("data");
                data(w);
            }

            w.WriteEndObject();
        });

    /// <summary>A reply; <see langword="null"/> when it cannot be read (it is ignored, and its worker counts as missing).</summary>
    public static WorkerReply<T>? DecodeReply<T>(ReadOnlyMemory<byte> bytes, Func<JsonElement, T> read)
    {
        try
        {
            using var document = JsonDocument.Parse(bytes);
            JsonElement e = document.RootElement;
            string worker = e.GetProperty("worker").GetString()!;
            if (e.TryGetProperty("error", out JsonElement error))
            {
                return new WorkerReply<T> { Worker = worker, Error = error.GetString() ?? "refused" };
            }

            return new WorkerReply<T> { Worker = worker, Value = e.TryGetProperty("data", out JsonElement data) ? read(data) : default };
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            return null;
        }
    }

    public static void WriteActive(Utf8JsonWriter w, IReadOnlyList<ActiveTask> tasks)
    {
        w.WriteStartArray();
        foreach (ActiveTask task in tasks)
        {
            w.WriteStartObject();
            w.WriteString("id", task.TaskId);
            w.WriteString("name", task.TaskName);
            w.WriteString("queue", task.Queue);
            w.WriteNumber("started", task.StartedAt.ToUnixTimeMilliseconds());
            w.WriteNumber("runtime_ms", (long)task.Runtime.TotalMilliseconds);
            w.WriteNumber("delivery_count", task.DeliveryCount);
            w.WriteEndObject();
        }

        w.WriteEndArray();
    }

    public static IReadOnlyList<ActiveTask> ReadActive(JsonElement e)
        => [.. e.EnumerateArray().Select(t => new ActiveTask
        {
            TaskId = t.GetProperty("id").GetString()!,
            TaskName = t.GetProperty("name").GetString(),
            Queue = t.GetProperty("queue").GetString()!,
            StartedAt = Time(t.GetProperty("started")),
            Runtime = TimeSpan.FromMilliseconds(t.GetProperty("runtime_ms").GetInt64()),
            DeliveryCount = t.GetProperty("delivery_count").GetInt32(),
        })];

    public static void WriteReserved(Utf8JsonWriter w, IReadOnlyList<ReservedTask> tasks)
    {
        w.WriteStartArray();
        foreach (ReservedTask task in tasks)
        {
            w.WriteStartObject();
            w.WriteString("id", task.TaskId);
            w.WriteString("name", task.TaskName);
            w.WriteString("queue", task.Queue);
            w.WriteNumber("delivery_count", task.DeliveryCount);
            w.WriteEndObject();
        }

        w.WriteEndArray();
    }

    public static IReadOnlyList<ReservedTask> ReadReserved(JsonElement e)
        => [.. e.EnumerateArray().Select(t => new ReservedTask
        {
            TaskId = t.GetProperty("id").GetString()!,
            TaskName = t.GetProperty("name").GetString(),
            Queue = t.GetProperty("queue").GetString()!,
            DeliveryCount = t.GetProperty("delivery_count").GetInt32(),
        })];

    public static void WriteRegistered(Utf8JsonWriter w, IEnumerable<RegisteredTask> tasks)
    {
        w.WriteStartArray();
        foreach (RegisteredTask task in tasks)
        {
            w.WriteStartObject();
            w.WriteString("name", task.Name);
            w.WriteString("queue", task.Queue);
            w.WriteString("execution", ExecutionName(task.Execution));
            w.WriteEndObject();
        }

        w.WriteEndArray();
    }

    public static IReadOnlyList<RegisteredTask> ReadRegistered(JsonElement e)
        => [.. e.EnumerateArray().Select(t => new RegisteredTask
        {
            Name = t.GetProperty("name").GetString()!,
            Queue = t.GetProperty("queue").GetString()!,
            Execution = t.TryGetProperty("execution", out JsonElement x) && x.GetString() == "cpu" ? TaskExecution.Cpu : TaskExecution.Pool, // absent: a worker before the field
        })];

    /// <summary>The wire name of an execution kind: <c>pool</c> or <c>cpu</c> (docs/cli.md).</summary>
    public static string ExecutionName(TaskExecution execution) => execution == TaskExecution.Cpu ? "cpu" : "pool";

    public static void WriteStats(Utf8JsonWriter w, WorkerStats stats)
    {
        w.WriteStartObject();
        w.WriteString("host", stats.Host);
        w.WriteNumber("pid", stats.ProcessId);
        w.WriteString("version", stats.Version);
        w.WriteString("broker", stats.Broker);
        w.WriteNumber("started", stats.StartedAt.ToUnixTimeMilliseconds());
        w.WriteNumber("uptime_ms", (long)stats.Uptime.TotalMilliseconds);
        WriteStrings(w, "queues", stats.Queues);
        w.WriteNumber("concurrency", stats.Concurrency);
        w.WriteNumber("prefetch", stats.Prefetch);
        w.WriteNumber("processed", stats.Processed);
        w.WriteNumber("failed", stats.Failed);
        w.WriteNumber("active", stats.Active);
        w.WriteNumber("reserved", stats.Reserved);
        w.WriteBoolean("broker_reachable", stats.BrokerReachable);
        if (stats.AutoscaleMin is { } min && stats.AutoscaleMax is { } max)
        {
            w.WriteNumber("autoscale_min", min);
            w.WriteNumber("autoscale_max", max);
        }

        w.WriteEndObject();
    }

    public static WorkerStats ReadStats(JsonElement e) => new()
    {
        Host = e.GetProperty("host").GetString()!,
        ProcessId = e.GetProperty("pid").GetInt32(),
        Version = e.GetProperty("version").GetString()!,
        Broker = e.GetProperty("broker").GetString()!,
        StartedAt = Time(e.GetProperty("started")),
        Uptime = TimeSpan.FromMilliseconds(e.GetProperty("uptime_ms").GetInt64()),
        Queues = ReadStrings(e.GetProperty("queues")),
        Concurrency = e.GetProperty("concurrency").GetInt32(),
        Prefetch = e.GetProperty("prefetch").GetInt32(),
        Processed = e.GetProperty("processed").GetInt64(),
        Failed = e.GetProperty("failed").GetInt64(),
        Active = e.GetProperty("active").GetInt32(),
        Reserved = e.GetProperty("reserved").GetInt32(),
        BrokerReachable = e.GetProperty("broker_reachable").GetBoolean(),
        AutoscaleMin = e.TryGetProperty("autoscale_min", out JsonElement min) ? min.GetInt32() : null,
        AutoscaleMax = e.TryGetProperty("autoscale_max", out JsonElement max) ? max.GetInt32() : null,
    };

    public static string ReadString(JsonElement e) => e.GetString()!;

    public static int ReadInt(JsonElement e) => e.GetInt32();

    private static DateTimeOffset Time(JsonElement e) => DateTimeOffset.FromUnixTimeMilliseconds(e.GetInt64());

    private static void WriteStrings(Utf8JsonWriter w, string name, IReadOnlyList<string> values)
    {
        w.WriteStartArray(name);
        foreach (string value in values)
        {
            w.WriteStringValue(value);
        }

        w.WriteEndArray();
    }

    private static string[] ReadStrings(JsonElement e) => [.. e.EnumerateArray().Select(v => v.GetString()!)];

    private static byte[] Write(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            write(writer);
        }

        return buffer.WrittenSpan.ToArray();
    }
}
