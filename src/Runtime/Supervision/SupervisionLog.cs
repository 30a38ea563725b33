using Microsoft.Extensions.Logging;

namespace Celeriac.Supervision;

internal static partial class SupervisionLog
{
    [LoggerMessage(2600, LogLevel.Information, "Celeriac supervisor (pid {Pid}) starting {Count} worker processes: {FileName} with {ArgumentCount} arguments")]
    public static partial void Starting(ILogger logger, int pid, int count, string fileName, int argumentCount);

    [LoggerMessage(2601, LogLevel.Information, "Celeriac supervisor: child {Index} started (pid {Pid})")]
    public static partial void ChildStarted(ILogger logger, int index, int pid);

    [LoggerMessage(2602, LogLevel.Information, "Celeriac supervisor: child {Index} (pid {Pid}) is recycling; its replacement starts now")]
    public static partial void Recycling(ILogger logger, int index, int pid);

    [LoggerMessage(2603, LogLevel.Information, "Celeriac supervisor: child {Index} (pid {Pid}) exited after recycling (exit code {ExitCode})")]
    public static partial void Recycled(ILogger logger, int index, int pid, int exitCode);

    [LoggerMessage(2604, LogLevel.Error, "Celeriac supervisor: child {Index} (pid {Pid}) crashed with exit code {ExitCode} after {LivedMs} ms; restarting in {DelayMs} ms ({Crashes} crashes in a row at start)")]
    public static partial void Crashed(ILogger logger, int index, int pid, int exitCode, long livedMs, long delayMs, int crashes);

    [LoggerMessage(2605, LogLevel.Information, "Celeriac supervisor: child {Index} (pid {Pid}) stopped by itself (exit code 0); not replaced")]
    public static partial void ChildStoppedItself(ILogger logger, int index, int pid);

    [LoggerMessage(2606, LogLevel.Information, "Celeriac supervisor stopping: {Count} worker processes asked to stop; waiting up to {TimeoutMs} ms")]
    public static partial void Stopping(ILogger logger, int count, long timeoutMs);

    [LoggerMessage(2607, LogLevel.Warning, "Celeriac supervisor: child {Index} (pid {Pid}) did not stop within {TimeoutMs} ms; killed")]
    public static partial void Killed(ILogger logger, int index, int pid, long timeoutMs);

    [LoggerMessage(2608, LogLevel.Information, "Celeriac supervisor stopped")]
    public static partial void Stopped(ILogger logger);

    [LoggerMessage(2609, LogLevel.Error, "Celeriac supervisor: child {Index} could not be started; retrying in {DelayMs} ms")]
    public static partial void StartFailed(ILogger logger, Exception exception, int index, long delayMs);

    [LoggerMessage(2610, LogLevel.Information, "Celeriac supervisor: every worker process stopped by itself; the supervisor stops")]
    public static partial void AllStopped(ILogger logger);

    [LoggerMessage(2620, LogLevel.Information, "Celeriac worker {Worker} recycling: {Reason}. It fetches no more, finishes or hands back what it holds, and exits with code {ExitCode}")]
    public static partial void WorkerRecycling(ILogger logger, string worker, string reason, int exitCode);

    [LoggerMessage(2621, LogLevel.Information, "Celeriac worker process {Index}: its supervisor's pipe closed (the supervisor stopped or died); stopping")]
    public static partial void SupervisorGone(ILogger logger, int index);
}
