namespace Celeriac.Redis;

/// <summary>The Lua scripts of <see cref="RedisBroker"/>; each one's contract is in its header and in docs/protocol.md.</summary>
internal static partial class RedisScripts
{
    /// <summary>Stores messages of one queue (one or many per call), refusing ids still in use, and leaves a wake-up token.</summary>
    // The message hash starts as { msg } (and pri when > 0): dc and runs are absent until the first delivery and run
    // (HINCRBY counts a missing field as 0). Ready messages of priority 0 go to pending with one LPUSH per call.
    // KEYS[1] -> P:{q}:pending (priority p > 0 uses P:{q}:pending:p)   KEYS[2] -> P:{q}:scheduled   KEYS[3] -> P:{q}:notify
    // ARGV[1] -> message hash prefix P:{q}:t:
    // ARGV[2] -> now (unix ms)
    // ARGV[3..] -> per message: task id, envelope bytes, due time (unix ms; 0 = now), priority (0-9)
    // Returns: the number of messages stored, then the 1-based positions of the ids refused because a message with
    //          that id already exists, or a key of another type holds its place (nothing changed for those)
    public const string Enqueue = """
        local prefix = ARGV[1]
        local now = tonumber(ARGV[2])
        local stored = 0
        local refused = {}
        local ready = {}
        for i = 3, #ARGV, 4 do
          local id = ARGV[i]
          local key = prefix .. id
          if redis.pcall('HSETNX', key, 'msg', ARGV[i + 1]) ~= 1 then
            refused[#refused + 1] = (i - 3) / 4 + 1
          else
            local pri = tonumber(ARGV[i + 3])
            if pri > 0 then
              redis.call('HSET', key, 'pri', pri)
            end
            if tonumber(ARGV[i + 2]) > now then
              redis.call('ZADD', KEYS[2], ARGV[i + 2], id)
            elseif pri > 0 then
              redis.call('LPUSH', KEYS[1] .. ':' .. pri, id)
            else
              ready[#ready + 1] = id
            end
            stored = stored + 1
          end
        end
        if #ready > 0 then
          redis.call('LPUSH', KEYS[1], unpack(ready))
        end
        if stored > 0 and redis.call('LLEN', KEYS[3]) == 0 then
          redis.call('LPUSH', KEYS[3], '1')
        end
        local out = { stored }
        for j = 1, #refused do
          out[#out + 1] = refused[j]
        end
        return out
        """;

    /// <summary>Counts the runnable messages of one queue over its ten priority lists.</summary>
    // KEYS[1] -> P:{q}:pending (priority p > 0 uses P:{q}:pending:p)
    // Returns: the total length
    public const string QueueLength = """
        local n = redis.call('LLEN', KEYS[1])
        for p = 1, 9 do
          n = n + redis.call('LLEN', KEYS[1] .. ':' .. p)
        end
        return n
        """;
}
