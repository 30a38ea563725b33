namespace Celeriac.Redis;

internal static partial class RedisScripts
{
    /// <summary>
    /// Stores many final results and acknowledges their messages in one call (group commit), each id fenced on its own
    /// by its lease token (a lease lost to another delivery changes nothing for that id); then notifies waiters of each completed id.
    /// </summary>
    // KEYS[1] -> P:{q}:active
    // ARGV[1] -> result TTL (ms)
    // ARGV[2] -> message hash prefix P:{q}:t:
    // ARGV[3] -> done channel prefix P:done:
    // ARGV[4] -> result hash prefix P:{q}:r:
    // ARGV[5..] -> per item: id, lease token, reply channel or "", state name, result record (RedisResultCodec)
    // Keys built here: P:{q}:t:<id> and P:{q}:r:<id> from the prefixes, in the slot of KEYS[1] (same hash tag)
    // Side effect: per completed id, HSET P:{q}:r:<id> state <state> rec <record> (both fields: nothing of an earlier state
    //              survives), PEXPIRE, PUBLISH P:done:<id> <state>, and when the reply channel is set, PUBLISH <reply>
    //              <record> (the whole record: a waiter needs no re-read)
    // Returns: one string with a character per item, '1' when completed, '0' when that lease is no longer held (nothing
    //          changed for that id): one bulk reply, not an array of integers, so that the client allocates one object per call
    public const string CompleteMany = """
        local out = {}
        local done = {}
        local keys = {}
        for i = 5, #ARGV, 5 do
          local id = ARGV[i]
          local key = ARGV[2] .. id
          if redis.pcall('HGET', key, 'lease') == ARGV[i + 1] then
            local rkey = ARGV[4] .. id
            if type(redis.pcall('HSET', rkey, 'state', ARGV[i + 3], 'rec', ARGV[i + 4])) == 'table' then
              redis.call('DEL', rkey) -- a result key of another type is no record: replaced
              redis.call('HSET', rkey, 'state', ARGV[i + 3], 'rec', ARGV[i + 4])
            end
            redis.call('PEXPIRE', rkey, ARGV[1])
            done[#done + 1] = id
            keys[#keys + 1] = key
            redis.call('PUBLISH', ARGV[3] .. id, ARGV[i + 3])
            if ARGV[i + 2] ~= '' then
              redis.call('PUBLISH', ARGV[i + 2], ARGV[i + 4])
            end
            out[#out + 1] = '1'
          else
            out[#out + 1] = '0'
          end
        end
        if #done > 0 then
          redis.call('ZREM', KEYS[1], unpack(done))
          redis.call('DEL', unpack(keys))
        end
        return table.concat(out)
        """;

    /// <summary>Counts many runs as started in one call, each fenced on its own by its lease token, and records STARTED unless final.</summary>
    // KEYS[1] -> P:{q}:active (not touched: it routes the call to the queue's slot)
    // ARGV[1] -> result TTL (ms)
    // ARGV[2] -> message hash prefix P:{q}:t:
    // ARGV[3] -> result hash prefix P:{q}:r:
    // Keys built here: P:{q}:t:<id> and P:{q}:r:<id> from the prefixes, in the slot of KEYS[1] (same hash tag)
    // ARGV[4..] -> per item: id, lease token, then "" (only count the run) or "STARTED", then the STARTED record or ""
    // Returns: { runs per item }: the runs started so far (this one included), or 0 when that lease is no longer held
    //          or its runs field is corrupt (nothing changed for that id; the fetch sets it aside once the lease lapses)
    public const string StartMany = """
        local out = {}
        for i = 4, #ARGV, 4 do
          local key = ARGV[2] .. ARGV[i]
          local runs = 0
          if redis.pcall('HGET', key, 'lease') == ARGV[i + 1] then
            runs = redis.pcall('HINCRBY', key, 'runs', 1)
            if type(runs) ~= 'number' then
              runs = 0
            end
          end
          out[#out + 1] = runs
          if runs > 0 then
            if ARGV[i + 2] ~= '' then
              local rkey = ARGV[3] .. ARGV[i]
              local current = redis.pcall('HGET', rkey, 'state')
              if type(current) == 'table' then
                redis.call('DEL', rkey) -- a result key of another type is no record: replaced
                current = false
              end
              if current ~= 'SUCCESS' and current ~= 'FAILURE' and current ~= 'REVOKED' then
                redis.call('HSET', rkey, 'state', ARGV[i + 2], 'rec', ARGV[i + 3])
                redis.call('PEXPIRE', rkey, ARGV[1])
              end
            end
          end
        end
        return out
        """;
}
