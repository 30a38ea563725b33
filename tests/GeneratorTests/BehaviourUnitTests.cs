using System.Buffers;
using System.Collections;
using System.Reflection;
using System.Runtime.Loader;
using Celeriac.GeneratorTests.Infrastructure;
using MessagePack;

namespace Celeriac.GeneratorTests;

/// <summary>Loads generated code and runs it: arguments through the generated formatters and invokers, results back through handles.</summary>
public sealed class BehaviourUnitTests
{
    private const string Probes = """
        namespace Samples.Tasks
        {
            public sealed class FakeMailer : IMailer
            {
                public Letter? Last { get; private set; }
                public Task<bool> SendAsync(Letter letter, CancellationToken ct) { Last = letter; return Task.FromResult(true); }
            }

            public sealed class Services(FakeMailer mailer) : IServiceProvider
            {
                public object? GetService(Type serviceType) => serviceType == typeof(MailTasks) ? new MailTasks(mailer) : null;
            }
        }
        """;

    private const string PayloadProbe = """
        namespace Samples.Payloads
        {
            public static class Probe
            {
                public static Shipment Sample()
                {
                    var customer = new Customer { Id = new Guid("6f9619ff-8b86-d011-b42d-00c04fc964ff"), Name = "Ada", Email = "ada@example.com", Referrals = [new Customer { Email = "bob@example.com" }] };
                    return new Shipment(
                        [new Point(1, 2), new Point(3, 4)],
                        new Dictionary<string, Point> { ["a"] = new Point(5, 6) },
                        new Dictionary<Color, int> { [Color.Green] = 7 },
                        ["x", "y"],
                        [new Size { Width = 8, Height = 9 }],
                        [10, 11],
                        ["n1", null],
                        [Access.Read | Access.Write],
                        new Dictionary<int, List<Color?>> { [1] = [Color.Red, null] },
                        new Point(12, 13),
                        Color.Green,
                        new DateTime(2024, 1, 2, 3, 4, 5, DateTimeKind.Utc),
                        TimeSpan.FromMinutes(90),
                        new Uri("https://example.com/x"),
                        new Version(1, 2, 3),
                        System.Numerics.BigInteger.Parse("123456789012345678901234567890"),
                        'z',
                        customer,
                        new Node("head", new Node("tail", null)));
                }
            }
        }
        """;

    [Fact]
    public async Task StaticTaskRoundTripsArgumentsAndResult()
    {
        using var loaded = LoadedAssembly.Create(TestSources.Shape, Probes);
        var client = new RecordingClient();

        var handle = await loaded.Delay<TaskHandle<int>>("Samples.Tasks.MathTasks+AddTask", client, 4, 5);
        Assert.Equal("Samples.Tasks.MathTasks.Add", client.LastTaskName);

        Assert.Equal([0x92, 0x04, 0x05], client.LastPayload); // the argument list: array of 2, fixints 4 and 5

        TaskRegistration registration = loaded.Registration("Samples.Tasks.MathTasks.Add");
        byte[] result = await Invoke(registration, new byte[] { 0x92, 0x04, 0x05 }, services: null);
        Assert.Equal([0x09], result);

        client.Complete(handle.Id, result);
        Assert.Equal(9, await handle.GetAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task VoidTaskWritesNilAndReturnsPlainHandle()
    {
        using var loaded = LoadedAssembly.Create(TestSources.Shape, Probes);
        var client = new RecordingClient();

        TaskHandle handle = await loaded.Delay<TaskHandle>("Samples.Tasks.MathTasks+LogTask", client, "hello");
        Assert.Equal("math.log", client.LastTaskName);
        Assert.Equal("id-1", handle.Id);

        byte[] result = await Invoke(loaded.Registration("math.log"), client.LastPayload, services: null);
        Assert.Equal([0xc0], result);
    }

    [Fact]
    public async Task InstanceTaskResolvesTargetFromServicesAndRoundTripsRecord()
    {
        using var loaded = LoadedAssembly.Create(TestSources.Shape, Probes);
        var client = new RecordingClient();
        Type letterType = loaded.Type("Samples.Tasks.Letter");
        object high = Enum.ToObject(loaded.Type("Samples.Tasks.Urgency"), 1);
        object letter = Activator.CreateInstance(letterType, "ada@example.com", "Hello", new List<string> { "line 1", "line 2" }, high, (int?)3)!;

        await loaded.Delay<TaskHandle<bool>>("Samples.Tasks.MailTasks+SendTask", client, letter);
        byte[] payload =
        [
            0x91, 0x95,                                             // the argument list [letter]; Letter: array of 5 members
            0xaf, .. "ada@example.com"u8, 0xa5, .. "Hello"u8,       // To, Subject
            0x92, 0xa6, .. "line 1"u8, 0xa6, .. "line 2"u8,         // Lines
            0x01,                                                   // Urgency High (an int enum as its number)
            0x03,                                                   // Copies 3
        ];
        Assert.Equal(Convert.ToHexString(payload), Convert.ToHexString(client.LastPayload));

        object mailer = Activator.CreateInstance(loaded.Type("Samples.Tasks.FakeMailer"))!;
        var services = (IServiceProvider)Activator.CreateInstance(loaded.Type("Samples.Tasks.Services"), mailer)!;
        TaskRegistration registration = loaded.Registration("Samples.Tasks.MailTasks.Send");
        Assert.NotNull(registration.ConfigureServices);
        byte[] result = await Invoke(registration, payload, services);

        Assert.Equal([0xc3], result); // true
        object received = mailer.GetType().GetProperty("Last")!.GetValue(mailer)!;
        Assert.Equal("ada@example.com", Get(received, "To"));
        Assert.Equal("Hello", Get(received, "Subject"));
        Assert.Equal(["line 1", "line 2"], ((IEnumerable)Get(received, "Lines")!).Cast<string>());
        Assert.Equal(high, Get(received, "Urgency"));
        Assert.Equal(3, Get(received, "Copies"));
    }

    [Fact]
    public async Task InstanceTaskWithoutServicesFailsClearly()
    {
        using var loaded = LoadedAssembly.Create(TestSources.Shape, Probes);
        var client = new RecordingClient();
        object letter = Activator.CreateInstance(loaded.Type("Samples.Tasks.Letter"), "a", "b", new List<string>(), Enum.ToObject(loaded.Type("Samples.Tasks.Urgency"), 0), null)!;
        await loaded.Delay<TaskHandle<bool>>("Samples.Tasks.MailTasks+SendTask", client, letter);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => Invoke(loaded.Registration("Samples.Tasks.MailTasks.Send"), client.LastPayload, services: null));
        Assert.Contains("TaskContext.Services", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BadPayloadThrowsTaskPayloadException()
    {
        using var loaded = LoadedAssembly.Create(TestSources.Shape, Probes);
        TaskRegistration add = loaded.Registration("Samples.Tasks.MathTasks.Add");

        // One argument where two are expected; then a nil where a non-nullable string is expected.
        var wrongCount = await Assert.ThrowsAsync<TaskPayloadException>(() => Invoke(add, new byte[] { 0x91, 0x01 }, services: null));
        Assert.Contains("takes 2 arguments", wrongCount.Message, StringComparison.Ordinal);
        var nullArgument = await Assert.ThrowsAsync<TaskPayloadException>(() => Invoke(loaded.Registration("math.log"), new byte[] { 0x91, 0xc0 }, services: null));
        Assert.Contains("is null but is not nullable", nullArgument.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ModuleInitializerRegistersTasksInGlobalCatalog()
    {
        using var loaded = LoadedAssembly.Create(TestSources.Shape, Probes);
        _ = loaded.Type("Samples.Tasks.MathTasks+AddTask").GetField("Name")!.GetValue(null);
        System.Runtime.CompilerServices.RuntimeHelpers.RunModuleConstructor(loaded.Assembly.ManifestModule.ModuleHandle);
        Assert.True(TaskCatalog.Global.TryGet("math.log", out _));
        Assert.NotNull(loaded.Assembly.GetCustomAttribute<TaskAssemblyAttribute>());
    }

    [Fact]
    public async Task ComplexPayloadIsWrittenAndReadAsTheHandWrittenBytes()
    {
        using var loaded = LoadedAssembly.Create(TestSources.Payloads, PayloadProbe);
        var client = new RecordingClient();
        object sample = loaded.Type("Samples.Payloads.Probe").GetMethod("Sample")!.Invoke(null, null)!;
        object size = Activator.CreateInstance(loaded.Type("Samples.Payloads.Size"))!;
        Array extra = Array.CreateInstance(loaded.Type("Samples.Payloads.Point"), 0);

        await loaded.Delay<object>("Samples.Payloads.Shipping+ShipTask", client, sample, extra, new List<int> { 1, 2 }, Enum.ToObject(loaded.Type("Samples.Payloads.Access"), 2L), size);
        byte[] args = [0x95, .. SampleShipment, 0x90, 0x92, 0x01, 0x02, 0x02, 0x92, 0x00, 0x00]; // shipment, extra [], ids [1, 2], access Write, size (0, 0)
        Assert.Equal(Convert.ToHexString(args), Convert.ToHexString(client.LastPayload));

        // The worker's side reads the hand-written bytes (not what the client wrote), and the task returns its argument.
        byte[] result = await Invoke(loaded.Registration("Samples.Payloads.Shipping.Ship"), args, services: null);
        Assert.Equal(Convert.ToHexString(SampleShipment), Convert.ToHexString(result));
    }

    /// <summary>
    /// <c>Probe.Sample()</c> as MessagePack, written out by hand: a user type is an array of its members in declaration
    /// order (docs/stubs.md), built-in types as MessagePack's own formatters write them.
    /// </summary>
    private static readonly byte[] SampleShipment =
    [
        0xdc, 0x00, 0x13,                                           // Shipment: array 16 of 19 members
        0x92, 0x92, 0x01, 0x02, 0x92, 0x03, 0x04,                   // Route [(1, 2), (3, 4)]
        0x81, 0xa1, (byte)'a', 0x92, 0x05, 0x06,                    // Stops {"a": (5, 6)}
        0x81, 0x01, 0x07,                                           // Counts {Green: 7} (a byte enum as its number)
        0x92, 0xa1, (byte)'x', 0xa1, (byte)'y',                     // Tags {"x", "y"}
        0x91, 0x92, 0x08, 0x09,                                     // Boxes [Size(8, 9)]
        0x92, 0x0a, 0x0b,                                           // Codes [10, 11]
        0x92, 0xa2, (byte)'n', (byte)'1', 0xc0,                     // Notes ["n1", null]
        0x91, 0x03,                                                 // Accesses [Read | Write]
        0x81, 0x01, 0x92, 0x00, 0xc0,                               // Nested {1: [Red, null]}
        0x92, 0x0c, 0x0d,                                           // Origin (12, 13)
        0x01,                                                       // Paint Green
        0xd6, 0xff, 0x65, 0x93, 0x7d, 0x25,                         // When 2024-01-02T03:04:05Z: timestamp 32 (1,704,164,645 s)
        0xcf, 0x00, 0x00, 0x00, 0x0c, 0x92, 0xa6, 0x9c, 0x00,       // Duration 90 min: 54,000,000,000 ticks (uint 64)
        0xb5, .. "https://example.com/x"u8,                         // Link
        0xa5, .. "1.2.3"u8,                                         // Version
        0xc4, 0x0d, 0xd2, 0x0a, 0x3f, 0x4e, 0xee, 0xe0, 0x73,       // Big: bin 8 of 13 bytes, two's complement little-endian
        0xc3, 0xf6, 0x0f, 0xe9, 0x8e, 0x01,
        0x7a,                                                       // Letter 'z'
        0x94,                                                       // Customer: Id, Name, Email, Referrals (Display is computed)
        0xd9, 0x24, .. "6f9619ff-8b86-d011-b42d-00c04fc964ff"u8,
        0xa3, .. "Ada"u8,
        0xaf, .. "ada@example.com"u8,
        0x91, 0x94, 0xd9, 0x24, .. "00000000-0000-0000-0000-000000000000"u8, 0xa0, 0xaf, .. "bob@example.com"u8, 0xc0,
        0x92, 0xa4, .. "head"u8, 0x92, 0xa4, .. "tail"u8, 0xc0,     // Head: Node("head", Node("tail", null))
    ];

    [Fact]
    public void PolicyIsParsedAtCompileTimeIntoTheRegistration()
    {
        using var loaded = LoadedAssembly.CreateNamed("Samples.Policy", TestSources.Policy);
        TaskPolicy policy = loaded.Registration("Samples.Policy.Jobs.Everything").Policy;
        Assert.Equal(5, policy.MaxRetries);
        Assert.Equal(TimeSpan.FromMilliseconds(500), policy.RetryBackoff);
        Assert.Equal(TimeSpan.FromSeconds(90), policy.RetryBackoffMax);
        Assert.False(policy.RetryJitter);
        Assert.True(policy.DeadLetterOnFailure);
        Assert.Equal(TimeSpan.FromHours(1), policy.TimeLimit);
        Assert.Equal(TimeSpan.FromMilliseconds(2500), policy.SoftTimeLimit);

        Func<Exception, bool> shouldRetry = policy.ShouldRetry!;
        Assert.True(shouldRetry((Exception)Activator.CreateInstance(loaded.Type("Samples.Policy.TransientException"), "x")!));
        Assert.True(shouldRetry(new TimeoutException()));
        Assert.False(shouldRetry((Exception)Activator.CreateInstance(loaded.Type("Samples.Policy.FatalException"), "x")!));
        Assert.False(shouldRetry(new InvalidOperationException()));

        Func<Exception, bool> onlyDont = loaded.Registration("Samples.Policy.Jobs.OnlyDont").Policy.ShouldRetry!;
        Assert.True(onlyDont(new InvalidOperationException()));
        Assert.False(onlyDont((Exception)Activator.CreateInstance(loaded.Type("Samples.Policy.FatalException"), "x")!));

        Assert.Equal(TimeSpan.Zero, loaded.Registration("Samples.Policy.Jobs.OnlyRetryOn").Policy.RetryBackoff);
        Assert.Same(TaskPolicy.Default, loaded.Registration("Samples.Policy.Jobs.ExplicitDefaults").Policy);
    }

    [Fact]
    public async Task DelayManySendsOneBulkRequestAndReturnsTypedHandles()
    {
        using var loaded = LoadedAssembly.Create(TestSources.Shape, Probes);
        var client = new RecordingClient();

        MethodInfo many = loaded.Type("Samples.Tasks.MathTasks+AddTask").GetMethod("DelayManyAsync")!;
        object calls = new List<(int, int)> { (1, 2), (3, 4), (5, 6) };
        object pending = many.Invoke(null, [client, calls, CancellationToken.None])!;
        var task = (Task)pending.GetType().GetMethod("AsTask")!.Invoke(pending, null)!;
        await task;
        var handles = (TaskHandle<int>[])task.GetType().GetProperty("Result")!.GetValue(task)!;

        Assert.Equal(["id-1", "id-2", "id-3"], handles.Select(h => h.Id));
        Assert.Equal(1, client.BulkCalls);
        byte[] result = await Invoke(loaded.Registration("Samples.Tasks.MathTasks.Add"), client.LastPayload, services: null);
        Assert.Equal([0x0b], result); // 5 + 6, the last call of the bulk send
    }

    private static object? Get(object target, string property) => target.GetType().GetProperty(property)!.GetValue(target);

    private static async Task<byte[]> Invoke(TaskRegistration registration, ReadOnlyMemory<byte> payload, IServiceProvider? services)
    {
        var output = new ArrayBufferWriter<byte>();
        var context = new TaskContext { TaskId = "id-1", TaskName = registration.Name, Services = services };
        await registration.Invoker(payload, context, output);
        return output.WrittenSpan.ToArray();
    }

    private sealed class LoadedAssembly : IDisposable
    {
        private readonly AssemblyLoadContext _context;

        private LoadedAssembly(Assembly assembly, AssemblyLoadContext context)
        {
            Assembly = assembly;
            _context = context;
        }

        public Assembly Assembly { get; }

        public static LoadedAssembly Create(params string[] sources) => CreateNamed("Samples.Tasks", sources);

        // The global catalog adds an assembly once per name: tests that run module initializers need distinct names.
        public static LoadedAssembly CreateNamed(string assemblyName, params string[] sources)
        {
            GeneratorRun run = GeneratorHarness.Run(GeneratorHarness.CreateCompilation(sources, assemblyName));
            run.AssertCompilesCleanly();
            Assembly assembly = GeneratorHarness.Load(run.Output, out AssemblyLoadContext context);
            return new LoadedAssembly(assembly, context);
        }

        public Type Type(string name) => Assembly.GetType(name, throwOnError: true)!;

        public TaskRegistration Registration(string taskName)
        {
            var catalog = new TaskCatalog();
            Type registry = Assembly.GetTypes().Single(t => t.Name == "TaskRegistry");
            registry.GetMethod("Register")!.Invoke(null, [catalog]);
            Assert.True(catalog.TryGet(taskName, out TaskRegistration? registration), "Not registered: " + taskName);
            return registration;
        }

        public async Task<T> Delay<T>(string taskClass, ITaskClient client, params object?[] args)
        {
            MethodInfo delay = Type(taskClass).GetMethod("DelayAsync")!;
            object?[] all = [client, .. args, CancellationToken.None];
            object pending = delay.Invoke(null, all)!;

            // ValueTask<TaskHandle<X>>: await through AsTask() to stay generic over X.
            var task = (Task)pending.GetType().GetMethod("AsTask")!.Invoke(pending, null)!;
            await task;
            return (T)task.GetType().GetProperty("Result")!.GetValue(task)!;
        }

        public void Dispose() => _context.Unload();
    }

    private sealed class RecordingClient : ITaskClient
    {
        private readonly Dictionary<string, TaskResult> _results = new();
        private int _next;

        public string? LastTaskName { get; private set; }

        public byte[] LastPayload { get; private set; } = [];

        public int BulkCalls { get; private set; }

        public ValueTask<string> SendAsync<TArgs>(TaskDefinition<TArgs> task, TArgs args, TaskOptions? options, CancellationToken cancellationToken)
        {
            var buffer = new ArrayBufferWriter<byte>();
            var writer = new MessagePackWriter(buffer);
            task.ArgsFormatter.Serialize(ref writer, args, task.SerializerOptions);
            writer.Flush();
            LastTaskName = task.Name;
            LastPayload = buffer.WrittenSpan.ToArray();
            return new("id-" + (++_next).ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        public async ValueTask<string[]> SendManyAsync<TArgs>(TaskDefinition<TArgs> task, IReadOnlyList<TArgs> argsList, TaskOptions? options, CancellationToken cancellationToken)
        {
            BulkCalls++;
            var ids = new string[argsList.Count];
            for (int i = 0; i < ids.Length; i++)
            {
                ids[i] = await SendAsync(task, argsList[i], options, cancellationToken);
            }

            return ids;
        }

        public void Complete(string taskId, byte[] value) => _results[taskId] = new TaskResult { State = TaskState.Success, Value = value };

        public ValueTask<TaskResult> GetResultAsync(string taskId, CancellationToken cancellationToken)
            => new(_results.TryGetValue(taskId, out TaskResult? result) ? result : TaskResult.Pending);

        public ValueTask<TaskResult> WaitAsync(string taskId, TimeSpan timeout, CancellationToken cancellationToken) => GetResultAsync(taskId, cancellationToken);

        public Task RevokeAsync(string taskId, TimeSpan? keepFor, CancellationToken cancellationToken)
        {
            _results[taskId] = new TaskResult { State = TaskState.Revoked };
            return Task.CompletedTask;
        }

        public ValueTask<TaskResult> GetResultAsync(string taskId, string? queue, CancellationToken cancellationToken) => GetResultAsync(taskId, cancellationToken);

        public ValueTask<TaskResult> WaitAsync(string taskId, string? queue, TimeSpan timeout, CancellationToken cancellationToken) => GetResultAsync(taskId, cancellationToken);
    }
}
