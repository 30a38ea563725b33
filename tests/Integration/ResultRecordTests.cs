using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.Redis;
using MessagePack;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace Celeriac.IntegrationTests;

/// <summary>The result record (docs/protocol.md, "Result record"): its encoding, and how the Redis broker reads what it finds.</summary>
public sealed class ResultRecordTests(ITestOutputHelper output)
{
    [Fact]
    public void A_record_round_trips_every_field()
    {
        var at = DateTimeOffset.FromUnixTimeMilliseconds(1_764_000_000_123);
        var failure = new TaskResult
        {
            State = TaskState.Failure,
            Value = new byte[] { 1, 2, 3 },
            Error = new TaskError("System.TimeoutException", "slow", "at Tasks.Slow()"),
            TaskName = "billing.charge",
            Retries = 3,
            Timestamp = at,
            Worker = "host:42:abc",
        };

        TaskResult read = RedisResultCodec.Decode(RedisResultCodec.Encode("id-1", failure, DateTimeOffset.UtcNow), out string? id);

        Assert.Equal("id-1", id);
        Assert.Equal(TaskState.Failure, read.State);
        Assert.Equal(new byte[] { 1, 2, 3 }, read.Value.ToArray());
        Assert.Equal(failure.Error, read.Error);
        Assert.Equal("billing.charge", read.TaskName);
        Assert.Equal(3, read.Retries);
        Assert.Equal(at, read.Timestamp);
        Assert.Equal("host:42:abc", read.Worker);
        Assert.Equal("id-1", RedisResultCodec.ReadId(RedisResultCodec.Encode("id-1", failure, DateTimeOffset.UtcNow)));
    }

    [Fact]
    public void A_record_without_optional_fields_reads_them_as_absent_and_takes_the_given_time()
    {
        var now = DateTimeOffset.FromUnixTimeMilliseconds(1_764_000_000_000);
        TaskResult read = RedisResultCodec.Decode(RedisResultCodec.Encode("id-2", new TaskResult { State = TaskState.Success }, now), out _);

        Assert.Equal(TaskState.Success, read.State);
        Assert.True(read.Value.IsEmpty);
        Assert.Null(read.Error);
        Assert.Null(read.TaskName);
        Assert.Null(read.Worker);
        Assert.Equal(now, read.Timestamp);
    }

    [Fact]
    public void A_later_version_with_more_fields_is_read_and_a_short_one_is_refused()
    {
        // A later writer appends fields; this reader takes the ones it knows.
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(buffer);
        writer.WriteArrayHeader(13);
        writer.Write(2);
        writer.Write("id-3");
        writer.Write("SUCCESS");
        writer.Write("t");
        writer.Write(0);
        writer.Write(1_764_000_000_000L);
        writer.Write("w");
        writer.Write(new byte[] { 7 });
        writer.WriteNil();
        writer.WriteNil();
        writer.WriteNil();
        writer.Write("a field of version 2");
        writer.Write(12);
        writer.Flush();
        TaskResult read = RedisResultCodec.Decode(buffer.WrittenMemory, out string? id);
        Assert.Equal("id-3", id);
        Assert.Equal(TaskState.Success, read.State);
        Assert.Equal(new byte[] { 7 }, read.Value.ToArray());

        byte[] tooShort = MessagePackSerializer.Serialize(new object[] { 1, "id" });
        Assert.Throws<MessagePackSerializationException>(() => RedisResultCodec.Decode(tooShort, out _));
    }

    [Fact]
    public async Task The_broker_reads_a_missing_result_as_pending_and_names_a_corrupt_record()
    {
        ConnectionMultiplexer redis = await RedisFixture.GetAsync();
        string prefix = RedisFixture.NewPrefix();
        var broker = new RedisBroker(redis, new CeleriacOptions { Redis = RedisFixture.Configuration, KeyPrefix = prefix }, NullLogger.Instance, TimeProvider.System);
        IDatabase db = redis.GetDatabase();

        Assert.Equal(TaskState.Pending, (await broker.GetResultAsync("never-stored", "q", default)).State);

        await db.HashSetAsync($"{prefix}:r:bad", [new("state", "SUCCESS"), new("rec", "not msgpack at all")]);
        InvalidDataException error = await Assert.ThrowsAsync<InvalidDataException>(() => broker.GetResultAsync("bad", null, default));
        output.WriteLine(error.Message);
        Assert.Contains("bad", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_record_at_the_version_1_key_is_read_during_a_rolling_upgrade_and_the_queues_key_wins()
    {
        ConnectionMultiplexer redis = await RedisFixture.GetAsync();
        string prefix = RedisFixture.NewPrefix();
        await using var broker = new RedisBroker(redis, new CeleriacOptions { Redis = RedisFixture.Configuration, KeyPrefix = prefix }, NullLogger.Instance, TimeProvider.System);
        IDatabase db = redis.GetDatabase();
        await broker.RegisterQueuesAsync(["billing"], default);

        // A worker of protocol version 1 stored this record at P:r:<id>, outside the queue's slot.
        var done = new TaskResult { State = TaskState.Success, Value = new byte[] { 42 }, TaskName = "v1.task", Worker = "old-worker" };
        await db.HashSetAsync($"{prefix}:r:upgraded", [new("state", "SUCCESS"), new("rec", RedisResultCodec.Encode("upgraded", done, DateTimeOffset.UtcNow))]);
        TaskResult known = await broker.GetResultAsync("upgraded", "billing", default);
        TaskResult byId = await broker.GetResultAsync("upgraded", null, default);
        TaskResult waited = await broker.WaitResultAsync("upgraded", "billing", TimeSpan.FromSeconds(5), default);
        output.WriteLine($"version 1 record read as {known.State} (queue known), {byId.State} (id only), {waited.State} (wait)");
        Assert.Equal([TaskState.Success, TaskState.Success, TaskState.Success], [known.State, byId.State, waited.State]);
        Assert.Equal(new byte[] { 42 }, known.Value.ToArray());
        Assert.Equal("old-worker", byId.Worker);

        // Both keys hold a record (a task retried across the upgrade): the queue's key is the current one.
        var again = new TaskResult { State = TaskState.Failure, Error = new TaskError("E", "new", null), Worker = "new-worker" };
        await db.HashSetAsync($"{prefix}:{{billing}}:r:upgraded", [new("state", "FAILURE"), new("rec", RedisResultCodec.Encode("upgraded", again, DateTimeOffset.UtcNow))]);
        Assert.Equal("new-worker", (await broker.GetResultAsync("upgraded", "billing", default)).Worker);
        Assert.Equal("new-worker", (await broker.GetResultAsync("upgraded", null, default)).Worker);
    }
}
