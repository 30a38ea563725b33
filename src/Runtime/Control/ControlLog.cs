using Microsoft.Extensions.Logging;

namespace Celeriac.Control;

/// <summary>The worker registry's and the command listener's log lines (event ids 2500–2519).</summary>
internal static partial class ControlLog
{
    [LoggerMessage(2500, LogLevel.Warning, "Celeriac worker {Worker}: its registry heartbeat failed ({Error}); it stays listed until its entry expires, and retries in {IntervalMs} ms")]
    public static partial void HeartbeatFailed(ILogger logger, string worker, string error, long intervalMs);

    [LoggerMessage(2501, LogLevel.Warning, "Celeriac worker {Worker}: reading or answering control commands failed ({Error}); it looks again at its next heartbeat")]
    public static partial void CommandsFailed(ILogger logger, string worker, string error);

    [LoggerMessage(2502, LogLevel.Information, "Celeriac worker {Worker}: control command {Command} {Argument}: {Outcome}")]
    public static partial void CommandRun(ILogger logger, string worker, string command, string argument, string outcome);

    [LoggerMessage(2503, LogLevel.Debug, "Celeriac worker {Worker}: control command {Command} dropped, its sender stopped waiting {LateMs} ms ago")]
    public static partial void CommandExpired(ILogger logger, string worker, string command, long lateMs);

    [LoggerMessage(2504, LogLevel.Warning, "Celeriac worker {Worker}: could not remove itself from the worker registry ({Error}); its entry expires by itself")]
    public static partial void RemoveFailed(ILogger logger, string worker, string error);
}
