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
    // Keys built here: P:{q}:t:<id> from ARGV[1] and P:{q}:pending:p from KEYS[1], in the slot of KEYS[1] (same hash tag)
    // Returns: the number of messages stored, then the 1-based positions of the ids refused because a message with
    //          that id already exists, or a key of another type holds its place (nothing changed for those); or the
    //          error of a pending list of another type (the messages bound for it are not stored, the others are)
    public const string Enqueue = """
        local prefix = ARGV[1]
        local now = tonumber(ARGV[2])
        local stored = 0
        local refused = {}
        local ready = {}
        local failed = nil
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
              local pushed = redis.pcall('LPUSH', KEYS[1] .. ':' .. pri, id)
              if type(pushed) == 'table' then
                redis.call('DEL', key) -- its list is of another type: not stored, and the call ends in that error
                failed = pushed
                stored = stored - 1
              end
            else
              ready[#ready + 1] = id
            end
            stored = stored + 1
          end
        end
        if #ready > 0 then
          local pushed = redis.pcall('LPUSH', KEYS[1], unpack(ready))
          if type(pushed) == 'table' then
            for j = 1, #ready do
              redis.call('DEL', prefix .. ready[j])
            end
            stored = stored - #ready
            failed = pushed
          end
        end
        if stored > 0 then
          local tokens = redis.pcall('LLEN', KEYS[3])
          if type(tokens) ~= 'number' then
            redis.call('DEL', KEYS[3]) -- a key of another type: replaced by a token
            tokens = 0
          end
          if tokens == 0 then
            redis.call('LPUSH', KEYS[3], '1')
          end
        end
        if failed then
          return failed
        end
        local out = { stored }
        for j = 1, #refused do
          out[#out + 1] = refused[j]
        end
        return out
        """;

    /// <summary>Counts the runnable messages of one queue over its ten priority lists.</summary>
    // KEYS[1] -> P:{q}:pending (priority p > 0 uses P:{q}:pending:p, built here: same hash tag, same slot)
    // Returns: the total length
    public const string QueueLength = """
        local n = redis.call('LLEN', KEYS[1])
        for p = 1, 9 do
          n = n + redis.call('LLEN', KEYS[1] .. ':' .. p)
        end
        return n
        """;
}
