namespace Celeriac.Redis;

/// <summary>The Lua scripts of <see cref="RedisBroker"/>; each one's contract is in its header and in docs/protocol.md.</summary>
internal static partial class RedisScripts
{
    /// <summary>Stores one message, refusing an id still in use, and leaves a wake-up token.</summary>
    // KEYS[1] -> P:{q}:t:<id>   KEYS[2] -> P:{q}:pending   KEYS[3] -> P:{q}:scheduled   KEYS[4] -> P:{q}:notify
    // ARGV[1] -> task id
    // ARGV[2] -> envelope bytes
    // ARGV[3] -> due time (unix ms; 0 = now)
    // ARGV[4] -> now (unix ms)
    // Returns: 1 when stored; 0 when a message with this id already exists (nothing changed)
    public const string Enqueue = """
        if redis.call('EXISTS', KEYS[1]) == 1 then
          return 0
        end
        redis.call('HSET', KEYS[1], 'msg', ARGV[2], 'dc', 0)
        if tonumber(ARGV[3]) > tonumber(ARGV[4]) then
          redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
        else
          redis.call('LPUSH', KEYS[2], ARGV[1])
        end
        if redis.call('LLEN', KEYS[4]) == 0 then
          redis.call('LPUSH', KEYS[4], '1')
        end
        return 1
        """;
}
