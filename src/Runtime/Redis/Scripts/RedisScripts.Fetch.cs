namespace Celeriac.Redis;

internal static partial class RedisScripts
{
    /// <summary>Promotes due scheduled messages, reclaims expired leases, then leases up to n messages of one queue.</summary>
    // KEYS[1] -> P:{q}:pending (priority p > 0 uses P:{q}:pending:p; higher p is served first, FIFO within p)
    // KEYS[2] -> P:{q}:active   KEYS[3] -> P:{q}:scheduled   KEYS[4] -> P:{q}:notify   KEYS[5] -> P:{q}:revoked
    // KEYS[6] -> P:{q}:dead
    // ARGV[1] -> now (unix ms)
    // ARGV[2] -> lease deadline (unix ms) given to the leased messages
    // ARGV[3] -> n, the most messages to lease
    // ARGV[4] -> message hash prefix P:{q}:t:
    // ARGV[5] -> worker id
    // ARGV[6] -> a suffix unique to this call (lease tokens are worker:dc:suffix)
    // ARGV[7] -> how many of the leased messages (the first ones) start at once: their run is counted here (HINCRBY runs)
    // ARGV[8] -> the largest message returned whole (bytes, 0 = no limit); a longer one is returned as its length (u32)
    //            followed by its first 4096 bytes, with flag 2 set, so that the worker refuses it unread
    // ARGV[9] -> result TTL (ms) of the FAILURE record written for a message set aside as corrupt (0: none written)
    // ARGV[10] -> done channel prefix P:done: (a corrupt message's waiters are told, as a completion tells them)
    // ARGV[11] -> the most message bytes to return (0 = no limit): once the messages leased so far reach it, the ids
    //             popped but not read yet go back to the tail they came from, in order (at least one message is leased)
    // Keys built here: P:{q}:t:<id> from ARGV[4], P:{q}:pending:p from KEYS[1], and P:{q}:r:<id> (KEYS[1] without its
    // "pending", then "r:<id>"), in the slot of KEYS[1] (same hash tag)
    // Side effect: leaves one wake-up token in notify when pending is still non-empty (cascade), none when drained.
    //              A message whose bookkeeping is corrupt (dc or runs not a count, pri not 0-9, msg missing, its key not
    //              a hash) is set aside in dead with reason "corrupt: ..." instead of being leased, promoted or reclaimed:
    //              every value read is checked before anything is changed for that message, and a call never fails
    //              after it has popped ids (a priority list of the wrong type is skipped; its ids stay where they were).
    //              A corrupt message gets a FAILURE result record (error type Celeriac.CorruptMessage, message the reason;
    //              docs/protocol.md "Result record") unless its result is final already, and PUBLISH P:done:<id> FAILURE
    // Returns: { orphans, next_due, leased, corrupt } where orphans counts popped ids whose message hash was missing
    //          (dropped), next_due is the earliest scheduled due time (unix ms) or -1, leased is one string holding every
    //          leased message, each packed (big-endian) as: flags (u8: 1 revoked, 2 oversized), runs (u32), dc (u32), id
    //          length (u32), id, token length (u32), token, msg length (u32), msg, and corrupt counts the messages set
    //          aside. One bulk reply instead of six per message: the client allocates one buffer per call and slices it.
    //          Flag 1 is set when the id is in P:{q}:revoked with a score after now (the worker records REVOKED, never runs
    //          it); flag 2 when msg is over ARGV[8] (see there); runs counts the runs started (by the start script, or by
    //          this script for the first ARGV[7] messages) since the message was stored or last retried, this
    //          delivery's own run not included
    public const string Fetch = """
        local now = tonumber(ARGV[1])
        local prefix = ARGV[4]
        local corrupt = 0
        -- A stored count (dc, runs): absent is 0; nil when it is not a decimal whole number HINCRBY and the u32 reply take.
        local function count(v)
          if not v then
            return 0
          end
          if #v > 10 or not string.match(v, '^%d+$') then
            return nil
          end
          local n = tonumber(v)
          if n > 2147483646 then
            return nil
          end
          return n
        end
        -- The list a message of this queue is runnable in, from its pri field; nil and why when the field is corrupt.
        local function listOf(id)
          local pri = redis.pcall('HGET', prefix .. id, 'pri')
          if type(pri) == 'table' then
            return nil, 'the message key is not a hash'
          end
          if not pri or pri == '0' then
            return KEYS[1]
          end
          if not string.match(pri, '^[1-9]$') then
            return nil, 'pri is not a priority (0-9)'
          end
          return KEYS[1] .. ':' .. pri
        end
        local resultTtl = tonumber(ARGV[9]) or 0
        -- Sets a corrupt message aside: in dead, with the reason in its hash (a key of another type is left as it is),
        -- and tells whoever waits for it: a FAILURE record (the layout RedisResultCodec writes: [1, id, state, task,
        -- retries, date_done, worker, value, exc_type, exc_message, traceback]) unless a final one is there already.
        local function setAside(id, reason)
          local key = prefix .. id
          redis.pcall('HDEL', key, 'lease')
          redis.pcall('HSET', key, 'reason', 'corrupt: ' .. reason, 'dead_at', now)
          redis.pcall('ZADD', KEYS[6], now, id)
          corrupt = corrupt + 1
          if resultTtl > 0 then
            local rkey = string.sub(KEYS[1], 1, #KEYS[1] - 7) .. 'r:' .. id
            local current = redis.pcall('HGET', rkey, 'state')
            if type(current) == 'table' then
              redis.call('DEL', rkey) -- a result key of another type is no record: replaced
              current = false
            end
            if current ~= 'SUCCESS' and current ~= 'FAILURE' and current ~= 'REVOKED' then
              local nilv = string.char(0xc0)
              local rec = string.char(0x9b) .. cmsgpack.pack(1) .. cmsgpack.pack(id) .. cmsgpack.pack('FAILURE') .. nilv
                .. cmsgpack.pack(0) .. cmsgpack.pack(now) .. nilv .. nilv .. cmsgpack.pack('Celeriac.CorruptMessage')
                .. cmsgpack.pack('corrupt: ' .. reason) .. nilv
              redis.call('HSET', rkey, 'state', 'FAILURE', 'rec', rec)
              redis.call('PEXPIRE', rkey, resultTtl)
              redis.call('PUBLISH', ARGV[10] .. id, 'FAILURE')
            end
          end
        end
        local due = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 1000)
        if #due > 0 then
          local moved = {}
          for i = #due, 1, -1 do
            local id = due[i]
            local list, reason = listOf(id)
            if not list then
              setAside(id, reason)
              moved[#moved + 1] = id
            elseif type(redis.pcall('RPUSH', list, id)) == 'number' then
              moved[#moved + 1] = id
            end
          end
          if #moved > 0 then
            redis.call('ZREM', KEYS[3], unpack(moved))
          end
        end
        local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 1000)
        if #expired > 0 then
          local moved = {}
          for i = #expired, 1, -1 do
            local id = expired[i]
            if redis.call('EXISTS', prefix .. id) == 1 then
              local list, reason = listOf(id)
              if not list then
                setAside(id, reason)
                moved[#moved + 1] = id
              elseif type(redis.pcall('RPUSH', list, id)) == 'number' then
                redis.call('HDEL', prefix .. id, 'lease')
                moved[#moved + 1] = id
              end
            else
              moved[#moved + 1] = id
            end
          end
          if #moved > 0 then
            redis.call('ZREM', KEYS[2], unpack(moved))
          end
        end
        local out = { 0, -1, '', 0 }
        local packed = {}
        local orphans = 0
        local want = tonumber(ARGV[3])
        local leases = {}
        local startLeft = tonumber(ARGV[7])
        local maxBytes = tonumber(ARGV[8]) or 0
        local byteCap = tonumber(ARGV[11]) or 0
        local bytes = 0
        local revokedCount = redis.pcall('ZCARD', KEYS[5])
        local anyRevoked = type(revokedCount) == 'number' and revokedCount > 0
        -- One EXISTS over the nine priority lists (after the promotions above, which may fill them): most queues use
        -- none, and then neither the pops below nor the length check at the end touch them.
        local pk9 = KEYS[1] .. ':'
        local anyPriority = redis.call('EXISTS', pk9 .. 9, pk9 .. 8, pk9 .. 7, pk9 .. 6, pk9 .. 5, pk9 .. 4, pk9 .. 3, pk9 .. 2, pk9 .. 1) > 0
        for p = 9, 0, -1 do
          if want <= 0 then
            break
          end
          local pk = KEYS[1]
          if p > 0 then
            pk = KEYS[1] .. ':' .. p
          end
          local ids = false
          if p == 0 or anyPriority then
            ids = redis.pcall('RPOP', pk, want)
          end
          if type(ids) == 'table' and not ids.err then
            want = want - #ids
          else
            ids = {}
          end
          for i = 1, #ids do
            local id = ids[i]
            local key = prefix .. id
            local fields = redis.pcall('HMGET', key, 'msg', 'runs', 'dc')
            local msg, runs, dc, reason = false, 0, 0, nil
            if fields.err then
              reason = 'the message key is not a hash'
            else
              msg = fields[1]
              runs = count(fields[2])
              dc = count(fields[3])
              if not msg then
                if redis.call('EXISTS', key) == 1 then
                  reason = 'msg is missing'
                end
              elseif not dc then
                reason = 'dc is not a number'
              elseif not runs then
                reason = 'runs is not a number'
              end
            end
            if reason then
              setAside(id, reason)
            elseif msg then
              dc = dc + 1
              local token = ARGV[5] .. ':' .. dc .. ':' .. ARGV[6]
              if startLeft > 0 then
                redis.call('HSET', key, 'dc', dc, 'lease', token, 'runs', runs + 1)
                startLeft = startLeft - 1
              else
                redis.call('HSET', key, 'dc', dc, 'lease', token)
              end
              leases[#leases + 1] = ARGV[2]
              leases[#leases + 1] = id
              local revoked = 0
              if anyRevoked then
                local rv = redis.call('ZSCORE', KEYS[5], id)
                if rv and tonumber(rv) > now then
                  revoked = 1
                end
              end
              local flags = revoked
              if maxBytes > 0 and #msg > maxBytes then
                flags = flags + 2
                msg = struct.pack('>I4', #msg) .. string.sub(msg, 1, 4096)
              end
              packed[#packed + 1] = struct.pack('>BI4I4I4c0I4c0I4c0', flags, runs, dc, #id, id, #token, token, #msg, msg)
              bytes = bytes + #msg
            else
              orphans = orphans + 1
            end
            if byteCap > 0 and bytes >= byteCap then
              -- The worker's memory budget is reached: the rest of this pop goes back unread, in its order.
              for j = #ids, i + 1, -1 do
                redis.call('RPUSH', pk, ids[j])
              end
              want = 0
              break
            end
          end
        end
        out[1] = orphans
        out[3] = table.concat(packed)
        out[4] = corrupt
        if #leases > 0 then
          redis.call('ZADD', KEYS[2], unpack(leases))
        end
        local left = redis.pcall('LLEN', KEYS[1])
        if type(left) ~= 'number' then
          left = 0
        end
        for p = 1, 9 do
          if left > 0 or not anyPriority then
            break
          end
          left = redis.pcall('LLEN', KEYS[1] .. ':' .. p)
          if type(left) ~= 'number' then
            left = 0
          end
        end
        if left > 0 then
          local tokens = redis.pcall('LLEN', KEYS[4])
          if type(tokens) ~= 'number' then
            redis.call('DEL', KEYS[4])
            tokens = 0
          end
          if tokens == 0 then
            redis.call('LPUSH', KEYS[4], '1')
          end
        else
          -- Drained: a token left now would end the next blocking wait at once for nothing. Safe to drop: a worker
          -- blocked when it was pushed already took it, and one that is not blocked runs this script (and learns
          -- the next due time) before it blocks.
          redis.call('DEL', KEYS[4])
        end
        local first = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
        if first[2] then
          out[2] = tonumber(first[2])
        end
        return out
        """;

    /// <summary>Extends the leases still held by the given deliveries of one queue.</summary>
    // KEYS[1] -> P:{q}:active
    // ARGV[1] -> new lease deadline (unix ms)
    // ARGV[2] -> message hash prefix P:{q}:t:
    // ARGV[3], ARGV[4] -> id, lease token (repeated for each delivery)
    // Keys built here: P:{q}:t:<id> from ARGV[2], in the slot of KEYS[1] (same hash tag)
    // Returns: how many leases were still held (and extended)
    public const string ExtendLeases = """
        local held = 0
        for i = 3, #ARGV, 2 do
          local id = ARGV[i]
          if redis.pcall('HGET', ARGV[2] .. id, 'lease') == ARGV[i + 1] then
            redis.call('ZADD', KEYS[1], 'XX', ARGV[1], id)
            held = held + 1
          end
        end
        return held
        """;

    /// <summary>Reschedules a leased message for a retry (fenced): new envelope, delivery count reset, RETRY state written.</summary>
    // KEYS[1] -> P:{q}:t:<id>   KEYS[2] -> P:{q}:active   KEYS[3] -> P:{q}:scheduled   KEYS[4] -> P:{q}:r:<id>   KEYS[5] -> P:{q}:notify
    // ARGV[1] -> lease token
    // ARGV[2] -> task id
    // ARGV[3] -> the retry's envelope bytes (retries + 1)
    // ARGV[4] -> due time of the retry (unix ms)
    // ARGV[5] -> result TTL (ms)
    // ARGV[6] -> the RETRY state's result record (RedisResultCodec)
    // Returns: 1 when rescheduled; 0 when the lease is no longer held (nothing changed)
    public const string Retry = """
        if redis.pcall('HGET', KEYS[1], 'lease') ~= ARGV[1] then
          return 0
        end
        redis.call('HSET', KEYS[1], 'msg', ARGV[3], 'dc', 0)
        redis.call('HDEL', KEYS[1], 'lease', 'runs')
        redis.call('ZREM', KEYS[2], ARGV[2])
        redis.call('ZADD', KEYS[3], ARGV[4], ARGV[2])
        local current = redis.pcall('HGET', KEYS[4], 'state')
        if type(current) == 'table' then
          redis.call('DEL', KEYS[4]) -- a result key of another type is no record: replaced
          current = false
        end
        if current ~= 'SUCCESS' and current ~= 'FAILURE' and current ~= 'REVOKED' then
          redis.call('HSET', KEYS[4], 'state', 'RETRY', 'rec', ARGV[6])
          redis.call('PEXPIRE', KEYS[4], ARGV[5])
        end
        local tokens = redis.pcall('LLEN', KEYS[5])
        if type(tokens) ~= 'number' then
          redis.call('DEL', KEYS[5]) -- a key of another type: replaced by a token
          tokens = 0
        end
        if tokens == 0 then
          redis.call('LPUSH', KEYS[5], '1')
        end
        return 1
        """;

    /// <summary>Records a revocation in one revoked set (trimming forgotten ones) and, when asked, announces it to running workers.</summary>
    // KEYS[1] -> P:{q}:revoked, or P:revoked (every revocation, copied into the set of a queue registered later)
    // ARGV[1] -> task id
    // ARGV[2] -> when the revocation may be forgotten (unix ms)
    // ARGV[3] -> now (unix ms)
    // ARGV[4] -> channel P:revoke, or "" to publish nothing (the caller publishes once over all the sets it writes)
    // Returns: 1
    public const string Revoke = """
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
        redis.call('ZADD', KEYS[1], 'GT', ARGV[2], ARGV[1])
        if ARGV[4] ~= '' then
          redis.call('PUBLISH', ARGV[4], ARGV[1])
        end
        return 1
        """;

    /// <summary>Hands one leased message back to the front of its queue (fenced by its lease token).</summary>
    // KEYS[1] -> P:{q}:t:<id>   KEYS[2] -> P:{q}:active   KEYS[3] -> P:{q}:pending (priority p > 0: pending:p)   KEYS[4] -> P:{q}:notify
    // KEYS[5] -> P:{q}:dead   KEYS[6] -> P:{q}:r:<id>
    // ARGV[1] -> lease token
    // ARGV[2] -> task id
    // ARGV[3] -> "1" when the delivery's run was started (its run is uncounted: interrupted, not crashed), else "0"
    // ARGV[4] -> now (unix ms)
    // ARGV[5] -> result TTL (ms) of the FAILURE record of a message set aside as corrupt
    // ARGV[6] -> the channel P:done:<id>
    // Side effect: a message whose runs or pri field is corrupt is set aside in dead (reason "corrupt: ...", with a
    //              FAILURE record and a PUBLISH on P:done:<id> as the fetch script writes them) instead
    // Returns: 1 when released (or set aside); 0 when the lease is no longer held (nothing changed)
    public const string Release = """
        local f = redis.pcall('HMGET', KEYS[1], 'lease', 'runs', 'pri')
        if f.err or f[1] ~= ARGV[1] then
          return 0
        end
        local runs, pri = f[2], f[3]
        local reason = nil
        if runs and (#runs > 10 or not string.match(runs, '^%d+$')) then
          reason = 'runs is not a number'
        elseif pri and not string.match(pri, '^[0-9]$') then
          reason = 'pri is not a priority (0-9)'
        end
        if reason then
          redis.call('ZADD', KEYS[5], ARGV[4], ARGV[2])
          redis.call('ZREM', KEYS[2], ARGV[2])
          redis.call('HDEL', KEYS[1], 'lease')
          redis.call('HSET', KEYS[1], 'reason', 'corrupt: ' .. reason, 'dead_at', ARGV[4])
          local current = redis.pcall('HGET', KEYS[6], 'state')
          if type(current) == 'table' then
            redis.call('DEL', KEYS[6])
            current = false
          end
          if current ~= 'SUCCESS' and current ~= 'FAILURE' and current ~= 'REVOKED' then
            local nilv = string.char(0xc0)
            local rec = string.char(0x9b) .. cmsgpack.pack(1) .. cmsgpack.pack(ARGV[2]) .. cmsgpack.pack('FAILURE') .. nilv
              .. cmsgpack.pack(0) .. cmsgpack.pack(tonumber(ARGV[4])) .. nilv .. nilv .. cmsgpack.pack('Celeriac.CorruptMessage')
              .. cmsgpack.pack('corrupt: ' .. reason) .. nilv
            redis.call('HSET', KEYS[6], 'state', 'FAILURE', 'rec', rec)
            redis.call('PEXPIRE', KEYS[6], ARGV[5])
            redis.call('PUBLISH', ARGV[6], 'FAILURE')
          end
          return 1
        end
        local list = KEYS[3]
        if pri and pri ~= '0' then
          list = KEYS[3] .. ':' .. pri
        end
        local pushed = redis.pcall('RPUSH', list, ARGV[2])
        if type(pushed) ~= 'number' then
          return pushed -- the list is of another type: the error, and nothing changed (the lease lapses as usual)
        end
        redis.call('ZREM', KEYS[2], ARGV[2])
        redis.call('HDEL', KEYS[1], 'lease')
        if ARGV[3] == '1' and runs and tonumber(runs) > 0 then
          redis.call('HINCRBY', KEYS[1], 'runs', -1)
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
