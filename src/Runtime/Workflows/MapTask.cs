using System.Buffers;
using MessagePack;
using MessagePack.Formatters;

namespace Celeriac.Workflows;

/// <summary>
/// The built-in task behind <see cref="Workflow.Map{T}"/> and <see cref="Workflow.Chunks{T}"/> (Celery's <c>map</c>,
/// <c>starmap</c> and <c>chunks</c>): one message that runs many calls, one after the other, in the worker that takes
/// it, and returns their results as one array in call order. Every worker has it; it runs the calls through the same
/// generated invokers as their own messages would, with the map's context (its id, its cancellation token, its scope).
/// </summary>
internal static class MapTask
{
    /// <summary>The built-in task's wire name.</summary>
    public const string Name = "celeriac.map";

    /// <summary>The map's registration for a worker whose tasks are <paramref name="catalog"/>: it needs everything a call may need.</summary>
    public static TaskRegistration For(TaskCatalog catalog)
        => new(Name, "default", (args, context, result) => InvokeAsync(catalog, args, context, result), needs: TaskNeeds.All);

    /// <summary>The definition a map's signature is created with: its queue is the calls' queue.</summary>
    public static TaskDefinition<Calls> Definition(string queue, int priority, MessagePackSerializerOptions options) => new(Name, queue, priority, CallsFormatter.Instance, options);

    // Arguments: [[task name, argument list], ...] — each argument list as its task's formatter wrote it.
    // Result: [result 0, result 1, ...] — each result as its task's invoker wrote it.
    private static async ValueTask InvokeAsync(TaskCatalog catalog, ReadOnlyMemory<byte> args, TaskContext context, IBufferWriter<byte> result)
    {
        (string Name, ReadOnlyMemory<byte> Args)[] calls;
        try
        {
            calls = Read(args);
        }
        catch (Exception ex) when (ex is MessagePackSerializationException or EndOfStreamException or InvalidOperationException)
        {
            throw new TaskPayloadException(Name, ex);
        }

        var writer = new MessagePackWriter(result);
        writer.WriteArrayHeader(calls.Length);
        writer.Flush();
        var one = new ArrayBufferWriter<byte>(64);
        for (int i = 0; i < calls.Length; i++)
        {
            if (!catalog.TryGet(calls[i].Name, out TaskRegistration? registration))
            {
                throw new InvalidOperationException($"Call {i} of the map is task '{calls[i].Name}', which this worker does not have.");
            }

            one.ResetWrittenCount();
            await registration.Invoker(calls[i].Args, context, one).ConfigureAwait(false);
            result.Write(one.WrittenSpan);
        }
    }

    private static (string Name, ReadOnlyMemory<byte> Args)[] Read(ReadOnlyMemory<byte> args)
    {
        var reader = new MessagePackReader(args);
        int outer = reader.ReadArrayHeader();
        if (outer != 1)
        {
            throw new MessagePackSerializationException($"Task '{Name}' takes 1 argument, the message has {outer}.");
        }

        var calls = new (string, ReadOnlyMemory<byte>)[reader.ReadArrayHeader()];
        for (int i = 0; i < calls.Length; i++)
        {
            if (reader.ReadArrayHeader() != 2)
            {
                throw new MessagePackSerializationException($"Call {i} of the map is not a (task, arguments) pair.");
            }

            string name = reader.ReadString() ?? throw new MessagePackSerializationException($"Call {i} of the map has no task name.");
            long start = reader.Consumed;
            reader.Skip();
            calls[i] = (name, args.Slice((int)start, (int)(reader.Consumed - start)));
        }

        return calls;
    }

    /// <summary>A map's calls: each one's task name and encoded argument list.</summary>
    internal readonly record struct Calls(IReadOnlyList<(string Name, ReadOnlyMemory<byte> Args)> Items);

    /// <summary>Writes a map's argument list: one argument, the calls.</summary>
    internal sealed class CallsFormatter : IMessagePackFormatter<Calls>
    {
        public static readonly CallsFormatter Instance = new();

        public void Serialize(ref MessagePackWriter writer, Calls value, MessagePackSerializerOptions options)
        {
            writer.WriteArrayHeader(1);
            writer.WriteArrayHeader(value.Items.Count);
            foreach ((string name, ReadOnlyMemory<byte> args) in value.Items)
            {
                writer.WriteArrayHeader(2);
                writer.Write(name);
                writer.WriteRaw(args.Span);
            }
        }

        public Calls Deserialize(ref MessagePackReader reader, MessagePackSerializerOptions options)
            => throw new NotSupportedException("A map's calls are read by the worker's built-in task, not deserialized.");
    }
}
