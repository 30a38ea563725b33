using Celeriac.Protocol;
using Celeriac.Worker;
using Microsoft.Extensions.Logging;

namespace Celeriac.Middleware;

/// <summary>
/// Calls the registered <see cref="CeleriacMiddleware"/> in order ("before" hooks) or in reverse ("after" hooks), and
/// keeps a hook's exception from reaching the worker (logged, the next middleware still called). Callers test
/// <see cref="Any"/> first: with none registered the hot path makes no call and allocates nothing.
/// </summary>
internal sealed partial class MiddlewarePipeline
{
    private readonly CeleriacMiddleware[] _middleware;
    private readonly ILogger _logger;

    /// <param name="middleware">The middleware, in registration order.</param>
    /// <param name="logger">Where a hook's exception is logged.</param>
    public MiddlewarePipeline(IEnumerable<CeleriacMiddleware> middleware, ILogger logger)
    {
        _middleware = [.. middleware];
        _logger = logger;
    }

    /// <summary>An empty pipeline.</summary>
    public static MiddlewarePipeline None { get; } = new([], Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);

    /// <summary>Whether any middleware is registered.</summary>
    public bool Any => _middleware.Length != 0;

    /// <summary>Runs every <see cref="CeleriacMiddleware.OnSending"/> in order; an exception refuses the send (it propagates).</summary>
    public SendingTask Sending(string taskId, string taskName, string queue, IDictionary<string, string>? headers)
    {
        var task = new SendingTask(taskId, taskName, queue, headers is { Count: > 0 } ? new Dictionary<string, string>(headers, StringComparer.Ordinal) : null);
        foreach (CeleriacMiddleware middleware in _middleware)
        {
            middleware.OnSending(task);
        }

        return task;
    }

    /// <summary>Runs every <see cref="CeleriacMiddleware.OnSent"/> in reverse order; exceptions are logged and dropped (the message was sent, or its failure is already the caller's).</summary>
    public void Sent(SendingTask task, Exception? error)
    {
        for (int i = _middleware.Length - 1; i >= 0; i--)
        {
            try
            {
                _middleware[i].OnSent(task, error);
            }
            catch (Exception ex)
            {
                HookFailed(_logger, ex, _middleware[i].GetType().Name, nameof(CeleriacMiddleware.OnSent), task.TaskId);
            }
        }
    }

    /// <summary>Runs every <see cref="CeleriacMiddleware.OnRunning"/> in order.</summary>
    public void Running(TaskContext context)
    {
        foreach (CeleriacMiddleware middleware in _middleware)
        {
            try
            {
                middleware.OnRunning(context);
            }
            catch (Exception ex)
            {
                HookFailed(_logger, ex, middleware.GetType().Name, nameof(CeleriacMiddleware.OnRunning), context.TaskId);
            }
        }
    }

    /// <summary>Runs every <see cref="CeleriacMiddleware.OnRan"/> in reverse order.</summary>
    public void Ran(TaskContext context, Exception? error)
    {
        for (int i = _middleware.Length - 1; i >= 0; i--)
        {
            try
            {
                _middleware[i].OnRan(context, error);
            }
            catch (Exception ex)
            {
                HookFailed(_logger, ex, _middleware[i].GetType().Name, nameof(CeleriacMiddleware.OnRan), context.TaskId);
            }
        }
    }

    /// <summary>Calls the outcome hook that matches <paramref name="outcome"/> (none for a release, lost lease or unrecorded outcome) in reverse order.</summary>
    public void OnOutcome(in Outcome outcome, string worker)
    {
        if (outcome.Kind is OutcomeKind.Released or OutcomeKind.LeaseLost or OutcomeKind.NotRecorded)
        {
            return;
        }

        Envelope? envelope = outcome.Envelope;
        var info = new TaskOutcome(outcome.Delivery.Id, outcome.TaskName, outcome.Delivery.Queue, worker)
        {
            Retries = envelope?.Retries ?? 0,
            Error = outcome.Error,
            Reason = outcome.Kind switch
            {
                OutcomeKind.Revoked => "revoked",
                OutcomeKind.Expired => "expired",
                _ => outcome.Reason,
            },
            Elapsed = outcome.Elapsed,
            RetryDelay = outcome.RetryDelay,
            Headers = envelope?.Headers is { } headers ? headers : TaskOutcomeHeaders.Empty,
        };
        OutcomeKind kind = outcome.Kind;
        for (int i = _middleware.Length - 1; i >= 0; i--)
        {
            CeleriacMiddleware middleware = _middleware[i];
            try
            {
                switch (kind)
                {
                    case OutcomeKind.Succeeded:
                        middleware.OnSucceeded(info);
                        break;
                    case OutcomeKind.Failed:
                        middleware.OnFailed(info);
                        break;
                    case OutcomeKind.Retried:
                        middleware.OnRetried(info);
                        break;
                    case OutcomeKind.Revoked or OutcomeKind.Expired:
                        middleware.OnRevoked(info);
                        break;
                    default:
                        middleware.OnDeadLettered(info);
                        break;
                }
            }
            catch (Exception ex)
            {
                HookFailed(_logger, ex, middleware.GetType().Name, kind.ToString(), info.TaskId);
            }
        }
    }

    /// <summary>Runs every <see cref="CeleriacMiddleware.OnWorkerReady"/> in order.</summary>
    public void WorkerReady(string worker)
    {
        foreach (CeleriacMiddleware middleware in _middleware)
        {
            try
            {
                middleware.OnWorkerReady(worker);
            }
            catch (Exception ex)
            {
                HookFailed(_logger, ex, middleware.GetType().Name, nameof(CeleriacMiddleware.OnWorkerReady), worker);
            }
        }
    }

    /// <summary>Runs every <see cref="CeleriacMiddleware.OnWorkerStopping"/> in reverse order.</summary>
    public void WorkerStopping(string worker)
    {
        for (int i = _middleware.Length - 1; i >= 0; i--)
        {
            try
            {
                _middleware[i].OnWorkerStopping(worker);
            }
            catch (Exception ex)
            {
                HookFailed(_logger, ex, _middleware[i].GetType().Name, nameof(CeleriacMiddleware.OnWorkerStopping), worker);
            }
        }
    }

    [LoggerMessage(5500, LogLevel.Error, "Middleware {Middleware} threw in {Hook} ({Subject}); ignored, the task's outcome is unchanged")]
    private static partial void HookFailed(ILogger logger, Exception exception, string middleware, string hook, string subject);

    private static class TaskOutcomeHeaders
    {
        public static readonly IReadOnlyDictionary<string, string> Empty = new Dictionary<string, string>();
    }
}
