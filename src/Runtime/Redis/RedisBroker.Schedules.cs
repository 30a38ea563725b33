using System.Globalization;
using Celeriac.Brokers;
using Celeriac.Scheduling;
using StackExchange.Redis;

namespace Celeriac.Redis;

internal sealed partial class RedisBroker : IScheduleStore
{
    /// <summary>The most claims sent in one script call (a call is atomic, so a huge one would stall the server).</summary>
    internal const int MaxClaimBatch = 200;

    private static readonly RedisValue[] StateFields = ["last", "paused", "id", "at", "by", "created"];

    /// <inheritdoc />
    public async Task ClaimTicksAsync(string queue, IReadOnlyList<TickClaim> claims, string claimer, long[] outcomes, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (claims.Count == 0)
        {
            return;
        }

        await RegisterQueueAsync(queue).ConfigureAwait(false);
        RedisValue now = NowMs;
        string prefix = Keys.TaskPrefix(queue);
        var calls = new List<(Task<RedisResult> Call, int First)>();
        for (int start = 0; start < claims.Count; start += MaxClaimBatch)
        {
            int count = Math.Min(MaxClaimBatch, claims.Count - start);
            var keys = new RedisKey[2 + count];
            keys[0] = Keys.Pending(queue);
            keys[1] = Keys.Notify(queue);
            var args = new RedisValue[3 + (count * 4)];
            args[0] = prefix;
            args[1] = now;
            args[2] = claimer;
            for (int i = 0; i < count; i++)
            {
                TickClaim claim = claims[start + i];
                keys[2 + i] = Keys.Schedule(queue, claim.Schedule);
                args[3 + (i * 4)] = claim.TickMs;
                args[4 + (i * 4)] = claim.Item.Id;
                args[5 + (i * 4)] = claim.Item.Envelope;
                args[6 + (i * 4)] = Math.Clamp(claim.Item.Priority, 0, 9);
            }

            calls.Add((Eval(RedisScripts.ClaimTicks, keys, args), start));
        }

        await Task.WhenAll(calls.Select(c => c.Call)).ConfigureAwait(false);
        foreach ((Task<RedisResult> call, int first) in calls)
        {
            var reply = (RedisResult[])call.Result!;
            for (int i = 0; i < reply.Length; i++)
            {
                outcomes[first + i] = (long)reply[i];
            }
        }
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<ScheduleRecord>> ListSchedulesAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        HashEntry[] index = await _db.HashGetAllAsync(Keys.Schedules()).ConfigureAwait(false);
        var reads = new Task<HashEntry[]>[index.Length];
        for (int i = 0; i < index.Length; i++)
        {
            reads[i] = _db.HashGetAllAsync(Keys.Schedule(index[i].Value!, index[i].Name!));
        }

        await Task.WhenAll(reads).ConfigureAwait(false);
        var records = new List<ScheduleRecord>(index.Length);
        for (int i = 0; i < index.Length; i++)
        {
            if (ToRecord(index[i].Name!, index[i].Value!, reads[i].Result) is { } record)
            {
                records.Add(record);
            }
        }

        records.Sort(static (a, b) => string.CompareOrdinal(a.Name, b.Name));
        return records;
    }

    /// <inheritdoc />
    public async Task<ScheduleRecord?> GetScheduleAsync(string name, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        RedisValue queue = await _db.HashGetAsync(Keys.Schedules(), name).ConfigureAwait(false);
        return queue.IsNull ? null : ToRecord(name, queue!, await _db.HashGetAllAsync(Keys.Schedule(queue!, name)).ConfigureAwait(false));
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<ScheduleRecord?>> ReadSchedulesAsync(IReadOnlyList<(string Name, string Queue)> schedules, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var reads = new Task<RedisValue[]>[schedules.Count];
        for (int i = 0; i < reads.Length; i++)
        {
            reads[i] = _db.HashGetAsync(Keys.Schedule(schedules[i].Queue, schedules[i].Name), StateFields);
        }

        await Task.WhenAll(reads).ConfigureAwait(false);
        var records = new ScheduleRecord?[reads.Length];
        for (int i = 0; i < reads.Length; i++)
        {
            RedisValue[] v = reads[i].Result;
            records[i] = new ScheduleRecord
            {
                Name = schedules[i].Name,
                Queue = schedules[i].Queue,
                TaskName = string.Empty,
                LastTickMs = ToLong(v[0]),
                Paused = v[1] == "1",
                LastTaskId = v[2].IsNull ? null : (string?)v[2],
                LastClaimMs = ToLong(v[3]),
                LastClaimedBy = v[4].IsNull ? null : (string?)v[4],
                CreatedMs = ToLong(v[5]),
            };
        }

        return records;
    }

    /// <inheritdoc />
    public async Task<long> GetSchedulesVersionAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ToLong(await _db.StringGetAsync(Keys.SchedulesVersion()).ConfigureAwait(false)) ?? 0;
    }

    /// <inheritdoc />
    public async Task UpsertScheduleAsync(ScheduleRecord schedule, bool onlyIfAbsent, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        RedisKey key = Keys.Schedule(schedule.Queue, schedule.Name); // refuses a queue that cannot be a hash tag first
        RedisValue previous = await _db.HashGetAsync(Keys.Schedules(), schedule.Name).ConfigureAwait(false);
        if (onlyIfAbsent && previous == schedule.Queue && await _db.HashExistsAsync(key, "task").ConfigureAwait(false))
        {
            return;
        }

        if (!schedule.IsStatic && previous == schedule.Queue && await _db.HashGetAsync(key, "static").ConfigureAwait(false) == "1")
        {
            ThrowStaticName(schedule.Name);
        }

        if (!previous.IsNull && previous != schedule.Queue)
        {
            await _db.KeyDeleteAsync(Keys.Schedule(previous!, schedule.Name)).ConfigureAwait(false); // moved to another queue (slot)
        }

        await _db.HashSetAsync(key,
        [
            new HashEntry("task", schedule.TaskName),
            new HashEntry("cron", schedule.Cron ?? string.Empty),
            new HashEntry("every", schedule.EveryMs),
            new HashEntry("tz", schedule.TimeZone ?? string.Empty),
            new HashEntry("missed", (int)schedule.MissedTicks),
            new HashEntry("max_missed", schedule.MaxMissedRuns),
            new HashEntry("pri", schedule.Priority),
            new HashEntry("args", schedule.Args),
            new HashEntry("static", schedule.IsStatic ? 1 : 0),
        ]).ConfigureAwait(false);
        await _db.HashSetAsync(key, "created", NowMs, When.NotExists).ConfigureAwait(false);
        await _db.HashSetAsync(Keys.Schedules(), schedule.Name, schedule.Queue).ConfigureAwait(false);
        if (!schedule.IsStatic)
        {
            await _db.StringIncrementAsync(Keys.SchedulesVersion()).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public async Task<bool> RemoveScheduleAsync(string name, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        RedisValue queue = await _db.HashGetAsync(Keys.Schedules(), name).ConfigureAwait(false);
        if (queue.IsNull)
        {
            return false;
        }

        // The index entry first: a scheduler that re-reads in between sees no schedule rather than a half-removed one.
        await _db.HashDeleteAsync(Keys.Schedules(), name).ConfigureAwait(false);
        await _db.KeyDeleteAsync(Keys.Schedule(queue!, name)).ConfigureAwait(false);
        await _db.StringIncrementAsync(Keys.SchedulesVersion()).ConfigureAwait(false);
        return true;
    }

    /// <inheritdoc />
    public async Task<bool> SetPausedAsync(string name, bool paused, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        RedisValue queue = await _db.HashGetAsync(Keys.Schedules(), name).ConfigureAwait(false);
        if (queue.IsNull)
        {
            return false;
        }

        await _db.HashSetAsync(Keys.Schedule(queue!, name), "paused", paused ? "1" : "0").ConfigureAwait(false);
        await _db.StringIncrementAsync(Keys.SchedulesVersion()).ConfigureAwait(false);
        return true;
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void ThrowStaticName(string name)
        => throw new InvalidOperationException($"'{name}' is the name of a schedule declared in code ([Periodic]); a stored schedule needs another name.");

    private static ScheduleRecord? ToRecord(string name, string queue, HashEntry[] fields)
    {
        if (fields.Length == 0)
        {
            return null;
        }

        var map = new Dictionary<string, RedisValue>(fields.Length, StringComparer.Ordinal);
        foreach (HashEntry field in fields)
        {
            map[field.Name!] = field.Value;
        }

        if (!map.TryGetValue("task", out RedisValue task) || task.IsNullOrEmpty)
        {
            return null; // state only (claimed by a scheduler before any definition was stored)
        }

        return new ScheduleRecord
        {
            Name = name,
            Queue = queue,
            TaskName = task!,
            Cron = Text(map, "cron"),
            EveryMs = ToLong(Get(map, "every")) ?? 0,
            TimeZone = Text(map, "tz"),
            MissedTicks = (MissedTicks)(ToLong(Get(map, "missed")) ?? 0),
            MaxMissedRuns = (int)(ToLong(Get(map, "max_missed")) ?? PeriodicSchedule.DefaultMaxMissedRuns),
            Priority = (int)(ToLong(Get(map, "pri")) ?? 0),
            Args = map.TryGetValue("args", out RedisValue args) && !args.IsNull ? (byte[])args! : ReadOnlyMemory<byte>.Empty,
            IsStatic = Get(map, "static") == "1",
            Paused = Get(map, "paused") == "1",
            CreatedMs = ToLong(Get(map, "created")),
            LastTickMs = ToLong(Get(map, "last")),
            LastTaskId = Text(map, "id"),
            LastClaimMs = ToLong(Get(map, "at")),
            LastClaimedBy = Text(map, "by"),
        };

        static RedisValue Get(Dictionary<string, RedisValue> map, string field) => map.TryGetValue(field, out RedisValue value) ? value : RedisValue.Null;

        static string? Text(Dictionary<string, RedisValue> map, string field) => Get(map, field) is { IsNullOrEmpty: false } value ? (string?)value : null;
    }

    private static long? ToLong(RedisValue value)
        => !value.IsNullOrEmpty && long.TryParse((string?)value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long parsed) ? parsed : null;
}
