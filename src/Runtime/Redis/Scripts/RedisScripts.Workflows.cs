namespace Celeriac.Redis;

internal static partial class RedisScripts
{
    /// <summary>
    /// Completes one task of a workflow: as CompleteMany does for one id (fenced, result, ack, notify), and in the same
    /// step puts its follow-ups (the chain's next step, the chord member's count) in the queue's outbox, so that a worker
    /// killed after this call loses nothing: the outbox is carried out by whoever sweeps it.
    /// </summary>
    // KEYS[1] -> P:{q}:active   KEYS[2] -> P:{q}:t:<id>   KEYS[3] -> P:{q}:r:<id>   KEYS[4] -> P:{q}:flow   KEYS[5] -> P:{q}:flowq
    // ARGV[1] -> result TTL (ms)   ARGV[2] -> task id   ARGV[3] -> lease token   ARGV[4] -> done channel P:done:<id>
    // ARGV[5] -> reply channel or ""   ARGV[6] -> state name   ARGV[7] -> result record   ARGV[8] -> now (unix ms)
    // ARGV[9..] -> per follow-up: key, encoded follow-up
    // Side effect: HSET P:{q}:r:<id> state rec, PEXPIRE; ZREM active; DEL the message; HSET flow key payload and
    //              ZADD flowq now key per follow-up; PUBLISH done (and reply)
    // Returns: 1 when completed, 0 when the lease is no longer held (nothing changed)
    public const string CompleteFlow = """
        if redis.pcall('HGET', KEYS[2], 'lease') ~= ARGV[3] then
          return 0
        end
        if type(redis.pcall('HSET', KEYS[3], 'state', ARGV[6], 'rec', ARGV[7])) == 'table' then
          redis.call('DEL', KEYS[3]) -- a result key of another type is no record: replaced
          redis.call('HSET', KEYS[3], 'state', ARGV[6], 'rec', ARGV[7])
        end
        redis.call('PEXPIRE', KEYS[3], ARGV[1])
        redis.call('ZREM', KEYS[1], ARGV[2])
        redis.call('DEL', KEYS[2])
        for i = 9, #ARGV, 2 do
          redis.call('HSET', KEYS[4], ARGV[i], ARGV[i + 1])
          redis.call('ZADD', KEYS[5], ARGV[8], ARGV[i])
        end
        redis.call('PUBLISH', ARGV[4], ARGV[6])
        if ARGV[5] ~= '' then
          redis.call('PUBLISH', ARGV[5], ARGV[7])
        end
        return 1
        """;

    /// <summary>Stores one message unless its id was sent before (a message or a result exists): a workflow step sent at most once.</summary>
    // KEYS[1] -> P:{q}:pending (or P:{q}:pending:p for priority p > 0)   KEYS[2] -> P:{q}:scheduled   KEYS[3] -> P:{q}:notify
    // KEYS[4] -> P:{q}:t:<id>   KEYS[5] -> P:{q}:r:<id>
    // ARGV[1] -> task id   ARGV[2] -> envelope   ARGV[3] -> due (unix ms; 0 = now)   ARGV[4] -> priority (0-9)   ARGV[5] -> now (unix ms)
    // Returns: 1 when stored, 0 when the id already has a message or a result (nothing changed)
    public const string EnqueueOnce = """
        if redis.call('EXISTS', KEYS[4], KEYS[5]) > 0 then
          return 0
        end
        redis.call('HSET', KEYS[4], 'msg', ARGV[2])
        local pri = tonumber(ARGV[4])
        if pri > 0 then
          redis.call('HSET', KEYS[4], 'pri', pri)
        end
        if tonumber(ARGV[3]) > tonumber(ARGV[5]) then
          redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
        else
          redis.call('LPUSH', KEYS[1], ARGV[1])
        end
        if redis.call('LLEN', KEYS[3]) == 0 then
          redis.call('LPUSH', KEYS[3], '1')
        end
        return 1
        """;

    /// <summary>Records a FAILURE unless the task already has a final result: a workflow's last step failed by an earlier one.</summary>
    // KEYS[1] -> P:{q}:r:<id>
    // ARGV[1] -> result TTL (ms)   ARGV[2] -> FAILURE record   ARGV[3] -> done channel P:done:<id>   ARGV[4] -> reply channel or ""
    // Returns: 1 when recorded, 0 when the result was already final
    public const string FailOnce = """
        local current = redis.pcall('HGET', KEYS[1], 'state')
        if current == 'SUCCESS' or current == 'FAILURE' or current == 'REVOKED' then
          return 0
        end
        redis.call('DEL', KEYS[1])
        redis.call('HSET', KEYS[1], 'state', 'FAILURE', 'rec', ARGV[2])
        redis.call('PEXPIRE', KEYS[1], ARGV[1])
        redis.call('PUBLISH', ARGV[3], 'FAILURE')
        if ARGV[4] ~= '' then
          redis.call('PUBLISH', ARGV[4], ARGV[2])
        end
        return 1
        """;

    /// <summary>Writes a chord's join state: its member count, nothing counted, open, and its spec.</summary>
    // KEYS[1] -> P:{g:<group>}:g
    // ARGV[1] -> member count   ARGV[2] -> spec (callback, error callback, ids)   ARGV[3] -> TTL (ms)
    // Returns: 1
    public const string CreateGroup = """
        redis.call('DEL', KEYS[1])
        redis.call('HSET', KEYS[1], 'total', ARGV[1], 'done', 0, 'state', 'open', 'spec', ARGV[2])
        redis.call('PEXPIRE', KEYS[1], ARGV[3])
        return 1
        """;

    /// <summary>
    /// Counts one chord member's final outcome, once per member index however often it is repeated, and says where the
    /// chord stands: the callback is due exactly when the last success is counted, the chord fails with its first failure.
    /// </summary>
    // KEYS[1] -> P:{g:<group>}:g   KEYS[2] -> P:{g:<group>}:gr
    // ARGV[1] -> member index   ARGV[2] -> 'S' (success) or 'F' (failure)   ARGV[3] -> the value, or the failure   ARGV[4] -> TTL (ms)
    // Side effect: the first outcome of an index: HSETNX gr index value; a success HINCRBY done (state 'done' when it
    //              reaches total), the first failure sets state 'failed', fidx and ferr; both keys' TTL renewed
    // Returns: { 'gone' } when the group has no state; { 'open' }; { 'failed', spec, fidx, ferr };
    //          or { 'done', spec, value 0, value 1, ... } (the values in member order)
    public const string Join = """
        local total = tonumber(redis.call('HGET', KEYS[1], 'total'))
        if not total then
          return { 'gone' }
        end
        if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[3]) == 1 then
          if ARGV[2] == 'F' then
            if redis.call('HGET', KEYS[1], 'state') == 'open' then
              redis.call('HSET', KEYS[1], 'state', 'failed', 'fidx', ARGV[1], 'ferr', ARGV[3])
            end
          else
            local done = redis.call('HINCRBY', KEYS[1], 'done', 1)
            if done == total and redis.call('HGET', KEYS[1], 'state') == 'open' then
              redis.call('HSET', KEYS[1], 'state', 'done')
            end
          end
          redis.call('PEXPIRE', KEYS[1], ARGV[4])
          redis.call('PEXPIRE', KEYS[2], ARGV[4])
        end
        local state = redis.call('HGET', KEYS[1], 'state')
        if state == 'open' then
          return { 'open' }
        end
        local spec = redis.call('HGET', KEYS[1], 'spec')
        if state == 'failed' then
          return { 'failed', spec, redis.call('HGET', KEYS[1], 'fidx'), redis.call('HGET', KEYS[1], 'ferr') }
        end
        local out = { 'done', spec }
        local first = 0
        while first < total do
          local last = math.min(first + 999, total - 1)
          local fields = {}
          for i = first, last do
            fields[#fields + 1] = i
          end
          local values = redis.call('HMGET', KEYS[2], unpack(fields))
          for j = 1, #values do
            out[#out + 1] = values[j]
          end
          first = last + 1
        end
        return out
        """;

    /// <summary>Takes the outbox's follow-ups stored (or last taken) before a cut-off, marking them taken now: those a dead worker left behind.</summary>
    // KEYS[1] -> P:{q}:flow   KEYS[2] -> P:{q}:flowq
    // ARGV[1] -> cut-off (unix ms)   ARGV[2] -> now (unix ms)   ARGV[3] -> the most to take
    // Returns: { key, payload, key, payload, ... }; an index entry without its payload is dropped
    public const string ClaimFollowUps = """
        local keys = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
        local out = {}
        for i = 1, #keys do
          local payload = redis.call('HGET', KEYS[1], keys[i])
          if payload then
            redis.call('ZADD', KEYS[2], ARGV[2], keys[i])
            out[#out + 1] = keys[i]
            out[#out + 1] = payload
          else
            redis.call('ZREM', KEYS[2], keys[i])
          end
        end
        return out
        """;

    /// <summary>Removes carried-out follow-ups from the outbox.</summary>
    // KEYS[1] -> P:{q}:flow   KEYS[2] -> P:{q}:flowq
    // ARGV[1..] -> follow-up keys
    // Returns: how many were removed
    public const string RemoveFollowUps = """
        redis.call('ZREM', KEYS[2], unpack(ARGV))
        return redis.call('HDEL', KEYS[1], unpack(ARGV))
        """;
}
