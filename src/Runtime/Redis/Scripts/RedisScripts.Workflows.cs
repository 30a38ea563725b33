namespace Celeriac.Redis;

internal static partial class RedisScripts
{
    /// <summary>
    /// Completes tasks of a workflow: as CompleteMany does (each id fenced on its own, result, ack, notify), and in the
    /// same step puts each completed task's follow-ups (the chain's next step, the chord member's count) in the queue's
    /// outbox, so that a worker killed after this call loses nothing: the outbox is carried out by whoever sweeps it.
    /// </summary>
    // KEYS[1] -> P:{q}:active   KEYS[2] -> P:{q}:flow   KEYS[3] -> P:{q}:flowq
    // ARGV[1] -> result TTL (ms)   ARGV[2] -> message hash prefix P:{q}:t:   ARGV[3] -> done channel prefix P:done:
    // ARGV[4] -> result hash prefix P:{q}:r:   ARGV[5] -> now (unix ms)
    // ARGV[6..] -> per item: id, lease token, reply channel or "", state name, result record, k, then k pairs (follow-up key, payload)
    // Keys built here: P:{q}:t:<id> and P:{q}:r:<id> from the prefixes, in the slot of KEYS[1] (same hash tag)
    // Side effect: per completed id, HSET P:{q}:r:<id> state rec, PEXPIRE, ZREM active, DEL the message, HSET flow key
    //              payload and ZADD flowq now key per follow-up, PUBLISH done (and reply)
    // Returns: one string with a character per item, '1' when completed, '0' when that lease is no longer held (nothing
    //          changed for that id)
    public const string CompleteFlow = """
        local out = {}
        local i = 6
        while i <= #ARGV do
          local id = ARGV[i]
          local key = ARGV[2] .. id
          local k = tonumber(ARGV[i + 5])
          if redis.pcall('HGET', key, 'lease') == ARGV[i + 1] then
            local rkey = ARGV[4] .. id
            if type(redis.pcall('HSET', rkey, 'state', ARGV[i + 3], 'rec', ARGV[i + 4])) == 'table' then
              redis.call('DEL', rkey) -- a result key of another type is no record: replaced
              redis.call('HSET', rkey, 'state', ARGV[i + 3], 'rec', ARGV[i + 4])
            end
            redis.call('PEXPIRE', rkey, ARGV[1])
            redis.call('ZREM', KEYS[1], id)
            redis.call('DEL', key)
            for j = 1, k do
              local at = i + 4 + (2 * j)
              redis.call('HSET', KEYS[2], ARGV[at], ARGV[at + 1])
              redis.call('ZADD', KEYS[3], ARGV[5], ARGV[at])
            end
            redis.call('PUBLISH', ARGV[3] .. id, ARGV[i + 3])
            if ARGV[i + 2] ~= '' then
              redis.call('PUBLISH', ARGV[i + 2], ARGV[i + 4])
            end
            out[#out + 1] = '1'
          else
            out[#out + 1] = '0'
          end
          i = i + 6 + (2 * k)
        end
        return table.concat(out)
        """;

    /// <summary>
    /// Sets a workflow task aside as a dead letter (as DeadLetter does, with its FAILURE result) and, in the same step,
    /// puts its follow-ups (the workflow's failure) in the queue's outbox.
    /// </summary>
    // KEYS[1] -> P:{q}:t:<id>   KEYS[2] -> P:{q}:active   KEYS[3] -> P:{q}:dead   KEYS[4] -> P:{q}:r:<id>
    // KEYS[5] -> P:{q}:flow   KEYS[6] -> P:{q}:flowq
    // ARGV[1] -> lease token   ARGV[2] -> task id   ARGV[3] -> reason   ARGV[4] -> now (unix ms)   ARGV[5] -> result TTL (ms)
    // ARGV[6] -> channel P:done:<id>   ARGV[7] -> the sender's reply channel, or ""   ARGV[8] -> the FAILURE record
    // ARGV[9..] -> per follow-up: key, payload
    // Returns: 1 when dead-lettered; 0 when the lease is no longer held (nothing changed)
    public const string DeadLetterFlow = """
        if redis.pcall('HGET', KEYS[1], 'lease') ~= ARGV[1] then
          return 0
        end
        redis.call('ZADD', KEYS[3], ARGV[4], ARGV[2]) -- first: a dead set of another type fails the call with nothing changed
        redis.call('ZREM', KEYS[2], ARGV[2])
        redis.call('HDEL', KEYS[1], 'lease')
        redis.call('HSET', KEYS[1], 'reason', ARGV[3], 'dead_at', ARGV[4])
        if type(redis.pcall('HSET', KEYS[4], 'state', 'FAILURE', 'rec', ARGV[8])) == 'table' then
          redis.call('DEL', KEYS[4]) -- a result key of another type is no record: replaced
          redis.call('HSET', KEYS[4], 'state', 'FAILURE', 'rec', ARGV[8])
        end
        redis.call('PEXPIRE', KEYS[4], ARGV[5])
        for i = 9, #ARGV, 2 do
          redis.call('HSET', KEYS[5], ARGV[i], ARGV[i + 1])
          redis.call('ZADD', KEYS[6], ARGV[4], ARGV[i])
        end
        redis.call('PUBLISH', ARGV[6], 'FAILURE')
        if ARGV[7] ~= '' then
          redis.call('PUBLISH', ARGV[7], ARGV[8])
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

    /// <summary>
    /// Records a final result unless the task already has one: a workflow's last step failed by an earlier one, or a
    /// group step's results recorded as one array (its SUCCESS).
    /// </summary>
    // KEYS[1] -> P:{q}:r:<id>
    // ARGV[1] -> result TTL (ms)   ARGV[2] -> the record   ARGV[3] -> done channel P:done:<id>   ARGV[4] -> reply channel or ""
    // ARGV[5] -> its state ('FAILURE' or 'SUCCESS')
    // Returns: 1 when recorded, 0 when the result was already final
    public const string RecordOnce = """
        local current = redis.pcall('HGET', KEYS[1], 'state')
        if current == 'SUCCESS' or current == 'FAILURE' or current == 'REVOKED' then
          return 0
        end
        redis.call('DEL', KEYS[1])
        redis.call('HSET', KEYS[1], 'state', ARGV[5], 'rec', ARGV[2])
        redis.call('PEXPIRE', KEYS[1], ARGV[1])
        redis.call('PUBLISH', ARGV[3], ARGV[5])
        if ARGV[4] ~= '' then
          redis.call('PUBLISH', ARGV[4], ARGV[2])
        end
        return 1
        """;

    /// <summary>Writes a chord's join state: its member count, nothing counted, open, and its spec.</summary>
    // KEYS[1] -> P:{g:<group>}:g
    // ARGV[1] -> member count   ARGV[2] -> spec (callback, error callback, ids)   ARGV[3] -> TTL (ms)
    // ARGV[4] -> "1" to leave an existing state alone (a group step's fan-out, repeated after a crash), else "0"
    // Returns: 1 when written, 0 when left alone
    public const string CreateGroup = """
        if ARGV[4] == '1' and redis.call('EXISTS', KEYS[1]) == 1 then
          return 0
        end
        redis.call('DEL', KEYS[1])
        redis.call('HSET', KEYS[1], 'total', ARGV[1], 'done', 0, 'state', 'open', 'spec', ARGV[2])
        redis.call('PEXPIRE', KEYS[1], ARGV[3])
        return 1
        """;

    /// <summary>
    /// Counts chord members' final outcomes, once per member index however often one is repeated, and says where the
    /// chord stands: the callback is due exactly when the last success is counted, the chord fails with its first failure.
    /// </summary>
    // KEYS[1] -> P:{g:<group>}:g   KEYS[2] -> P:{g:<group>}:gr
    // ARGV[1] -> TTL (ms)   ARGV[2..] -> per member: index, 'S' (success) or 'F' (failure), the value or the failure
    // Side effect: the first outcome of an index: HSETNX gr index value; a success HINCRBY done (state 'done' when it
    //              reaches total), the first failure sets state 'failed', fidx and ferr; both keys' TTL renewed
    // Returns: { 'gone' } when the group has no state; { 'open' }; { 'failed', spec, fidx, ferr };
    //          or { 'done', spec, value 0, value 1, ... } (the values in member order)
    public const string Join = """
        local total = tonumber(redis.call('HGET', KEYS[1], 'total'))
        if not total then
          return { 'gone' }
        end
        local counted = false
        for i = 2, #ARGV, 3 do
          if redis.call('HSETNX', KEYS[2], ARGV[i], ARGV[i + 2]) == 1 then
            counted = true
            if ARGV[i + 1] == 'F' then
              if redis.call('HGET', KEYS[1], 'state') == 'open' then
                redis.call('HSET', KEYS[1], 'state', 'failed', 'fidx', ARGV[i], 'ferr', ARGV[i + 2])
              end
            else
              local done = redis.call('HINCRBY', KEYS[1], 'done', 1)
              if done == total and redis.call('HGET', KEYS[1], 'state') == 'open' then
                redis.call('HSET', KEYS[1], 'state', 'done')
              end
            end
          end
        end
        if counted then
          redis.call('PEXPIRE', KEYS[1], ARGV[1])
          redis.call('PEXPIRE', KEYS[2], ARGV[1])
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

    /// <summary>Writes a batch's state: every member pending, open, and its spec.</summary>
    // KEYS[1] -> P:{g:<batch>}:b   KEYS[2] -> P:{g:<batch>}:bm
    // ARGV[1] -> TTL (ms)   ARGV[2] -> spec (callbacks)   ARGV[3..] -> member ids
    // Returns: 1
    public const string CreateBatch = """
        redis.call('DEL', KEYS[1], KEYS[2])
        local n = #ARGV - 2
        redis.call('HSET', KEYS[1], 'total', n, 'pending', n, 'ok', 0, 'fail', 0, 'state', 'open', 'spec', ARGV[2])
        for i = 3, #ARGV do
          redis.call('HSET', KEYS[2], ARGV[i], 'P')
        end
        redis.call('PEXPIRE', KEYS[1], ARGV[1])
        if n > 0 then
          redis.call('PEXPIRE', KEYS[2], ARGV[1])
        end
        return 1
        """;

    /// <summary>Adds members to an open batch, each id once.</summary>
    // KEYS[1] -> P:{g:<batch>}:b   KEYS[2] -> P:{g:<batch>}:bm
    // ARGV[1] -> TTL (ms)   ARGV[2..] -> member ids
    // Side effect: per id not yet in bm: HSET bm id 'P', HINCRBY total 1 and pending 1; both keys' TTL renewed
    // Returns: 1 when the batch is open (the ids are counted), 0 when it is complete or gone (nothing changed)
    public const string AddToBatch = """
        if redis.call('HGET', KEYS[1], 'state') ~= 'open' then
          return 0
        end
        for i = 2, #ARGV do
          if redis.call('HSETNX', KEYS[2], ARGV[i], 'P') == 1 then
            redis.call('HINCRBY', KEYS[1], 'total', 1)
            redis.call('HINCRBY', KEYS[1], 'pending', 1)
          end
        end
        redis.call('PEXPIRE', KEYS[1], ARGV[1])
        redis.call('PEXPIRE', KEYS[2], ARGV[1])
        return 1
        """;

    /// <summary>
    /// Counts batch members' final outcomes, once per id however often one is repeated; completes the batch when
    /// nothing is pending (its callbacks are then due, exactly once: the caller sends them with send-once).
    /// </summary>
    // KEYS[1] -> P:{g:<batch>}:b   KEYS[2] -> P:{g:<batch>}:bm
    // ARGV[1] -> TTL (ms)   ARGV[2] -> the channel P:batchdone:<batch>   ARGV[3..] -> per member: id, 'S' (success) or 'F' (failure)
    // Side effect: an id pending ('P') becomes 'S'/'F': pending - 1, ok or fail + 1; an id not in bm while the batch is
    //              open (its adder had not recorded it yet) is set 'S'/'F' with total + 1 and ok or fail + 1; a repeat,
    //              or an unknown id of a complete batch, changes nothing; pending 0 sets state 'done' and publishes to
    //              ARGV[2] (once: only the call that completes it); TTLs renewed
    // Returns: { 'gone' } when the batch has no state, else { state, total, pending, ok, fail, spec }
    public const string JoinBatch = """
        local state = redis.call('HGET', KEYS[1], 'state')
        if not state then
          return { 'gone' }
        end
        for i = 3, #ARGV, 2 do
          local field = 'fail'
          if ARGV[i + 1] == 'S' then
            field = 'ok'
          end
          local current = redis.call('HGET', KEYS[2], ARGV[i])
          if current == 'P' then
            redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
            redis.call('HINCRBY', KEYS[1], 'pending', -1)
            redis.call('HINCRBY', KEYS[1], field, 1)
          elseif not current and state == 'open' then
            redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
            redis.call('HINCRBY', KEYS[1], 'total', 1)
            redis.call('HINCRBY', KEYS[1], field, 1)
          end
        end
        local f = redis.call('HMGET', KEYS[1], 'total', 'pending', 'ok', 'fail', 'spec')
        if state == 'open' and tonumber(f[2]) <= 0 then
          state = 'done'
          redis.call('HSET', KEYS[1], 'state', 'done')
          redis.call('PUBLISH', ARGV[2], 'done')
        end
        redis.call('PEXPIRE', KEYS[1], ARGV[1])
        redis.call('PEXPIRE', KEYS[2], ARGV[1])
        return { state, f[1], f[2], f[3], f[4], f[5] }
        """;
}
