namespace Celeriac.Redis;

internal static partial class RedisScripts
{
    /// <summary>Moves a leased message to the dead-letter set (fenced), optionally storing a final result and notifying waiters.</summary>
    // KEYS[1] -> P:{q}:t:<id>   KEYS[2] -> P:{q}:active   KEYS[3] -> P:{q}:dead   KEYS[4] -> P:{q}:r:<id>
    // ARGV[1] -> lease token
    // ARGV[2] -> task id
    // ARGV[3] -> reason
    // ARGV[4] -> now (unix ms)
    // ARGV[5] -> result TTL (ms)
    // ARGV[6] -> channel P:done:<id>
    // ARGV[7] -> final state name, or "" to store no result
    // ARGV[8] -> the sender's reply channel, or "" (published to, like CompleteMany, when a result is stored)
    // ARGV[9] -> the result record (RedisResultCodec), when ARGV[7] is not ""
    // Returns: 1 when dead-lettered; 0 when the lease is no longer held (nothing changed)
    public const string DeadLetter = """
        if redis.pcall('HGET', KEYS[1], 'lease') ~= ARGV[1] then
          return 0
        end
        redis.call('ZADD', KEYS[3], ARGV[4], ARGV[2]) -- first: a dead set of another type fails the call with nothing changed
        redis.call('ZREM', KEYS[2], ARGV[2])
        redis.call('HDEL', KEYS[1], 'lease')
        redis.call('HSET', KEYS[1], 'reason', ARGV[3], 'dead_at', ARGV[4])
        if ARGV[7] ~= '' then
          if type(redis.pcall('HSET', KEYS[4], 'state', ARGV[7], 'rec', ARGV[9])) == 'table' then
            redis.call('DEL', KEYS[4]) -- a result key of another type is no record: replaced
            redis.call('HSET', KEYS[4], 'state', ARGV[7], 'rec', ARGV[9])
          end
          redis.call('PEXPIRE', KEYS[4], ARGV[5])
          redis.call('PUBLISH', ARGV[6], ARGV[7])
          if ARGV[8] ~= '' then
            redis.call('PUBLISH', ARGV[8], ARGV[9])
          end
        end
        return 1
        """;

    /// <summary>Deletes dead letters for good: the given ids, or the oldest 1000 when none are given (the caller loops).</summary>
    // KEYS[1] -> P:{q}:dead
    // ARGV[1] -> message hash prefix P:{q}:t:
    // ARGV[2..] -> task ids; none = the oldest 1000 dead letters
    // Keys built here: P:{q}:t:<id> from ARGV[1], in the slot of KEYS[1] (same hash tag)
    // Returns: how many dead letters were deleted (ids that are not dead letters of this queue are left alone)
    public const string PurgeDead = """
        local ids
        if #ARGV > 1 then
          ids = { unpack(ARGV, 2) }
        else
          ids = redis.call('ZRANGE', KEYS[1], 0, 999)
        end
        local n = 0
        for i = 1, #ids do
          if redis.call('ZREM', KEYS[1], ids[i]) == 1 then
            redis.call('DEL', ARGV[1] .. ids[i])
            n = n + 1
          end
        end
        return n
        """;

    /// <summary>Puts one dead letter back on its queue as a new delivery with a fresh start (no retries, deliveries or runs counted) and forgets its old result.</summary>
    // KEYS[1] -> P:{q}:dead   KEYS[2] -> P:{q}:t:<id>   KEYS[3] -> P:{q}:pending (priority p > 0 uses pending:p)   KEYS[4] -> P:{q}:notify   KEYS[5] -> P:{q}:r:<id>
    // ARGV[1] -> task id
    // ARGV[2] -> (optional) the envelope with its retry count reset to 0   ARGV[3] -> the stored envelope it was made from
    // Side effect: repairs the bookkeeping a corrupt message was set aside for: dc and runs restart, a pri that is not
    //              0-9 is removed (priority 0)
    // Returns: 1 when requeued; 0 when the id is not a dead letter of this queue (or its message is gone, or its key is
    //          not a hash: then it stays a dead letter); -1 when the stored envelope is no longer ARGV[3] (nothing
    //          changed: read it again and retry)
    public const string Requeue = """
        local pri = redis.pcall('HGET', KEYS[2], 'pri')
        if type(pri) == 'table' then
          return 0
        end
        if #ARGV > 1 and redis.call('ZSCORE', KEYS[1], ARGV[1]) and redis.call('HGET', KEYS[2], 'msg') ~= ARGV[3] then
          return -1
        end
        if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then
          return 0
        end
        if redis.call('EXISTS', KEYS[2]) == 0 then
          return 0
        end
        if #ARGV > 1 then
          redis.call('HSET', KEYS[2], 'msg', ARGV[2])
        end
        redis.call('HDEL', KEYS[2], 'reason', 'dead_at', 'lease', 'runs')
        redis.call('HSET', KEYS[2], 'dc', 0)
        redis.call('DEL', KEYS[5])
        if pri and not string.match(pri, '^[0-9]$') then
          redis.call('HDEL', KEYS[2], 'pri')
          pri = false
        end
        if pri and pri ~= '0' then
          redis.call('LPUSH', KEYS[3] .. ':' .. pri, ARGV[1])
        else
          redis.call('LPUSH', KEYS[3], ARGV[1])
        end
        local tokens = redis.pcall('LLEN', KEYS[4])
        if type(tokens) ~= 'number' then
          redis.call('DEL', KEYS[4]) -- a key of another type: replaced by a token
          tokens = 0
        end
        if tokens == 0 then
          redis.call('LPUSH', KEYS[4], '1')
        end
        return 1
        """;
}
