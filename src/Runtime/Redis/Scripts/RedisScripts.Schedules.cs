namespace Celeriac.Redis;

internal static partial class RedisScripts
{
    /// <summary>Claims ticks of periodic schedules of one queue and stores each claimed tick's task, atomically per tick.</summary>
    // A tick is claimed when it is later than the schedule's last claimed tick (a high-water mark: no key per tick, and a
    // scheduler whose clock lags sees the tick already taken). Claiming it and storing its message are one step, so a
    // scheduler killed at any instant either sent the tick or left it to the others.
    // KEYS[1] -> P:{q}:pending (priority p > 0 uses P:{q}:pending:p)   KEYS[2] -> P:{q}:notify
    // KEYS[3..] -> P:{q}:s:<name>, one per claim (a schedule's claims in ascending tick order)
    // ARGV[1] -> message hash prefix P:{q}:t:   ARGV[2] -> now (unix ms)   ARGV[3] -> the claiming scheduler's name
    // ARGV[4..] -> per claim: tick (unix ms), task id, envelope bytes, priority (0-9)
    // Keys built here: P:{q}:t:<id> from ARGV[1] and P:{q}:pending:p from KEYS[1], in the slot of KEYS[1] (same hash tag)
    // Returns: per claim, 0 = claimed and stored; -1 = the schedule is paused (the tick is consumed, nothing stored);
    //          -2 = a message with that id exists (nothing changed); a positive number = the schedule's last claimed
    //          tick, not older than this one (another scheduler has it; nothing changed)
    // Side effect: the schedule hash gets last = tick, id, at = now, by = the claimer; a wake-up token when a task was stored
    public const string ClaimTicks = """
        local prefix = ARGV[1]
        local out = {}
        local stored = 0
        for c = 1, #KEYS - 2 do
          local a = 4 + (c - 1) * 4
          local key = KEYS[c + 2]
          local tick = tonumber(ARGV[a])
          local state = redis.call('HMGET', key, 'last', 'paused')
          local last = tonumber(state[1])
          if last and last >= tick then
            out[c] = last
          elseif state[2] == '1' then
            redis.call('HSET', key, 'last', ARGV[a])
            out[c] = -1
          else
            local id = ARGV[a + 1]
            local mkey = prefix .. id
            if redis.call('EXISTS', mkey) == 1 then
              out[c] = -2
            else
              local pri = tonumber(ARGV[a + 3])
              redis.call('HSET', mkey, 'msg', ARGV[a + 2])
              if pri > 0 then
                redis.call('HSET', mkey, 'pri', pri)
                redis.call('LPUSH', KEYS[1] .. ':' .. pri, id)
              else
                redis.call('LPUSH', KEYS[1], id)
              end
              redis.call('HSET', key, 'last', ARGV[a], 'id', id, 'at', ARGV[2], 'by', ARGV[3])
              stored = stored + 1
              out[c] = 0
            end
          end
        end
        if stored > 0 then
          local tokens = redis.pcall('LLEN', KEYS[2])
          if type(tokens) ~= 'number' then
            redis.call('DEL', KEYS[2]) -- a key of another type: replaced by a token
            tokens = 0
          end
          if tokens == 0 then
            redis.call('LPUSH', KEYS[2], '1')
          end
        end
        return out
        """;
}
