namespace Celeriac.Redis;

internal static partial class RedisScripts
{
    /// <summary>Deletes up to ARGV[2] waiting messages of one queue, highest priority first (an operator's purge, in batches).</summary>
    // KEYS[1] -> P:{q}:pending:9 … KEYS[9] -> P:{q}:pending:1   KEYS[10] -> P:{q}:pending (priority 0)
    // ARGV[1] -> message hash prefix P:{q}:t:
    // ARGV[2] -> the most messages to delete in this call
    // Keys built here: P:{q}:t:<id> from ARGV[1], in the slot of KEYS[1] (same hash tag)
    // Returns: how many messages were deleted (0 when no list holds any)
    // Side effect: each id popped from its list loses its message hash; a list of another type is skipped
    public const string PurgeQueue = """
        local left = tonumber(ARGV[2])
        local n = 0
        for k = 1, #KEYS do
          while left > 0 do
            local ids = redis.pcall('RPOP', KEYS[k], math.min(left, 500))
            if type(ids) ~= 'table' or ids.err or #ids == 0 then
              break
            end
            for i = 1, #ids do
              redis.call('DEL', ARGV[1] .. ids[i])
            end
            n = n + #ids
            left = left - #ids
          end
        end
        return n
        """;
}
