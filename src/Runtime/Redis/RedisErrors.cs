using StackExchange.Redis;

namespace Celeriac.Redis;

/// <summary>
/// What a StackExchange.Redis error means for the caller. The Redis broker translates here, so that the client and the
/// worker only ever see broker-neutral exceptions (<see cref="BrokerUnavailableException"/>) and no Redis type.
/// </summary>
internal static class RedisErrors
{
    /// <summary>Redis is unreachable, stalled, or not accepting writes now (restarting, failing over, busy), as opposed to a bug.</summary>
    public static bool IsUnavailable(Exception ex)
        => ex is RedisConnectionException or RedisTimeoutException || IsUnavailableReply(ex);

    /// <summary>Server replies that mean "not now" (restarting, failing over, busy).</summary>
    private static bool IsUnavailableReply(Exception ex)
        => ex is RedisServerException { Message: { } message }
           && (message.StartsWith("LOADING", StringComparison.Ordinal) || message.StartsWith("READONLY", StringComparison.Ordinal)
               || message.StartsWith("MASTERDOWN", StringComparison.Ordinal) || message.StartsWith("BUSY", StringComparison.Ordinal)
               || message.StartsWith("TRYAGAIN", StringComparison.Ordinal) || message.StartsWith("CLUSTERDOWN", StringComparison.Ordinal)
               || message.StartsWith("NOREPLICAS", StringComparison.Ordinal));

    /// <summary>The broker-neutral exception for a send Redis did not confirm.</summary>
    public static BrokerUnavailableException Unconfirmed(IReadOnlyList<Brokers.EnqueueItem> items, Exception inner)
    {
        string[] ids = new string[items.Count];
        for (int i = 0; i < ids.Length; i++)
        {
            ids[i] = items[i].Id;
        }

        return new BrokerUnavailableException(ids, inner);
    }
}
