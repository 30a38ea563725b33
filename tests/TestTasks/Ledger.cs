using System.Collections.Concurrent;
using StackExchange.Redis;

namespace Celeriac.TestTasks;

/// <summary>Where test tasks record what they did, keyed by a run name that a test makes unique.</summary>
public interface ILedger
{
    Task RecordAsync(string run, string value);

    Task<IReadOnlyList<string>> ReadAsync(string run);
}

/// <summary>A ledger in Redis (<c>RPUSH ledger:{run}</c>), readable from any process. Async only.</summary>
public sealed class RedisLedger(IConnectionMultiplexer redis) : ILedger
{
    public static RedisKey Key(string run) => "ledger:" + run;

    public Task RecordAsync(string run, string value) => redis.GetDatabase().ListRightPushAsync(Key(run), value);

    public async Task<IReadOnlyList<string>> ReadAsync(string run)
    {
        RedisValue[] values = await redis.GetDatabase().ListRangeAsync(Key(run)).ConfigureAwait(false);
        return [.. values.Select(v => (string)v!)];
    }
}

/// <summary>An in-process ledger for tests that run the worker in the same process.</summary>
public sealed class MemoryLedger : ILedger
{
    private readonly ConcurrentDictionary<string, ConcurrentQueue<string>> _runs = new(StringComparer.Ordinal);

    public Task RecordAsync(string run, string value)
    {
        _runs.GetOrAdd(run, _ => new ConcurrentQueue<string>()).Enqueue(value);
        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<string>> ReadAsync(string run)
        => Task.FromResult<IReadOnlyList<string>>(_runs.TryGetValue(run, out ConcurrentQueue<string>? entries) ? [.. entries] : []);
}
