using Celeriac.Brokers;
using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.Protocol;
using Celeriac.Redis;
using Celeriac.TestTasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using StackExchange.Redis;

namespace Celeriac.IntegrationTests;

/// <summary>
/// Messages a worker cannot run, pushed straight into the broker next to valid tasks: the worker keeps running, the
/// valid tasks complete, and every bad message is dead-lettered with the right reason. Run on Redis
/// (<see cref="BadInputTests"/>) and on the in-process broker (<see cref="BadInputUnitTests"/>): both decode, refuse
/// and record the same way.
/// </summary>
public abstract class BadInputContract(ITestOutputHelper output) : IAsyncLifetime
{
    /// <summary>The Redis to use, or <see langword="null"/> for the in-process broker.</summary>
    private protected abstract string? Redis { get; }

    private const int MaxMessageBytes = 2048;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private readonly List<IHost> _hosts = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => TestHost.StopAllAsync(_hosts);

    [Fact]
    public async Task Bad_messages_are_dead_lettered_with_their_reason_and_the_worker_keeps_running()
    {
        string prefix = RedisFixture.NewPrefix();
        IHost host = await TestHost.StartAsync(output, "worker", Redis, prefix, new MemoryLedger(), o => o.MaxMessageBytes = MaxMessageBytes);
        _hosts.Add(host);
        ITaskClient client = host.Services.GetRequiredService<ITaskClient>();
        ITaskBroker broker = await host.Services.GetRequiredService<BrokerProvider>().GetAsync(default);
        const string queue = "default";

        byte[] valid = Envelope("probe", Calc.AddTask.Name, [0x92, 0x01, 0x02]);
        var random = new byte[64];
        new Random(20260101).NextBytes(random);
        byte[] truncated = Envelope("truncated", Calc.AddTask.Name, [0x92, 0x01, 0x02])[..20];
        byte[] version99 = Envelope("v99", Calc.AddTask.Name, [0x92, 0x01, 0x02]);
        Assert.Equal(EnvelopeCodec.Version, version99[1]); // [fixarray 13][fixint version]...
        version99[1] = 99;
        byte[] unknown = Envelope("unknown", "Celeriac.TestTasks.NoSuchTask", [0x90]);
        byte[] oversized = Envelope("oversized", Calc.AddTask.Name, [0x92, 0x01, 0x02, .. new byte[MaxMessageBytes]]);
        output.WriteLine($"valid envelope {valid.Length} bytes; random {random.Length}; truncated {truncated.Length}; v99 {version99.Length}; unknown-task {unknown.Length}; oversized {oversized.Length} (limit {MaxMessageBytes})");

        TaskHandle<int> before = await Calc.AddTask.DelayAsync(client, 1, 2);
        await broker.EnqueueAsync(
        [
            new EnqueueItem("random", queue, random, 0),
            new EnqueueItem("truncated", queue, truncated, 0),
            new EnqueueItem("v99", queue, version99, 0),
            new EnqueueItem("unknown", queue, unknown, 0),
            new EnqueueItem("oversized", queue, oversized, 0),
        ], default);
        TaskHandle<int> after = await Calc.AddTask.DelayAsync(client, 3, 4);

        // A client waiting on the unknown task, or on a message whose envelope cannot be read, gets a failure, not a timeout.
        TaskFailedException unknownFailure = await Assert.ThrowsAsync<TaskFailedException>(() => new TaskHandle(client, "unknown").WaitAsync(Timeout));
        output.WriteLine($"waiting on 'unknown': {unknownFailure.Message}");
        foreach ((string id, string type) in (ValueTuple<string, string>[])[("truncated", "Celeriac.UndecodableMessage"), ("v99", "Celeriac.UnsupportedVersion")])
        {
            TaskFailedException failure = await Assert.ThrowsAsync<TaskFailedException>(() => new TaskHandle(client, id).WaitAsync(Timeout));
            output.WriteLine($"waiting on '{id}': {failure.RemoteType}: {failure.RemoteMessage}");
            Assert.Equal(type, failure.RemoteType);
        }

        Assert.Equal(3, await before.GetAsync(Timeout));
        Assert.Equal(7, await after.GetAsync(Timeout));

        var expected = new Dictionary<string, string>
        {
            ["random"] = "undecodable",
            ["truncated"] = "undecodable",
            ["v99"] = "unsupported-version",
            ["unknown"] = "unknown-task",
            ["oversized"] = "oversized",
        };
        IReadOnlyList<DeadLetter> letters = [];
        try
        {
            await Wait.UntilAsync(async () => (letters = await broker.GetDeadLettersAsync(queue, 100, default)).Count >= expected.Count, Timeout, $"{expected.Count} dead letters");
        }
        finally
        {
            foreach (DeadLetter letter in letters)
            {
                output.WriteLine($"dead letter {letter.Id}: '{letter.Reason}' ({letter.Envelope.Length} bytes)");
            }
        }

        foreach ((string id, string reason) in expected)
        {
            DeadLetter? letter = letters.SingleOrDefault(l => l.Id == id);
            Assert.True(letter is not null, $"'{id}' is not among the dead letters");
            Assert.StartsWith(reason + ": ", letter.Reason, StringComparison.Ordinal);
        }

        Assert.Equal(expected.Count, letters.Count);
        Assert.Null(letters.Single(l => l.Id == "random").TaskName);
        Assert.Null(letters.Single(l => l.Id == "random").Retries);
        Assert.Contains("NoSuchTask", letters.Single(l => l.Id == "unknown").TaskName, StringComparison.Ordinal);
        Assert.Equal(0, await broker.GetQueueLengthAsync(queue, default));
        Assert.Equal("Celeriac.UnknownTask", unknownFailure.RemoteType);
        Assert.Contains("NoSuchTask", unknownFailure.RemoteMessage, StringComparison.Ordinal);

        // The worker is still there: another task runs.
        Assert.Equal(30, await (await Calc.AddTask.DelayAsync(client, 10, 20)).GetAsync(Timeout));
    }

    [Fact]
    public async Task Arguments_that_do_not_match_the_task_are_dead_lettered_as_undecodable_args()
    {
        IHost host = await TestHost.StartAsync(output, "worker", Redis, RedisFixture.NewPrefix(), new MemoryLedger());
        _hosts.Add(host);
        ITaskClient client = host.Services.GetRequiredService<ITaskClient>();
        ITaskBroker broker = await host.Services.GetRequiredService<BrokerProvider>().GetAsync(default);

        // Add takes (int, int): send one string argument instead.
        byte[] wrongArgs = Envelope("wrong-args", Calc.AddTask.Name, [0x91, 0xA3, (byte)'a', (byte)'b', (byte)'c']);
        await broker.EnqueueAsync([new EnqueueItem("wrong-args", "default", wrongArgs, 0)], default);
        TaskFailedException failure = await Assert.ThrowsAsync<TaskFailedException>(() => new TaskHandle(client, "wrong-args").WaitAsync(Timeout));
        IReadOnlyList<DeadLetter> letters = await broker.GetDeadLettersAsync("default", 10, default);
        output.WriteLine($"waiting: {failure.Message}; dead letters: {string.Join("; ", letters.Select(l => $"{l.Id}: {l.Reason}"))}");
        Assert.Equal("Celeriac.UndecodableArguments", failure.RemoteType);
        DeadLetter letter = Assert.Single(letters);
        Assert.StartsWith("undecodable-args: ", letter.Reason, StringComparison.Ordinal);
        Assert.Equal(3, await (await Calc.AddTask.DelayAsync(client, 1, 2)).GetAsync(Timeout));
    }

    internal static byte[] Envelope(string id, string task, byte[] args) => EnvelopeCodec.Encode(new Envelope
    {
        Id = id,
        Task = task,
        Args = args,
        Queue = "default",
        RootId = id,
        CreatedMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
    });

}

/// <summary>The bad-input contract on Redis.</summary>
public sealed class BadInputTests(ITestOutputHelper output) : BadInputContract(output)
{
    private protected override string? Redis => RedisFixture.Configuration;
}

/// <summary>The bad-input contract on the in-process broker.</summary>
public sealed class BadInputUnitTests(ITestOutputHelper output) : BadInputContract(output)
{
    private protected override string? Redis => null;
}

/// <summary>Bad input that only Redis can hold: ids that are not UTF-8 and corrupt bookkeeping fields in the message hash.</summary>
public sealed class RedisBadInputTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private readonly List<IHost> _hosts = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => TestHost.StopAllAsync(_hosts);

    [Fact]
    public async Task Messages_stored_under_ids_that_are_not_utf8_are_run_or_dead_lettered_by_their_exact_bytes()
    {
        ConnectionMultiplexer redis = await RedisFixture.GetAsync();
        string prefix = RedisFixture.NewPrefix();
        // STARTED tracked: every run is counted through the batched start call, which addresses the message by its id.
        IHost host = await TestHost.StartAsync(output, "worker", RedisFixture.Configuration, prefix, new MemoryLedger(), worker: w => w.TrackStarted = true);
        _hosts.Add(host);
        ITaskClient client = host.Services.GetRequiredService<ITaskClient>();
        var keys = new RedisKeys(prefix);
        IDatabase db = redis.GetDatabase();
        byte[] badId = [0xFF, 0xFE, (byte)'b', (byte)'a', (byte)'d', 0xC3];
        byte[] goodId = [0xFF, 0xFE, (byte)'g', (byte)'o', (byte)'o', 0xC3];

        // A valid envelope spelling the raw id: encoded with a stand-in of the same length, then patched.
        byte[] good = Envelope("ZQZQZQ", Calc.AddTask.Name, [0x92, 0x02, 0x03]);
        for (int at = good.AsSpan().IndexOf("ZQZQZQ"u8); at >= 0; at = good.AsSpan().IndexOf("ZQZQZQ"u8))
        {
            goodId.CopyTo(good, at);
        }

        await db.HashSetAsync(keys.Task("default", badId), "msg", "not an envelope");
        await db.HashSetAsync(keys.Task("default", goodId), "msg", good);
        await db.ListLeftPushAsync(keys.Pending("default"), [badId, goodId]);
        await db.ListLeftPushAsync(keys.Notify("default"), "1");
        Assert.Equal(3, await (await Calc.AddTask.DelayAsync(client, 1, 2)).GetAsync(Timeout));

        await Wait.UntilAsync(async () => await db.SortedSetScoreAsync(keys.Dead("default"), badId) is not null, Timeout, "the undecodable message under a raw id to be dead-lettered");
        string? reason = await db.HashGetAsync(keys.Task("default", badId), "reason");
        output.WriteLine($"dead letter {Convert.ToHexString(badId)}: {reason}");
        Assert.StartsWith("undecodable: ", reason, StringComparison.Ordinal);

        await Wait.UntilAsync(async () => (string?)await db.HashGetAsync(keys.Result("default", goodId), "state") == "SUCCESS", Timeout, "the valid message under a raw id to succeed");
        Assert.False(await db.KeyExistsAsync(keys.Task("default", goodId)));
        Assert.Equal(0, await db.SortedSetLengthAsync(keys.Active("default")));
        Assert.Equal(0, await db.ListLengthAsync(keys.Pending("default")));
    }

    [Fact]
    public async Task Messages_with_corrupt_bookkeeping_are_set_aside_while_the_valid_ones_beside_them_run()
    {
        ConnectionMultiplexer redis = await RedisFixture.GetAsync();
        string prefix = RedisFixture.NewPrefix();
        var keys = new RedisKeys(prefix);
        IDatabase db = redis.GetDatabase();
        long due = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + 500;

        // Written before the worker starts: valid messages around a corrupt delivery count and a scheduled message
        // with a corrupt priority (each used to fail every fetch, the first losing the valid messages popped with it).
        await using (var writer = new RedisBroker(redis, new CeleriacOptions { Redis = RedisFixture.Configuration, KeyPrefix = prefix }, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, TimeProvider.System))
        {
            await writer.EnqueueAsync(
            [
                new EnqueueItem("v1", "default", Envelope("v1", Calc.AddTask.Name, [0x92, 0x01, 0x01]), 0),
                new EnqueueItem("bad-dc", "default", Envelope("bad-dc", Calc.AddTask.Name, [0x92, 0x01, 0x02]), 0),
                new EnqueueItem("v2", "default", Envelope("v2", Calc.AddTask.Name, [0x92, 0x01, 0x03]), 0),
                new EnqueueItem("bad-pri", "default", Envelope("bad-pri", Calc.AddTask.Name, [0x92, 0x01, 0x04]), due),
                new EnqueueItem("v3", "default", Envelope("v3", Calc.AddTask.Name, [0x92, 0x01, 0x05]), due),
            ], default);
        }

        await db.HashSetAsync(keys.Task("default", "bad-dc"), "dc", "not a number");
        await db.HashSetAsync(keys.Task("default", "bad-pri"), "pri", "high");
        IHost host = await TestHost.StartAsync(output, "worker", RedisFixture.Configuration, prefix, new MemoryLedger());
        _hosts.Add(host);
        ITaskClient client = host.Services.GetRequiredService<ITaskClient>();
        ITaskBroker broker = await host.Services.GetRequiredService<BrokerProvider>().GetAsync(default);

        foreach (string id in new[] { "v1", "v2", "v3" })
        {
            await new TaskHandle(client, id).WaitAsync(Timeout); // throws unless it succeeded
            Assert.Equal(TaskState.Success, (await new TaskHandle(client, id).GetResultAsync()).State);
        }

        IReadOnlyList<DeadLetter> letters = await broker.GetDeadLettersAsync("default", 10, default);
        output.WriteLine(string.Join("; ", letters.Select(l => $"{l.Id}: {l.Reason}")));
        Assert.Equal(
            [("bad-dc", "corrupt: dc is not a number"), ("bad-pri", "corrupt: pri is not a priority (0-9)")],
            letters.Select(l => (l.Id, l.Reason)).Order());
        Assert.Equal(0, await broker.GetQueueLengthAsync("default", default));
        Assert.Equal(3, await (await Calc.AddTask.DelayAsync(client, 1, 2)).GetAsync(Timeout));
    }

    private static byte[] Envelope(string id, string task, byte[] args) => BadInputContract.Envelope(id, task, args);
}
