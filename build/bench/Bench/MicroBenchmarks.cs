using System.Buffers;
using BenchmarkDotNet.Attributes;
using Celeriac.Brokers;
using Celeriac.Protocol;
using Celeriac.Redis;
using MessagePack;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace Celeriac.Bench;

/// <summary>The envelope codec (client encode, worker decode).</summary>
[MemoryDiagnoser]
public class EnvelopeBenchmarks
{
    private Envelope _envelope = null!;
    private byte[] _bytes = null!;
    private readonly ArrayBufferWriter<byte> _buffer = new(512);

    /// <summary>With a W3C traceparent header (what tracing will add to every message) or without.</summary>
    [Params(false, true)]
    public bool Headers { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var args = new ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(args);
        W1Tasks.NoopTask.ArgsFormatter.Instance.Serialize(ref writer, new W1Tasks.NoopTask.Args(12345, 678), W1Tasks.NoopTask.Definition.SerializerOptions);
        writer.Flush();
        string id = Guid.NewGuid().ToString();
        _envelope = new Envelope
        {
            Id = id,
            Task = W1Tasks.NoopTask.Name,
            Args = args.WrittenMemory.ToArray(),
            Queue = W1Tasks.QueueName,
            RootId = id,
            CreatedMs = 1_750_000_000_000,
            Headers = Headers ? new Dictionary<string, string>(StringComparer.Ordinal) { ["traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" } : null,
        };
        _bytes = EnvelopeCodec.Encode(_envelope);
    }

    [Benchmark(Description = "Encode (byte[], as the client does)")]
    public byte[] Encode() => EnvelopeCodec.Encode(_envelope);

    [Benchmark(Description = "Write into a reused buffer")]
    public int WriteReused()
    {
        _buffer.ResetWrittenCount();
        EnvelopeCodec.Write(_buffer, _envelope);
        return _buffer.WrittenCount;
    }

    [Benchmark(Description = "Decode (no known strings)")]
    public int Decode() => EnvelopeCodec.Decode(_bytes).Args.Length;

    [Benchmark(Description = "Decode (known id, queue, task name reused)")]
    public int DecodeKnown() => EnvelopeCodec.Decode(_bytes, _envelope.Id, _envelope.Queue, _envelope.Task).Args.Length;

    private readonly Envelope _reused = new() { Id = string.Empty, Task = string.Empty, Args = default, Queue = string.Empty };
    private byte[] _idUtf8 = null!;

    [Benchmark(Description = "Decode as the worker does: into its reused envelope, the id checked against the fetch reply's bytes")]
    public int DecodeReused()
    {
        _idUtf8 ??= System.Text.Encoding.UTF8.GetBytes(_envelope.Id);
        return EnvelopeCodec.Decode(_bytes, null, _envelope.Queue, _envelope.Task, _reused, null, _idUtf8).Args.Length;
    }
}

/// <summary>The generated formatters: a two-int argument list, a record argument, and the record alone through the public API.</summary>
[MemoryDiagnoser]
public class FormatterBenchmarks
{
    private readonly ArrayBufferWriter<byte> _buffer = new(512);
    private byte[] _noopBytes = null!;
    private byte[] _orderBytes = null!;
    private byte[] _orderAloneBytes = null!;
    private W2Tasks.PlaceOrderTask.Args _orderArgs;
    private Order _order = null!;
    private static readonly MessagePackSerializerOptions Options = W1Tasks.NoopTask.Definition.SerializerOptions;

    [GlobalSetup]
    public void Setup()
    {
        _order = new Order("ACME Corporation", 1234.56m, 7, new DateTimeOffset(2025, 1, 31, 12, 0, 0, TimeSpan.Zero), OrderKind.Express, ["priority", "gift", "eu"], null);
        _orderArgs = new W2Tasks.PlaceOrderTask.Args(_order);
        var buffer = new ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(buffer);
        W1Tasks.NoopTask.ArgsFormatter.Instance.Serialize(ref writer, new W1Tasks.NoopTask.Args(12345, 678), Options);
        writer.Flush();
        _noopBytes = buffer.WrittenSpan.ToArray();
        buffer = new ArrayBufferWriter<byte>();
        writer = new MessagePackWriter(buffer);
        W2Tasks.PlaceOrderTask.ArgsFormatter.Instance.Serialize(ref writer, _orderArgs, Options);
        writer.Flush();
        _orderBytes = buffer.WrittenSpan.ToArray();
        _orderAloneBytes = MessagePackSerializer.Serialize(_order, Options);
    }

    [Benchmark(Description = "Args(int,int) serialize, reused buffer")]
    public int NoopArgsSerialize()
    {
        _buffer.ResetWrittenCount();
        var writer = new MessagePackWriter(_buffer);
        W1Tasks.NoopTask.ArgsFormatter.Instance.Serialize(ref writer, new W1Tasks.NoopTask.Args(12345, 678), Options);
        writer.Flush();
        return _buffer.WrittenCount;
    }

    [Benchmark(Description = "Args(int,int) deserialize")]
    public int NoopArgsDeserialize()
    {
        var reader = new MessagePackReader(_noopBytes);
        return W1Tasks.NoopTask.ArgsFormatter.Instance.Deserialize(ref reader, Options).a;
    }

    [Benchmark(Description = "Args(Order record) serialize, reused buffer")]
    public int OrderArgsSerialize()
    {
        _buffer.ResetWrittenCount();
        var writer = new MessagePackWriter(_buffer);
        W2Tasks.PlaceOrderTask.ArgsFormatter.Instance.Serialize(ref writer, _orderArgs, Options);
        writer.Flush();
        return _buffer.WrittenCount;
    }

    [Benchmark(Description = "Args(Order record) deserialize")]
    public int OrderArgsDeserialize()
    {
        var reader = new MessagePackReader(_orderBytes);
        return W2Tasks.PlaceOrderTask.ArgsFormatter.Instance.Deserialize(ref reader, Options).order.Quantity;
    }

    [Benchmark(Description = "Order via MessagePackSerializer.Serialize (byte[])")]
    public byte[] OrderSerializeApi() => MessagePackSerializer.Serialize(_order, Options);

    [Benchmark(Description = "Order via MessagePackSerializer.Deserialize")]
    public int OrderDeserializeApi() => MessagePackSerializer.Deserialize<Order>(_orderAloneBytes, Options).Quantity;
}

/// <summary>
/// The per-task allocation sources on the client and worker paths, each rebuilt here exactly as the runtime builds it
/// today (CeleriacClient.BuildItem, CeleriacWorker.RunAsync, RedisBroker.StartQueueAsync/CompleteQueueAsync,
/// RedisResultCodec.Decode). When the runtime changes, update these to match (or delete the ones that no longer exist).
/// </summary>
[MemoryDiagnoser]
public class HotPathPieceBenchmarks
{
    private static readonly RedisKeys Keys = new("celeriac");
    private static readonly TimeSpan Ttl = TimeSpan.FromDays(1);
    private readonly string _id = Guid.NewGuid().ToString();
    private readonly string _token = "host:1234:abc123:1:deadbeef1";
    private readonly ArrayBufferWriter<byte> _output = new(256);
    private IServiceScopeFactory _scopes = null!;
    private byte[] _payload = null!;
    private byte[] _stored = null!;
    private TaskContext _context = null!;

    [GlobalSetup]
    public void Setup()
    {
        var services = new ServiceCollection();
        services.AddScoped<ScopedTaskTarget>();
        _scopes = services.BuildServiceProvider().GetRequiredService<IServiceScopeFactory>();
        _payload = [0x92, 0xcd, 0x30, 0x39, 0xcd, 0x02, 0xa6];
        _context = new TaskContext { TaskId = _id, TaskName = W2Tasks.AddTask.Name };
        _stored = RedisResultCodec.Encode(_id, Success(), DateTimeOffset.UtcNow);
    }

    private TaskResult Success() => new()
    {
        State = TaskState.Success, Value = new byte[] { 0x2a }, TaskName = W1Tasks.NoopTask.Name, Retries = 0, Timestamp = DateTimeOffset.UtcNow, Worker = "host:1234:abc123",
    };

    private const string IdPrefix = "0123abcd-4567-89ef-";
    private const string ReplyTo = "celeriac:reply:0123abcd456789ef";
    private ulong _sequence;

    [Benchmark(Description = "client: new task id (Guid.ToString, before)")]
    public string NewGuidId() => Guid.NewGuid().ToString();

    [Benchmark(Description = "client: new task id (client id + counter, RedisBroker.NewTaskId)")]
    public string NewId() => RedisBroker.FormatTaskId(IdPrefix, ++_sequence);

    [Benchmark(Description = "client: BuildItem (args + envelope + id)")]
    public int ClientBuildItem()
    {
        // CeleriacClient.BuildItem, minus option handling.
        var argsBuffer = new ArrayBufferWriter<byte>(64);
        var writer = new MessagePackWriter(argsBuffer);
        W1Tasks.NoopTask.ArgsFormatter.Instance.Serialize(ref writer, new W1Tasks.NoopTask.Args(1, 2), W1Tasks.NoopTask.Definition.SerializerOptions);
        writer.Flush();
        string id = RedisBroker.FormatTaskId(IdPrefix, ++_sequence);
        var envelope = new Envelope { Id = id, Task = W1Tasks.NoopTask.Name, Args = argsBuffer.WrittenMemory, Queue = W1Tasks.QueueName, RootId = id, CreatedMs = 1_750_000_000_000, ReplyTo = ReplyTo };
        return EnvelopeCodec.Encode(envelope).Length;
    }

    [Benchmark(Description = "client: enqueue script keys + args")]
    public int EnqueueArgs()
    {
        // RedisBroker.EnqueueAsync, per item: 4 keys (string concatenations) and 4 values.
        RedisKey[] keys = [Keys.Task(W1Tasks.QueueName, _id), Keys.Pending(W1Tasks.QueueName), Keys.Scheduled(W1Tasks.QueueName), Keys.Notify(W1Tasks.QueueName)];
        RedisValue[] values = [_id, _payload, 0, 1_750_000_000_000];
        return keys.Length + values.Length;
    }

    private readonly RedisValue[] _batchArgs = new RedisValue[3 + (64 * 5)];
    private readonly ArrayBufferWriter<byte> _records = new(64 * 160);

    [Benchmark(Description = "worker: STARTED args per item of a StartMany batch")]
    public int StartedArgs()
    {
        // CeleriacWorker.RunAsync (TrackStarted) + RedisBroker.StartQueueAsync, one item (the arrays are per batch).
        var state = new TaskResult { State = TaskState.Started, TaskName = W1Tasks.NoopTask.Name, Retries = 0, Timestamp = DateTimeOffset.UtcNow, Worker = "host:1234:abc123" };
        _records.ResetWrittenCount();
        _batchArgs[3] = _id;
        _batchArgs[4] = _token;
        _batchArgs[5] = RedisResultCodec.StateName(state.State);
        RedisResultCodec.Write(_records, _id, state, DateTimeOffset.UtcNow);
        _batchArgs[6] = _records.WrittenMemory;
        return _records.WrittenCount;
    }

    [Benchmark(Description = "worker: DI scope + resolve instance task")]
    public async ValueTask<int> Scope()
    {
        await using AsyncServiceScope scope = _scopes.CreateAsyncScope();
        return scope.ServiceProvider.GetRequiredService<ScopedTaskTarget>().Value;
    }

    [Benchmark(Description = "worker: TaskContext + invoke Add + result ToArray")]
    public async ValueTask<int> Invoke()
    {
        var context = new TaskContext { TaskId = _id, TaskName = W2Tasks.AddTask.Name, Queue = W2Tasks.QueueName, Retries = 0, DeliveryCount = 1, RootId = _id, CancellationToken = CancellationToken.None };
        _output.ResetWrittenCount();
        await W2Tasks.AddTask.InvokeAsync(_payload, context, _output);
        return _output.WrittenMemory.ToArray().Length;
    }

    [Benchmark(Description = "worker: complete args per item of a CompleteMany batch (TaskResult + record)")]
    public int CompleteArgs()
    {
        // CeleriacWorker.RunAsync (TaskResult) + RedisBroker.CompleteQueueAsync, one item (the arrays are per batch).
        TaskResult result = Success();
        _records.ResetWrittenCount();
        _batchArgs[4] = _id;
        _batchArgs[5] = _token;
        _batchArgs[6] = ReplyTo;
        _batchArgs[7] = RedisResultCodec.StateName(result.State);
        RedisResultCodec.Write(_records, _id, result, DateTimeOffset.UtcNow);
        _batchArgs[8] = _records.WrittenMemory;
        return _records.WrittenCount;
    }

    private TaskContext? _reusedContext;
    private readonly Delivery _delivery = new() { Id = "d", Queue = "q", Envelope = default, DeliveryCount = 1, LeaseToken = "t" };

    [Benchmark(Description = "worker now: invoke Add with the consumer's reused context into its reused buffer")]
    public async ValueTask<int> InvokeReused()
    {
        _reusedContext ??= new TaskContext { TaskId = string.Empty, TaskName = string.Empty, CancellationToken = CancellationToken.None };
        _output.ResetWrittenCount();
        await W2Tasks.AddTask.InvokeAsync(_payload, _reusedContext, _output);
        return _output.WrittenCount;
    }

    [Benchmark(Description = "worker now: complete item per task (CompleteItem.Success + record into the call's reused buffer)")]
    public int CompleteItemNow()
    {
        CompleteItem item = CompleteItem.Success(_delivery, _output.WrittenMemory, W2Tasks.AddTask.Name, 0, DateTimeOffset.UtcNow, "host:1234:abc123");
        _records.ResetWrittenCount();
        _batchArgs[7] = RedisResultCodec.StateName(item.State);
        RedisResultCodec.WriteOutcome(_records, item, DateTimeOffset.UtcNow);
        return _records.WrittenCount;
    }

    [Benchmark(Description = "client: read a result record (RedisResultCodec.Decode)")]
    public int ReadResult() => RedisResultCodec.Decode(_stored, out _).Value.Length;

    public sealed class ScopedTaskTarget
    {
        public int Value => 1;
    }
}
