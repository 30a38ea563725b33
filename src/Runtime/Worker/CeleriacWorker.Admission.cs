using Celeriac.Brokers;
using Celeriac.Protocol;

namespace Celeriac.Worker;

internal sealed partial class CeleriacWorker
{
    /// <summary>What the checks before a run decided.</summary>
    private enum Admission
    {
        Run,
        Oversized,
        RedeliveryLimit,
        Undecodable,
        IdMismatch,
        Revoked,
        Expired,
        UnknownTask,
        UndecodableArgs,
    }

    /// <summary>
    /// The checks before a run, none of which allocates: size, redelivery cap, envelope, revocation, expiry, task name,
    /// argument elements (their count comes out as <c>elements</c> for a run; 0 when <c>MaxMessageElements</c> is 0).
    /// </summary>
    private Admission Admit(Delivery delivery, Envelope envelope, out TaskRegistration? registration, out EnvelopeException? undecodable, out long elements)
    {
        registration = null;
        undecodable = null;
        elements = 0;
        if (delivery.OversizedLength > 0 || (_options.MaxMessageBytes > 0 && delivery.Envelope.Length > _options.MaxMessageBytes))
        {
            return Admission.Oversized;
        }

        if (_worker.MaxDeliveries > 0 && delivery.Runs >= _worker.MaxDeliveries)
        {
            return Admission.RedeliveryLimit;
        }

        try
        {
            // The delivery's id goes in as the fetch reply's bytes when it has them: an id that matches stays bytes.
            bool asBytes = !delivery.IdUtf8.IsEmpty;
            EnvelopeFormats.For(delivery.Envelope.Span).Decode(delivery.Envelope, asBytes ? null : delivery.Id, delivery.Queue, _lastTaskName, envelope, _lastReplyTo, delivery.IdUtf8);
            _lastTaskName = envelope.Task;
            _lastReplyTo = envelope.ReplyTo ?? _lastReplyTo;
        }
        catch (EnvelopeException ex)
        {
            undecodable = ex;
            return Admission.Undecodable;
        }

        delivery.ReplyTo = envelope.ReplyTo;
        if (envelope.IdUtf8.IsEmpty && !string.Equals(envelope.Id, delivery.Id, StringComparison.Ordinal))
        {
            return Admission.IdMismatch; // (kept as bytes, it matched the delivery's)
        }

        if (delivery.Revoked || delivery.RevokeRequested)
        {
            return Admission.Revoked;
        }

        if (envelope.ExpiresMs is { } expires && expires <= _time.GetUtcNow().ToUnixTimeMilliseconds())
        {
            return Admission.Expired;
        }

        if (!_catalog.TryGet(envelope.Task, out registration))
        {
            // Not one of the catalog's: the built-in map (a chunk of calls) is the only other task a worker runs.
            if (!string.Equals(envelope.Task, Workflows.MapTask.Name, StringComparison.Ordinal))
            {
                return Admission.UnknownTask;
            }

            registration = _map;
        }

        // Counted before any formatter allocates: the decoded arguments stay within the element budget.
        return _options.MaxMessageElements > 0 && PayloadScan.Scan(envelope.Args.Span, _options.MaxMessageElements, out elements) != PayloadScan.Outcome.Ok
            ? Admission.UndecodableArgs
            : Admission.Run;
    }

    /// <summary>Records why a delivery is not run: a dead letter, or a REVOKED result (revoked, expired).</summary>
    private async Task RefuseAsync(Delivery delivery, Envelope envelope, Admission admission, EnvelopeException? undecodable)
    {
        switch (admission)
        {
            case Admission.Oversized:
                // Decoded only for its name and reply channel, so that the sender's wait hears of it at once.
                await DeadLetterAsync(delivery, null, TryReadTaskName(delivery), DeadLetterReasons.Oversized, $"the message is {(delivery.OversizedLength > 0 ? delivery.OversizedLength : delivery.Envelope.Length)} bytes, over the {_options.MaxMessageBytes}-byte limit").ConfigureAwait(false);
                break;
            case Admission.RedeliveryLimit:
                // Started again and again without an outcome: its workers died running it. Set aside, never run again.
                await DeadLetterAsync(delivery, WorkflowEnvelopeOrNull(delivery, envelope), TryReadTaskName(delivery), DeadLetterReasons.RedeliveryLimit, $"started {delivery.Runs} times without an outcome, delivered {delivery.DeliveryCount} times (Celeriac:Worker:MaxDeliveries is {_worker.MaxDeliveries}); its workers probably died running it").ConfigureAwait(false);
                break;
            case Admission.Undecodable:
                await DeadLetterAsync(delivery, null, null, undecodable!.Reason, undecodable.Message).ConfigureAwait(false);
                break;
            case Admission.IdMismatch:
                await DeadLetterAsync(delivery, envelope, envelope.Task, DeadLetterReasons.Undecodable, $"the envelope's id '{Quote.Bounded(envelope.Id)}' differs from the broker's id").ConfigureAwait(false);
                break;
            case Admission.Revoked:
                _outcomes.Revoked(delivery, envelope, whileRunning: false);
                await CompleteAsync(delivery, Revoked(envelope, "revoked"), envelope).ConfigureAwait(false);
                break;
            case Admission.Expired:
                _outcomes.Expired(delivery, envelope);
                await CompleteAsync(delivery, new TaskResult
                {
                    State = TaskState.Revoked,
                    Error = new TaskError(ErrorTypes.TaskExpired, "expired", null),
                    TaskName = envelope.Task,
                    Retries = envelope.Retries,
                    Timestamp = _time.GetUtcNow(),
                    Worker = _name,
                }, envelope).ConfigureAwait(false);
                break;
            case Admission.UnknownTask:
                await DeadLetterAsync(delivery, envelope, envelope.Task, DeadLetterReasons.UnknownTask, $"no task named '{Quote.Bounded(envelope.Task)}' is registered in worker {_name}").ConfigureAwait(false);
                break;
            case Admission.UndecodableArgs:
                PayloadScan.Outcome scanned = PayloadScan.Scan(envelope.Args.Span, _options.MaxMessageElements, out long elements);
                await DeadLetterAsync(delivery, envelope, envelope.Task, DeadLetterReasons.UndecodableArgs, $"task '{Quote.Bounded(envelope.Task)}': {PayloadScan.Describe(scanned, elements, _options.MaxMessageElements)}").ConfigureAwait(false);
                break;
            default:
                throw new InvalidOperationException($"Unexpected admission {admission}.");
        }
    }

    /// <summary>
    /// A message refused before its envelope was read (the redelivery cap) is read now when it is a workflow step, so
    /// that setting it aside fails its workflow too; any other message is refused unread, as before.
    /// </summary>
    private static Envelope? WorkflowEnvelopeOrNull(Delivery delivery, Envelope envelope)
    {
        try
        {
            EnvelopeFormats.For(delivery.Envelope.Span).Decode(delivery.Envelope, null, delivery.Queue, null, envelope, null, default);
        }
        catch (EnvelopeException)
        {
            return null;
        }

        if (envelope.Flow.IsEmpty)
        {
            return null;
        }

        delivery.ReplyTo = envelope.ReplyTo;
        return envelope;
    }

    /// <summary>How often a suspect waiting for every permit counts them again (a shrink may lower the count meanwhile).</summary>
    private static readonly TimeSpan SuspectRecount = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// Waits for one run permit, or for all of them (<paramref name="permits"/> 0: a suspect runs alone); returns how many
    /// were taken. All of them means every permit in circulation, which a shrink in progress lowers as runs end (it keeps
    /// the permits they give back), so the count is read again while waiting. While a suspect waits, other runs wait
    /// behind it (<see cref="_suspectsWaiting"/>): what it gathers is never taken back by a run that came after it.
    /// </summary>
    private async Task<int> AcquireRunPermitsAsync(Delivery delivery, Envelope envelope, int permits)
    {
        if (permits == 1)
        {
            // A suspect waiting to run alone goes first: this run queues behind it at the gate rather than race it for the
            // permits it gathers. Otherwise a steady flow of runs can keep the last permit from it for ever (each run
            // that ends hands its permit to the next run already waiting, ahead of the suspect's timed wait), and every
            // suspect behind it waits too: the worker then runs one task at a time.
            if (Volatile.Read(ref _suspectsWaiting) != 0)
            {
                await _exclusiveGate.WaitAsync().ConfigureAwait(false);
                _exclusiveGate.Release();
            }

            await _runPermits.WaitAsync().ConfigureAwait(false);
            return 1;
        }

        Log.RunningSuspectAlone(_logger, envelope.Id, envelope.Task, delivery.Runs);
        Interlocked.Increment(ref _suspectsWaiting);
        await _exclusiveGate.WaitAsync().ConfigureAwait(false);
        try
        {
            permits = 0;
            while (permits < CirculatingPermits())
            {
                if (await _runPermits.WaitAsync(SuspectRecount).ConfigureAwait(false))
                {
                    permits++;
                }
            }
        }
        finally
        {
            Interlocked.Decrement(ref _suspectsWaiting); // before the gate opens: a suspect queued behind still counts
            _exclusiveGate.Release();
        }

        return permits;
    }

    /// <summary>The name (quoted, bounded) and reply channel of a message that is not decoded: headers and arguments are skipped.</summary>
    private static string? TryReadTaskName(Delivery delivery)
    {
        EnvelopeFormats.For(delivery.Envelope.Span).Peek(delivery.Envelope, out string? task, out string? replyTo);
        delivery.ReplyTo = replyTo;
        return task;
    }
}
