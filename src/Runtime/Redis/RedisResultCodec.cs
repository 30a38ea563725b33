using System.Buffers;
using Celeriac.Brokers;
using MessagePack;

namespace Celeriac.Redis;

/// <summary>
/// Maps a <see cref="TaskResult"/> to its result record and back (docs/protocol.md, "Result record"). The result hash
/// <c>P:{q}:r:&lt;id&gt;</c> holds two fields: <c>state</c> (Celery's name, so that <c>redis-cli HGET … state</c> reads
/// naturally and the scripts can keep final states final) and <c>rec</c>, the whole record as one MessagePack array.
/// </summary>
internal static class RedisResultCodec
{
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

    /// <summary>The hash field that holds the whole record (see <see cref="Write"/>).</summary>
    public const string RecordField = "rec";

    /// <summary>The record layout written by this version; readers accept any version and ignore trailing fields.</summary>
    public const int RecordVersion = 1;

    /// <summary>
    /// Writes the result record of task <paramref name="id"/>: the MessagePack array
    /// <c>[version, id, state, task, retries, date_done (unix ms), worker, value (bin), exc_type, exc_message, traceback]</c>
    /// (absent values are nil). It is stored in the result hash's <c>rec</c> field next to <c>state</c>, and it is the
    /// message published on the sender's reply channel, so a waiter needs no re-read (docs/protocol.md, "Result record").
    /// </summary>
    /// <param name="into">The buffer to append to.</param>
    /// <param name="id">The task id.</param>
    /// <param name="result">The result to write.</param>
    /// <param name="now">The timestamp used when <see cref="TaskResult.Timestamp"/> is not set.</param>
    public static void Write(IBufferWriter<byte> into, string id, TaskResult result, DateTimeOffset now)
        => WriteRecord(into, id, default, result.State, result.TaskName, result.Retries, result.Timestamp ?? now, result.Worker, result.Value, result.Error);

    /// <summary>The record of <see cref="Write"/> for a batched completion's item.</summary>
    /// <param name="into">The buffer to append to.</param>
    /// <param name="item">The outcome.</param>
    /// <param name="now">The timestamp used when the item has none.</param>
    public static void WriteOutcome(IBufferWriter<byte> into, in CompleteItem item, DateTimeOffset now)
        => WriteRecord(into, item.Delivery.IdUtf8.IsEmpty ? item.Delivery.Id : null, item.Delivery.IdUtf8.Span, item.State, item.TaskName, item.Retries, item.Timestamp == default ? now : item.Timestamp, item.Worker, item.Value, item.Error);

    /// <summary>Writes a record; the id is <paramref name="id"/>, or <paramref name="idUtf8"/> when that is <see langword="null"/>.</summary>
    private static void WriteRecord(IBufferWriter<byte> into, string? id, ReadOnlySpan<byte> idUtf8, TaskState state, string? taskName, int retries, DateTimeOffset at, string? worker, ReadOnlyMemory<byte> value, TaskError? error)
    {
        var writer = new MessagePackWriter(into);
        writer.WriteArrayHeader(11);
        writer.Write(RecordVersion);
        if (id is not null)
        {
            writer.Write(id);
        }
        else
        {
            writer.WriteString(idUtf8);
        }

        writer.Write(StateName(state));
        writer.Write(taskName);
        writer.Write(retries);
        writer.Write(at.ToUnixTimeMilliseconds());
        writer.Write(worker);
        if (value.IsEmpty)
        {
            writer.WriteNil();
        }
        else
        {
            writer.Write(value.Span);
        }

        if (error is not null)
        {
            writer.Write(error.Type);
            writer.Write(error.Message);
            writer.Write(error.StackTrace);
        }
        else
        {
            writer.WriteNil();
            writer.WriteNil();
            writer.WriteNil();
        }

        writer.Flush();
    }

    /// <summary>The record of <see cref="Write"/> as a new array (for the single-item, off-hot-path calls).</summary>
    public static byte[] Encode(string id, TaskResult result, DateTimeOffset now)
    {
        var buffer = new ArrayBufferWriter<byte>(128 + result.Value.Length);
        Write(buffer, id, result, now);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Reads only the task id of a record written by <see cref="Write"/> (to skip records nobody waits for).</summary>
    /// <exception cref="MessagePackSerializationException">The bytes are not a result record.</exception>
    public static string? ReadId(ReadOnlyMemory<byte> record)
    {
        var reader = new MessagePackReader(record);
        if (reader.ReadArrayHeader() < 3)
        {
            throw new MessagePackSerializationException("A result record has at least 3 fields.");
        }

        reader.Skip();
        return reader.ReadString();
    }

    /// <summary>Reads a record written by <see cref="Write"/>; <paramref name="id"/> is the task id it carries.</summary>
    /// <exception cref="MessagePackSerializationException">The bytes are not a result record.</exception>
    public static TaskResult Decode(ReadOnlyMemory<byte> record, out string? id)
    {
        var reader = new MessagePackReader(record);
        int count = reader.ReadArrayHeader();
        if (count < 3)
        {
            throw new MessagePackSerializationException($"A result record has at least 3 fields; this one has {count}.");
        }

        _ = reader.ReadInt32(); // version: later versions only append fields
        id = reader.ReadString();
        TaskState state = ParseState(reader.ReadString());
        string? task = count > 3 ? reader.ReadString() : null;
        int retries = count > 4 && !reader.TryReadNil() ? reader.ReadInt32() : 0;
        DateTimeOffset? timestamp = count > 5 && !reader.TryReadNil() ? DateTimeOffset.FromUnixTimeMilliseconds(reader.ReadInt64()) : null;
        string? worker = count > 6 ? reader.ReadString() : null;
        ReadOnlyMemory<byte> value = default;
        if (count > 7 && reader.ReadBytes() is { } bytes)
        {
            value = bytes.IsSingleSegment ? bytes.First : bytes.ToArray();
        }

        string? excType = count > 8 ? reader.ReadString() : null;
        string? excMessage = count > 9 ? reader.ReadString() : null;
        string? traceback = count > 10 ? reader.ReadString() : null;
        return Result(state, value, excType, excMessage, traceback, task, retries, timestamp, worker);
    }

    private static TaskResult Result(TaskState state, ReadOnlyMemory<byte> value, string? excType, string? excMessage, string? traceback, string? task, int retries, DateTimeOffset? timestamp, string? worker) => new()
    {
        State = state,
        Value = value,
        Error = excType is null && excMessage is null ? null : new TaskError(excType ?? string.Empty, excMessage ?? string.Empty, traceback),
        TaskName = task,
        Retries = retries,
        Timestamp = timestamp,
        Worker = worker,
    };
}
