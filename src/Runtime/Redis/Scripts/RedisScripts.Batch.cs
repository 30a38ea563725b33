namespace Celeriac.Redis;

internal static partial class RedisScripts
{
    /// <summary>
    /// Stores many final results and acknowledges their messages in one call (group commit), each id fenced on its own
    /// exactly as <see cref="Complete"/> is; then notifies waiters of each completed id.
    /// </summary>
    // KEYS[1] -> P:{q}:active
    // ARGV[1] -> result TTL (ms)
    // ARGV[2] -> message hash prefix P:{q}:t:
    // ARGV[3] -> done channel prefix P:done:
    // ARGV[4] -> result hash prefix P:r: (result keys P:r:<id> are built here, as fetch builds P:{q}:t:<id>)
    // ARGV[5..] -> per item: id, lease token, reply channel or "", n, then n result hash field/value entries (state first);
    //              n is negative (-n entries follow) when the result hash can hold no field this record does not overwrite
    //              (a first attempt: no RETRY record before it), so the old hash need not be deleted first
    // Side effect: per completed id, PUBLISH P:done:<id> <state>, and when the reply channel is set, PUBLISH <reply>
    //              cmsgpack(id, field, value, ...) (the whole record: a waiter needs no re-read)
    // Returns: { 1 or 0 per item }: 1 when completed; 0 when that lease is no longer held (nothing changed for that id)
    public const string CompleteMany = """
        local out = {}
        local done = {}
        local keys = {}
        local i = 5
        while i <= #ARGV do
          local id = ARGV[i]
          local n = tonumber(ARGV[i + 3])
          local clean = n < 0
          if clean then
            n = -n
          end
          local key = ARGV[2] .. id
          if redis.call('HGET', key, 'lease') == ARGV[i + 1] then
            local rkey = ARGV[4] .. id
            if not clean then
              redis.call('DEL', rkey)
            end
            redis.call('HSET', rkey, unpack(ARGV, i + 4, i + 3 + n))
            redis.call('PEXPIRE', rkey, ARGV[1])
            done[#done + 1] = id
            keys[#keys + 1] = key
            redis.call('PUBLISH', ARGV[3] .. id, ARGV[i + 5])
            if ARGV[i + 2] ~= '' then
              redis.call('PUBLISH', ARGV[i + 2], cmsgpack.pack(id, unpack(ARGV, i + 4, i + 3 + n)))
            end
            out[#out + 1] = 1
          else
            out[#out + 1] = 0
          end
          i = i + 4 + n
        end
        if #done > 0 then
          redis.call('ZREM', KEYS[1], unpack(done))
          redis.call('DEL', unpack(keys))
        end
        return out
        """;

    /// <summary>Counts many runs as started in one call, each fenced on its own as <see cref="Start"/> is, and records STARTED unless final.</summary>
    // KEYS -> none (every key is built from a prefix, as fetch builds P:{q}:t:<id>)
    // ARGV[1] -> result TTL (ms)
    // ARGV[2] -> message hash prefix P:{q}:t:
    // ARGV[3] -> result hash prefix P:r:
    // ARGV[4..] -> per item: id, lease token, n (0 = only count the run), then n STARTED hash field/value entries (state first)
    // Returns: { runs per item }: the runs started so far (this one included), or 0 when that lease is no longer held
    //          (nothing changed for that id)
    public const string StartMany = """
        local out = {}
        local i = 4
        while i <= #ARGV do
          local key = ARGV[2] .. ARGV[i]
          local n = tonumber(ARGV[i + 2])
          if redis.call('HGET', key, 'lease') == ARGV[i + 1] then
            out[#out + 1] = redis.call('HINCRBY', key, 'runs', 1)
            if n > 0 then
              local rkey = ARGV[3] .. ARGV[i]
              local current = redis.call('HGET', rkey, 'state')
              if current ~= 'SUCCESS' and current ~= 'FAILURE' and current ~= 'REVOKED' then
                redis.call('DEL', rkey)
                redis.call('HSET', rkey, unpack(ARGV, i + 3, i + 2 + n))
                redis.call('PEXPIRE', rkey, ARGV[1])
              end
            end
          else
            out[#out + 1] = 0
          end
          i = i + 3 + n
        end
        return out
        """;
}
