namespace Celeriac.Redis;

internal static partial class RedisScripts
{
    /// <summary>Adds or refreshes a worker's registry entry and prunes the entries that expired.</summary>
    // KEYS[1] -> P:{workers}:reg   KEYS[2] -> P:{workers}:info
    // ARGV[1] -> worker id   ARGV[2] -> its entry's expiry (unix ms)   ARGV[3] -> now (unix ms)   ARGV[4] -> its record (JSON)
    // Returns: how many expired entries were pruned (at most 100 per call)
    // Side effect: the expired workers' records are deleted from the info hash with their ids
    public const string WorkerHeartbeat = """
        redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
        redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
        local stale = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[3], 'LIMIT', 0, 100)
        if #stale > 0 then
          redis.call('ZREM', KEYS[1], unpack(stale))
          redis.call('HDEL', KEYS[2], unpack(stale))
        end
        return #stale
        """;

    /// <summary>Lists the live workers: their records and expiries.</summary>
    // KEYS[1] -> P:{workers}:reg   KEYS[2] -> P:{workers}:info
    // ARGV[1] -> now (unix ms)
    // Returns: a flat array record1, expiry1, record2, expiry2, … for every entry that expires after now (a record that is
    //          missing, which only a hand edit can cause, is skipped)
    public const string ListWorkers = """
        local live = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf', 'WITHSCORES')
        local out = {}
        for i = 1, #live, 2 do
          local record = redis.call('HGET', KEYS[2], live[i])
          if record then
            out[#out + 1] = record
            out[#out + 1] = live[i + 1]
          end
        end
        return out
        """;

    /// <summary>Removes a worker's registry entry and its queued commands.</summary>
    // KEYS[1] -> P:{workers}:reg   KEYS[2] -> P:{workers}:info   KEYS[3] -> P:{workers}:cmd:<worker>
    // ARGV[1] -> worker id
    // Returns: 1 when the entry existed, else 0
    public const string RemoveWorker = """
        redis.call('HDEL', KEYS[2], ARGV[1])
        redis.call('DEL', KEYS[3])
        return redis.call('ZREM', KEYS[1], ARGV[1])
        """;

    /// <summary>Appends to a list that expires: a command queued for a worker, or a reply to a request.</summary>
    // KEYS[1] -> P:{workers}:cmd:<worker> or P:{workers}:reply:<request>
    // ARGV[1] -> the entry (JSON)   ARGV[2] -> when the list may be forgotten (unix ms)
    // Returns: the list's length
    // Side effect: the list's expiry is pushed out to ARGV[2] (never pulled in: a later entry keeps it longer)
    public const string PushExpiring = """
        local n = redis.call('RPUSH', KEYS[1], ARGV[1])
        local at = tonumber(ARGV[2])
        local ttl = redis.call('PEXPIRETIME', KEYS[1])
        if ttl < at then
          redis.call('PEXPIREAT', KEYS[1], at)
        end
        return n
        """;
}
