using System.Text;
using Celeriac.Brokers;
using Celeriac.Brokers.InMemory;
using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.Redis;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using StackExchange.Redis;

namespace Celeriac.IntegrationTests.Control;

/// <summary>
/// The <see cref="IWorkerControl"/> role's semantics (the worker registry and the command lists), run on each broker
/// with a fake clock: entries live until their expiry and never after; commands and replies are taken once, in order,
/// and only by whom they are for; a queued command hints its worker.
/// </summary>
public abstract class WorkerControlContract(ITestOutputHelper output) : IAsyncLifetime
{
    private ITaskBroker? _broker;

    protected ITestOutputHelper Output { get; } = output;

    protected FakeTimeProvider Time { get; } = new(DateTimeOffset.UtcNow);

    private protected IWorkerControl Control => (IWorkerControl)(_broker ?? throw new InvalidOperationException("no broker"));

    private protected abstract Task<ITaskBroker> CreateBrokerAsync();

    public async Task InitializeAsync() => _broker = await CreateBrokerAsync();

    public async Task DisposeAsync()
    {
        if (_broker is not null)
        {
            await _broker.DisposeAsync();
        }
    }

    protected long NowMs => Time.GetUtcNow().ToUnixTimeMilliseconds();

    [Fact]
    public async Task An_entry_is_listed_until_it_expires_and_a_heartbeat_pushes_the_expiry_on()
    {
        await Control.HeartbeatWorkerAsync("w1", Bytes("one"), NowMs + 1000, default);
        await Control.HeartbeatWorkerAsync("w2", Bytes("two"), NowMs + 3000, default);
        Assert.Equal(["one", "two"], await ListAsync());

        Time.Advance(TimeSpan.FromMilliseconds(1000)); // w1's expiry: not listed from that instant on
        Assert.Equal(["two"], await ListAsync());
        await Control.HeartbeatWorkerAsync("w2", Bytes("two again"), NowMs + 3000, default);
        Time.Advance(TimeSpan.FromMilliseconds(2500)); // past w2's first expiry, before its second
        Assert.Equal(["two again"], await ListAsync());

        // A late heartbeat brings an expired worker back (it was only slow); its record is the new one.
        await Control.HeartbeatWorkerAsync("w1", Bytes("one back"), NowMs + 1000, default);
        Assert.Equal(["one back", "two again"], await ListAsync());
        IReadOnlyList<(ReadOnlyMemory<byte> Record, long ExpiresAtMs)> entries = await Control.ListWorkersAsync(default);
        Assert.Equal(NowMs + 1000, entries.Single(e => Text(e.Record) == "one back").ExpiresAtMs);
    }

    [Fact]
    public async Task Removing_a_worker_drops_its_entry_and_its_queued_commands()
    {
        await Control.HeartbeatWorkerAsync("w1", Bytes("one"), NowMs + 60_000, default);
        await Control.SendCommandAsync(["w1"], Bytes("cmd"), NowMs + 60_000, default);
        await Control.RemoveWorkerAsync("w1", default);
        Assert.Empty(await ListAsync());
        Assert.Empty(await Control.TakeCommandsAsync("w1", default));
    }

    [Fact]
    public async Task Commands_are_taken_once_in_order_by_their_worker_and_hint_it()
    {
        int hintsOne = 0;
        int hintsTwo = 0;
        await Control.SubscribeCommandsAsync("w1", () => Interlocked.Increment(ref hintsOne), default);
        await Control.SubscribeCommandsAsync("w2", () => Interlocked.Increment(ref hintsTwo), default);
        await Control.SendCommandAsync(["w1", "w2"], Bytes("first"), NowMs + 60_000, default);
        await Control.SendCommandAsync(["w1"], Bytes("second"), NowMs + 60_000, default);

        Assert.Equal(["first", "second"], (await Control.TakeCommandsAsync("w1", default)).Select(Text));
        Assert.Empty(await Control.TakeCommandsAsync("w1", default));
        Assert.Equal(["first"], (await Control.TakeCommandsAsync("w2", default)).Select(Text));
        Assert.Empty(await Control.TakeCommandsAsync("w3", default));

        // Hints are best-effort and arrive asynchronously on Redis: wait (bounded) for them.
        await Wait.UntilAsync(() => Task.FromResult(Volatile.Read(ref hintsOne) >= 2 && Volatile.Read(ref hintsTwo) >= 1), TimeSpan.FromSeconds(10), "the hints of three queued commands");
        Output.WriteLine($"hints: w1 {hintsOne}, w2 {hintsTwo}");
    }

    [Fact]
    public async Task Replies_are_taken_once_in_the_order_they_arrived_per_request()
    {
        await Control.ReplyAsync("r1", Bytes("from w2"), NowMs + 60_000, default);
        await Control.ReplyAsync("r2", Bytes("other request"), NowMs + 60_000, default);
        await Control.ReplyAsync("r1", Bytes("from w1"), NowMs + 60_000, default);
        Assert.Equal(["from w2", "from w1"], (await Control.TakeRepliesAsync("r1", default)).Select(Text));
        Assert.Empty(await Control.TakeRepliesAsync("r1", default));
        Assert.Equal(["other request"], (await Control.TakeRepliesAsync("r2", default)).Select(Text));
    }

    private async Task<string[]> ListAsync() => [.. (await Control.ListWorkersAsync(default)).Select(e => Text(e.Record)).Order(StringComparer.Ordinal)];

    private static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    private static string Text(ReadOnlyMemory<byte> bytes) => Encoding.UTF8.GetString(bytes.Span);
}

/// <summary>The registry and command role on the in-process broker.</summary>
public sealed class InMemoryWorkerControlUnitTests(ITestOutputHelper output) : WorkerControlContract(output)
{
    private protected override Task<ITaskBroker> CreateBrokerAsync() => Task.FromResult<ITaskBroker>(new InMemoryBroker(Time));
}

/// <summary>The registry and command role on Redis, and what only Redis shows: expired entries are deleted, not just hidden.</summary>
public sealed class RedisWorkerControlTests(ITestOutputHelper output) : WorkerControlContract(output)
{
    private string _prefix = string.Empty;

    private protected override async Task<ITaskBroker> CreateBrokerAsync()
    {
        ConnectionMultiplexer redis = await RedisFixture.GetAsync();
        _prefix = RedisFixture.NewPrefix();
        return new RedisBroker(redis, new CeleriacOptions { Redis = RedisFixture.Configuration, KeyPrefix = _prefix }, NullLogger.Instance, Time);
    }

    [Fact]
    public async Task A_heartbeat_deletes_the_entries_that_expired()
    {
        IDatabase db = (await RedisFixture.GetAsync()).GetDatabase();
        await Control.HeartbeatWorkerAsync("dead", Encoding.UTF8.GetBytes("dead"), NowMs + 1000, default);
        await Control.HeartbeatWorkerAsync("alive", Encoding.UTF8.GetBytes("alive"), NowMs + 60_000, default);
        Time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(2, await db.SortedSetLengthAsync(_prefix + ":{workers}:reg")); // hidden from listing, not yet deleted
        await Control.HeartbeatWorkerAsync("alive", Encoding.UTF8.GetBytes("alive"), NowMs + 60_000, default);
        Assert.Equal(1, await db.SortedSetLengthAsync(_prefix + ":{workers}:reg"));
        Assert.Equal(["alive"], (await db.HashKeysAsync(_prefix + ":{workers}:info")).Select(k => (string)k!));
    }
}
