using Microsoft.Extensions.Logging;

namespace Celeriac.Redis;

/// <summary>The Redis broker's log messages (event ids 3000–3099).</summary>
internal static partial class RedisLog
{
    [LoggerMessage(EventId = 3000, Level = LogLevel.Information, Message = "Connected to Redis at {Endpoints} (key prefix '{Prefix}')")]
    public static partial void Connected(ILogger logger, string endpoints, string prefix);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Warning, Message = "Dropped {Count} id(s) from queue '{Queue}' whose message was missing (orphaned ids)")]
    public static partial void OrphansDropped(ILogger logger, string queue, long count);

    [LoggerMessage(EventId = 3008, Level = LogLevel.Warning, Message = "Set aside {Count} message(s) of queue '{Queue}' whose bookkeeping fields were corrupt (dead letters with reason 'corrupt: ...')")]
    public static partial void CorruptSetAside(ILogger logger, string queue, long count);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Warning, Message = "The blocking wait for queues {Queues} failed; retrying after a short pause")]
    public static partial void BlockingWaitFailed(ILogger logger, Exception exception, string queues);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Warning, Message = "Redis connection failed ({FailureType}) at {Endpoint}")]
    public static partial void ConnectionFailed(ILogger logger, Exception? exception, string failureType, string endpoint);

    [LoggerMessage(EventId = 3005, Level = LogLevel.Information, Message = "Redis connection restored at {Endpoint}")]
    public static partial void ConnectionRestored(ILogger logger, string endpoint);

    [LoggerMessage(EventId = 3006, Level = LogLevel.Debug, Message = "Released {Released} of {Count} deliveries back to their queues")]
    public static partial void Released(ILogger logger, int released, int count);

    [LoggerMessage(EventId = 3007, Level = LogLevel.Warning, Message = "Could not return a wake-up token after a cancelled wait on {Key}")]
    public static partial void TokenReturnFailed(ILogger logger, Exception exception, string key);

    [LoggerMessage(EventId = 3008, Level = LogLevel.Warning, Message = "Could not hand back the {Count} messages a cancelled fetch leased on {Queue}; they come back after the visibility timeout")]
    public static partial void CancelledFetchNotReleased(ILogger logger, Exception exception, int count, string queue);

    [LoggerMessage(EventId = 3009, Level = LogLevel.Debug, Message = "A cancelled wait on {Key} ended without a reply ({Reason}): the connection closed or failed")]
    public static partial void CancelledWaitEnded(ILogger logger, string key, string reason);
}
