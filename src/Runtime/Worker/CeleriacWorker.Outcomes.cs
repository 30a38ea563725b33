using Celeriac.Brokers;
using Celeriac.Protocol;

namespace Celeriac.Worker;

internal sealed partial class CeleriacWorker
{
    private async Task HandleFailureAsync(Delivery delivery, Envelope envelope, TaskPolicy policy, RunControl run, Exception ex)
    {
        if (ex is TaskPayloadException)
        {
            await DeadLetterAsync(delivery, envelope, envelope.Task, DeadLetterReasons.UndecodableArgs, ex.Message).ConfigureAwait(false);
            return;
        }

        if (_hardStop.IsCancellationRequested)
        {
            // Shutdown past its grace period cancelled the run: interrupted, not failed. Hand it back for another worker.
            _outcomes.Released(delivery, envelope);
            await ReleaseAsync([delivery]).ConfigureAwait(false);
            return;
        }

        if (run.Revoked)
        {
            _outcomes.Revoked(delivery, envelope, whileRunning: true);
            await CompleteAsync(delivery, Revoked(envelope, "revoked while running"), envelope).ConfigureAwait(false);
            return;
        }

        Interlocked.Increment(ref _failedRuns); // a failed run, retried or not (the uncommon path only)
        TaskError error;
        bool retryable;
        TimeSpan? countdown = null;
        if (run.SoftLimitHit && ex is OperationCanceledException)
        {
            error = new TaskError(ErrorTypes.TimeLimitExceeded, $"the task exceeded its soft time limit of {policy.SoftTimeLimit!.Value.TotalMilliseconds:0} ms", ex.StackTrace);
            retryable = false;
        }
        else if (ex is TaskRetryException asked)
        {
            Exception reason = asked.InnerException ?? asked;
            error = ErrorOf(reason);
            retryable = true;
            countdown = asked.Countdown;
        }
        else
        {
            error = ErrorOf(ex);
            retryable = policy.MaxRetries > 0 && ShouldRetry(policy, ex);
        }

        if (retryable && envelope.Retries < policy.MaxRetries)
        {
            int retry = envelope.Retries + 1;
            TimeSpan delay = countdown ?? Backoff(policy, retry);
            long dueAt = _time.GetUtcNow().ToUnixTimeMilliseconds() + (long)Math.Max(0, delay.TotalMilliseconds);
            byte[] next = Client.EnvelopeFactory.Retry(envelope, retry, dueAt, EnvelopeFormats.For(delivery.Envelope.Span));
            var state = new TaskResult { State = TaskState.Retry, Error = error, TaskName = envelope.Task, Retries = envelope.Retries, Timestamp = _time.GetUtcNow(), Worker = _name };
            _outcomes.Retried(delivery, envelope, error, delay, retry, policy.MaxRetries);
            if (!await OutcomeAsync(() => _broker!.RetryAsync(delivery, next, dueAt, state, _options.ResultTtl, CancellationToken.None)).ConfigureAwait(false))
            {
                _outcomes.LeaseLost(delivery);
            }

            return;
        }

        _outcomes.Failed(delivery, envelope, error);
        TaskResult failed = Failed(envelope, error);
        if (policy.DeadLetterOnFailure)
        {
            string reason = $"{DeadLetterReasons.Failed}: {error.Type}: {error.Message}";
            _outcomes.DeadLettered(delivery, envelope, envelope.Task, DeadLetterReasons.Failed, reason, error);
            await DeadLetterOutcomeAsync(delivery, envelope, reason, failed).ConfigureAwait(false);
            return;
        }

        await CompleteAsync(delivery, failed, envelope).ConfigureAwait(false);
    }

    private static TaskError ErrorOf(Exception ex) => new(ex.GetType().FullName ?? ex.GetType().Name, ex.Message, ex.StackTrace);

    private static bool ShouldRetry(TaskPolicy policy, Exception ex)
    {
        if (policy.ShouldRetry is not { } filter)
        {
            return true;
        }

        try
        {
            return filter(ex);
        }
        catch (Exception)
        {
            return false; // a filter that throws cannot vouch for a retry
        }
    }

    /// <summary>The delay before retry number <paramref name="retry"/>: the policy's capped exponential backoff, with full jitter when asked.</summary>
    internal static TimeSpan Backoff(TaskPolicy policy, int retry)
    {
        TimeSpan backoff = policy.BackoffFor(retry);
        return policy.RetryJitter ? TimeSpan.FromMilliseconds(Random.Shared.NextDouble() * backoff.TotalMilliseconds) : backoff;
    }

    private TaskResult Failed(Envelope envelope, TaskError error)
        => new() { State = TaskState.Failure, Error = error, TaskName = envelope.Task, Retries = envelope.Retries, Timestamp = _time.GetUtcNow(), Worker = _name };

    private TaskResult Revoked(Envelope envelope, string reason)
        => new() { State = TaskState.Revoked, Error = new TaskError(ErrorTypes.TaskRevoked, reason, null), TaskName = envelope.Task, Retries = envelope.Retries, Timestamp = _time.GetUtcNow(), Worker = _name };

    /// <summary>
    /// Records an outcome, retrying while the broker is unreachable (Redis restarting or stalled). The writes are
    /// fenced, so repeating one is safe: a repeat after a write that did land finds the lease gone and changes nothing.
    /// Gives up after the visibility timeout (the lease has then expired and the task is redelivered anyway).
    /// </summary>
    private async Task<bool> OutcomeAsync(Func<Task<bool>> write)
    {
        long started = _time.GetTimestamp();
        int backoffMs = 50;
        while (true)
        {
            try
            {
                return await write().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not ObjectDisposedException && _time.GetElapsedTime(started) < _options.VisibilityTimeout)
            {
                Log.BrokerError(_logger, ex, "outcome", backoffMs);
                await Task.Delay(TimeSpan.FromMilliseconds(backoffMs), _time, CancellationToken.None).ConfigureAwait(false);
                backoffMs = Math.Min(backoffMs * 2, 1000);
            }
        }
    }

    /// <summary>
    /// Records a final result through the group commit (one broker call for every outcome queued meanwhile); fenced per
    /// id. A workflow step's result goes with its follow-ups instead (<see cref="CompleteFlowAsync"/>).
    /// </summary>
    private async Task CompleteAsync(Delivery delivery, TaskResult result, Envelope envelope)
    {
        if (!envelope.Flow.IsEmpty)
        {
            await CompleteFlowAsync(delivery, envelope, new CompleteItem(delivery, result)).ConfigureAwait(false);
            return;
        }

        if (await _completes.SendAsync(new CompleteItem(delivery, result)).ConfigureAwait(false) == 0)
        {
            _outcomes.LeaseLost(delivery);
        }
    }

    /// <summary>
    /// Records the final outcome of a workflow step and, in the same atomic broker step, what the workflow does next
    /// (the chain's next step, the chord member's count, the failure of the workflow's last step) in the queue's outbox;
    /// then carries that out. A worker killed in between leaves it in the outbox, where the next sweep finds it.
    /// </summary>
    private async Task CompleteFlowAsync(Delivery delivery, Envelope envelope, CompleteItem item)
    {
        List<Workflows.FollowUp> followUps;
        try
        {
            Workflows.Flow flow = Workflows.FlowCodec.DecodeFlow(envelope.Flow);
            followUps = item.State == TaskState.Success
                ? Workflows.FlowCodec.OnSuccess(envelope, flow, item.Value.Span, _time.GetUtcNow().ToUnixTimeMilliseconds())
                : Workflows.FlowCodec.OnFailure(envelope, flow, item.Error ?? new TaskError("Celeriac.Unknown", "the task ended " + item.State, null));
        }
        catch (InvalidDataException ex)
        {
            Log.TaskFailed(_logger, envelope.Id, envelope.Task, ex.GetType().FullName!, ex.Message); // the task's own outcome still counts
            followUps = [];
        }

        if (_flowStore is null || followUps.Count == 0)
        {
            if (await _completes.SendAsync(item).ConfigureAwait(false) == 0)
            {
                _outcomes.LeaseLost(delivery);
            }

            return;
        }

        // Group-committed like plain completions (one broker call per queue for every outcome queued meanwhile); the
        // follow-ups are then carried out by the pump, in batches, off this consumer.
        if (await _flowCompletes.SendAsync(new Workflows.FlowCompletion(item, followUps)).ConfigureAwait(false) == 0)
        {
            _outcomes.LeaseLost(delivery);
            return;
        }

        _flows!.Post(delivery.Queue, followUps);
    }

    private Task SendFlowCompletesAsync(List<Workflows.FlowCompletion> batch, int[] completed)
        => _flowStore!.CompleteWithFollowUpsAsync(batch, _options.ResultTtl, completed, CancellationToken.None);

    /// <summary>A group commit's send failed (broker unreachable): log it; retry unless the worker is being disposed.</summary>
    private bool OnCommitError(Exception ex, int backoffMs)
    {
        if (ex is ObjectDisposedException)
        {
            return false;
        }

        _status.BrokerFailed(ex);
        Log.BrokerError(_logger, ex, "outcome", backoffMs);
        return true;
    }

    private Task SendStartsAsync(List<StartItem> batch, int[] runs)
        => _broker!.MarkStartedManyAsync(batch, _options.ResultTtl, runs, CancellationToken.None);

    private Task SendCompletesAsync(List<CompleteItem> batch, int[] completed)
        => _broker!.CompleteManyAsync(batch, _options.ResultTtl, completed, CancellationToken.None);

    private async Task DeadLetterAsync(Delivery delivery, Envelope? envelope, string? taskName, string reason, string detail)
    {
        // Everything quoted here may come from the message: bounded, whatever arrived.
        detail = Quote.Bounded(detail, Quote.MaxDetailChars);
        taskName = Quote.BoundedOrNull(taskName);
        string full = reason + ": " + detail;
        var error = new TaskError(DeadLetterReasons.ErrorType(reason), detail, null);
        _outcomes.DeadLettered(delivery, envelope, taskName, reason, full, error);
        var failure = new TaskResult
        {
            State = TaskState.Failure,
            Error = error,
            TaskName = taskName,
            Timestamp = _time.GetUtcNow(),
            Worker = _name,
        };
        await DeadLetterOutcomeAsync(delivery, envelope, full, failure).ConfigureAwait(false);
    }

    /// <summary>
    /// Sets a delivery aside with its FAILURE result; a workflow step's failure goes with it (the workflow fails: its
    /// chord, or its chain's last task), in the same atomic step, then is carried out by the pump.
    /// </summary>
    private async Task DeadLetterOutcomeAsync(Delivery delivery, Envelope? envelope, string reason, TaskResult failure)
    {
        List<Workflows.FollowUp> followUps = [];
        if (envelope is { Flow.IsEmpty: false } && _flowStore is not null)
        {
            try
            {
                followUps = Workflows.FlowCodec.OnFailure(envelope, Workflows.FlowCodec.DecodeFlow(envelope.Flow), failure.Error ?? new TaskError("Celeriac.Unknown", reason, null));
            }
            catch (InvalidDataException ex)
            {
                Log.TaskFailed(_logger, envelope.Id, envelope.Task, ex.GetType().FullName!, ex.Message);
            }
        }

        bool recorded = followUps.Count == 0
            ? await OutcomeAsync(() => _broker!.DeadLetterAsync(delivery, reason, failure, _options.ResultTtl, CancellationToken.None)).ConfigureAwait(false)
            : await OutcomeAsync(() => _flowStore!.DeadLetterWithFollowUpsAsync(delivery, reason, failure, followUps, _options.ResultTtl, CancellationToken.None)).ConfigureAwait(false);
        if (!recorded)
        {
            _outcomes.LeaseLost(delivery);
            return;
        }

        if (followUps.Count > 0)
        {
            _flows!.Post(delivery.Queue, followUps);
        }
    }

    /// <summary>
    /// Sets aside a delivery whose run the worker could not prepare from its decoded envelope (building its context
    /// threw): an outcome at once, never a lease left to expire and a task blamed for the worker's step.
    /// </summary>
    private Task UnrunnableAsync(Delivery delivery, Envelope envelope, Exception ex)
        => DeadLetterAsync(delivery, envelope, envelope.Task, DeadLetterReasons.Unrunnable, $"the worker could not prepare the run: {ex.GetType().FullName}: {Quote.Bounded(ex.Message)}");
}
