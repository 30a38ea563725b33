using System.Buffers;
using Celeriac.Brokers;
using Celeriac.Protocol;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Celeriac.Worker;

/// <summary>
/// The worker: one fetch loop leases batches up to the prefetch limit (blocking in the broker when queues are empty),
/// <see cref="WorkerOptions.Concurrency"/> consumers run them, one heartbeat renews the leases of everything held.
/// Acks late: a task is acknowledged only with its outcome, so a worker that dies loses nothing.
/// </summary>
internal sealed partial class CeleriacWorker : BackgroundService
{
    private readonly BrokerProvider _brokers;
    private readonly CeleriacOptions _options;
    private readonly WorkerOptions _worker;
    private readonly TaskCatalog _catalog;
    private readonly IServiceScopeFactory _scopes;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly string _name;
    private readonly HeldSet _held;
    private readonly DeliveryPool _deliveries = new();
    private readonly Dispatch _dispatch;
    private readonly SemaphoreSlim _slots;
    private readonly QueueSelector _queueSelector;
    private readonly CancellationTokenSource _hardStop = new();
    private readonly SemaphoreSlim _runPermits;
    private readonly SemaphoreSlim _exclusiveGate = new(1, 1);
    private readonly GroupCommit<StartItem> _starts;
    private readonly GroupCommit<CompleteItem> _completes;
    private volatile bool _stopping;
    private string? _lastTaskName; // hints for the decoder (reuse the strings); races are harmless
    private string? _lastReplyTo;
    private ITaskBroker? _broker;

    public CeleriacWorker(BrokerProvider brokers, IOptions<CeleriacOptions> options, IOptions<WorkerOptions> worker, TaskCatalog catalog, IServiceScopeFactory scopes, ILogger<CeleriacWorker> logger, TimeProvider time)
    {
        _brokers = brokers;
        _options = options.Value;
        _worker = worker.Value;
        _catalog = catalog;
        _scopes = scopes;
        _logger = logger;
        _time = time;
        _name = _worker.Name ?? $"{Environment.MachineName}:{Environment.ProcessId}:{Guid.NewGuid().ToString("N")[..6]}";
        _slots = new SemaphoreSlim(_worker.EffectivePrefetch, _worker.EffectivePrefetch);
        _held = new HeldSet(_worker.EffectivePrefetch);
        _dispatch = new Dispatch(_worker.EffectivePrefetch, _worker.Concurrency);
        _queueSelector = new QueueSelector(_worker.EffectiveQueues, _worker.QueueOrder, _worker.QueueWeights);
        _runPermits = new SemaphoreSlim(_worker.Concurrency, _worker.Concurrency);
        _starts = new GroupCommit<StartItem>(SendStartsAsync, OnCommitError, _options.VisibilityTimeout, time);
        _completes = new GroupCommit<CompleteItem>(SendCompletesAsync, OnCommitError, _options.VisibilityTimeout, time);
    }

    /// <summary>The worker's name, as recorded in results.</summary>
    public string Name => _name;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_worker.ReserveThreadPool)
        {
            // Headroom for the I/O completions (lease renewals, outcomes) when every handler blocks its thread.
            ThreadPool.GetMinThreads(out int workers, out int io);
            int wanted = _worker.Concurrency + Environment.ProcessorCount;
            if (workers < wanted && ThreadPool.SetMinThreads(wanted, io))
            {
                Log.ThreadPoolReserved(_logger, workers, wanted);
            }
        }

        _broker = await _brokers.GetAsync(stoppingToken).ConfigureAwait(false);
        Log.WorkerStarted(_logger, _name, _broker.Name, string.Join(", ", _worker.EffectiveQueues), _worker.Concurrency, _worker.EffectivePrefetch, _catalog.Count);

        try
        {
            await _broker.SubscribeRevocationsAsync(OnRevoked, stoppingToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The heartbeat's re-check still finds revoked tasks; only the instant notification is missing.
            Log.BrokerError(_logger, ex, "revocation subscription", 0);
        }

        using var heartbeatStop = new CancellationTokenSource();
        var heartbeatDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var heartbeatThread = new Thread(() =>
        {
            try
            {
                HeartbeatThread(heartbeatStop.Token);
            }
            finally
            {
                heartbeatDone.TrySetResult();
            }
        })
        {
            IsBackground = true,
            Name = "celeriac-heartbeat",
        };
        heartbeatThread.Start();
        Task heartbeat = heartbeatDone.Task;
        var consumers = new Task[_worker.Concurrency];
        var owners = new Consumer[_worker.Concurrency];
        for (int i = 0; i < consumers.Length; i++)
        {
            Consumer consumer = owners[i] = new Consumer(_hardStop.Token, _time);
            consumers[i] = Task.Run(() => ConsumeLoopAsync(consumer), CancellationToken.None);
        }

        await FetchLoopAsync(stoppingToken).ConfigureAwait(false);

        // Graceful stop: no more fetching; hand back what was prefetched but not started; let running tasks finish.
        _stopping = true;
        List<Delivery> unstarted = _dispatch.Complete();
        foreach (Delivery delivery in unstarted)
        {
            _held.Remove(delivery);
            _slots.Release();
        }

        await ReleaseAsync(unstarted).ConfigureAwait(false);
        foreach (Delivery delivery in unstarted)
        {
            _deliveries.Return(delivery);
        }

        Log.WorkerStopping(_logger, _name, _held.Count, unstarted.Count);

        Task all = Task.WhenAll(consumers);
        if (await Task.WhenAny(all, Task.Delay(_worker.ShutdownTimeout, _time, CancellationToken.None)).ConfigureAwait(false) != all)
        {
            Log.ShutdownAbandoned(_logger, _name, _held.Count);
            await _hardStop.CancelAsync().ConfigureAwait(false);
            await Task.WhenAny(all, Task.Delay(TimeSpan.FromSeconds(2), _time, CancellationToken.None)).ConfigureAwait(false);
            var held = new List<Delivery>(_held.Count);
            _held.CopyLeasesTo(held);
            await ReleaseAsync(held).ConfigureAwait(false);
        }

        await heartbeatStop.CancelAsync().ConfigureAwait(false);
        await heartbeat.ConfigureAwait(false);
        foreach (Consumer consumer in owners)
        {
            consumer.Run.Dispose();
        }
    }

    /// <summary>How often the low-water refill re-checks whether the consumers ran out of fetched work.</summary>
    private static readonly TimeSpan RefillPoll = TimeSpan.FromMilliseconds(1);

    private async Task FetchLoopAsync(CancellationToken stoppingToken)
    {
        var batch = new List<Delivery>(_worker.EffectivePrefetch);
        var request = new FetchRequest(_worker.EffectiveQueues, 0, _options.VisibilityTimeout, _worker.FetchWait, _name, Pool: _deliveries);
        int backoffMs = 0;
        bool single = _worker.EffectiveQueues.Count == 1;
        bool drained = false; // the last fetch leased fewer than asked (one queue only: see FetchRequest.Drained)
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await _slots.WaitAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            int free = 1;
            while (free < _worker.EffectivePrefetch && _slots.Wait(0))
            {
                free++;
            }

            // Low-water refill: while consumers still have fetched work waiting, gather freed slots up to half the
            // prefetch so that one fetch call leases many tasks (outcomes are group-committed, so slots free in bursts
            // that the consumers release one by one). An idle worker (nothing waiting) fetches at once.
            int lowWater = Math.Max(1, _worker.EffectivePrefetch / 2);
            try
            {
                while (free < lowWater && _dispatch.ReadyCount > 0 && !stoppingToken.IsCancellationRequested)
                {
                    if (await _slots.WaitAsync(RefillPoll, stoppingToken).ConfigureAwait(false))
                    {
                        free++;
                        while (free < _worker.EffectivePrefetch && _slots.Wait(0))
                        {
                            free++;
                        }
                    }
                }
            }
            catch (OperationCanceledException)
            {
                _slots.Release(free);
                break;
            }

            // Deliveries that idle consumers will take at once start in the fetch call itself (their run is counted
            // there): no separate start call for them. The STARTED state, when tracked, still goes through the start call.
            int startNow = _worker.TrackStarted ? 0 : Math.Clamp(_dispatch.IdleCount - _dispatch.ReadyCount, 0, free);
            batch.Clear();
            try
            {
                await _broker!.FetchAsync(request with { Queues = _queueSelector.Next(), MaxCount = free, StartCount = startNow, Drained = drained }, batch, stoppingToken).ConfigureAwait(false);
                drained = single && batch.Count < free;
                backoffMs = 0;
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                backoffMs = Math.Clamp(backoffMs * 2, 50, 2000);
                drained = false;
                Log.BrokerError(_logger, ex, "fetch", backoffMs);
                if (batch.Count > 0)
                {
                    // Leased before the call failed (e.g. on a later queue): hand them back rather than leave them
                    // leased with no owner until their leases expire.
                    await ReleaseAsync(batch).ConfigureAwait(false);
                    foreach (Delivery delivery in batch)
                    {
                        _deliveries.Return(delivery);
                    }

                    batch.Clear();
                }

                _slots.Release(free);
                await Delay(backoffMs, stoppingToken).ConfigureAwait(false);
                continue;
            }
            catch (Exception)
            {
                // Stopping (the filter above let it through): a cancelled fetch, or a broker error while stopping — Redis
                // may be down, which is often why the host stops. Nothing to report; what the fetch leased before it
                // failed is held below and handed back by the graceful stop.
            }

            if (free > batch.Count)
            {
                _slots.Release(free - batch.Count);
            }

            foreach (Delivery delivery in batch)
            {
                _held.Add(delivery);
                _dispatch.Post(delivery);
            }
        }
    }

    /// <summary>
    /// One consumer's loop. The common path (decode, start, run, complete) is awaited here and not in methods called per
    /// task, so that one state machine serves every task this consumer runs: the per-task allocations are the task's own.
    /// The uncommon outcomes (dead letters, expiry, revocation, failures, time limits) go through their own methods.
    /// </summary>
    private async Task ConsumeLoopAsync(Consumer consumer)
    {
        RunningTask.Enter(consumer.Running); // once: every run of this loop flows from here
        while (true)
        {
            Delivery? delivery = await _dispatch.TakeAsync(consumer).ConfigureAwait(false);
            if (delivery is null)
            {
                return;
            }

            try
            {
                if (_stopping)
                {
                    await ReleaseAsync([delivery]).ConfigureAwait(false);
                    continue;
                }

                Envelope envelope = consumer.Envelope;
                Admission admission = Admit(delivery, envelope, out TaskRegistration? registration, out EnvelopeException? undecodable);
                if (admission != Admission.Run)
                {
                    await RefuseAsync(delivery, envelope, admission, undecodable).ConfigureAwait(false);
                    continue;
                }

                // A suspect (started before without an outcome: its worker probably died running it) runs alone, so
                // that if it is a poison message its crash takes no innocent running task with it, and innocent suspects
                // are not blamed again for a poison message they happened to run next to.
                int permits = delivery.Runs > 0 ? _worker.Concurrency : 1;
                if (permits > 1 || !_runPermits.Wait(0))
                {
                    await AcquireRunPermitsAsync(delivery, envelope, permits).ConfigureAwait(false);
                }

                try
                {
                    // Counted (fenced) before the run: by the fetch for a delivery an idle consumer took at once, else
                    // here, through the start group commit (one broker call for every start queued meanwhile).
                    if (!delivery.RunStarted)
                    {
                        TaskResult? startedState = _worker.TrackStarted
                            ? new TaskResult { State = TaskState.Started, TaskName = envelope.Task, Retries = envelope.Retries, Timestamp = _time.GetUtcNow(), Worker = _name }
                            : null;
                        if (await _starts.SendAsync(new StartItem(delivery, startedState)).ConfigureAwait(false) == 0)
                        {
                            Log.LeaseLost(_logger, delivery.Id); // another delivery owns it now; do not run it twice
                            continue;
                        }

                        delivery.RunStarted = true;
                    }

                    TaskPolicy policy = registration!.Policy;
                    if (policy.TimeLimit is not null)
                    {
                        await RunLimitedAsync(delivery, envelope, registration, consumer.Run).ConfigureAwait(false);
                        continue;
                    }

                    ArrayBufferWriter<byte> output = consumer.Output;
                    output.ResetWrittenCount();
                    RunControl run = consumer.Run;
                    // Only what the task's invoker reads is made for the run (TaskNeeds): a static task that takes no
                    // context gets the consumer's reused context and no DI scope.
                    bool scoped = (registration.Needs & TaskNeeds.Services) != 0;
                    AsyncServiceScope scope = scoped ? _scopes.CreateAsyncScope() : default;
                    Exception? failure = null;
                    long started = _time.GetTimestamp();
                    consumer.Running.Begin(envelope);
                    Begin(delivery, run, policy);
                    TaskContext context;
                    try
                    {
                        context = (registration.Needs & TaskNeeds.Context) != 0
                            ? NewContext(delivery, envelope, scoped ? scope.ServiceProvider : null, run)
                            : consumer.Reuse(run.Token, scoped ? scope.ServiceProvider : null);
                    }
                    catch (Exception ex)
                    {
                        // The worker's own step failed, not the task: set the message aside rather than blame the task
                        // or leave the lease to expire (then the message would come back and fail the same way).
                        End(delivery, run);
                        consumer.Running.End();
                        if (scoped)
                        {
                            await scope.DisposeAsync().ConfigureAwait(false);
                        }

                        await UnrunnableAsync(delivery, envelope, ex).ConfigureAwait(false);
                        continue;
                    }

                    try
                    {
                        ValueTask invocation;
                        try
                        {
                            invocation = registration.Invoker(envelope.Args, context, output); // awaited once, below
                        }
                        catch (Exception ex)
                        {
                            invocation = ValueTask.FromException(ex); // a synchronous task method throws before returning
                        }

                        await invocation.ConfigureAwait(false);
                    }
                    catch (Exception ex)
                    {
                        failure = ex;
                    }
                    finally
                    {
                        End(delivery, run);
                        consumer.Running.End();
                        if (scoped)
                        {
                            await scope.DisposeAsync().ConfigureAwait(false);
                        }
                    }

                    if (failure is not null)
                    {
                        await HandleFailureAsync(delivery, envelope, policy, run, failure).ConfigureAwait(false);
                        continue;
                    }

                    if (_logger.IsEnabled(LogLevel.Debug))
                    {
                        Log.TaskSucceeded(_logger, envelope.Id, envelope.Task, _time.GetElapsedTime(started).TotalMilliseconds);
                    }

                    // No copy of the value: this consumer reuses its buffer only after the outcome is stored (the group
                    // commit encodes the record before it releases this consumer).
                    CompleteItem success = CompleteItem.Success(delivery, output.WrittenMemory, envelope.Task, envelope.Retries, _time.GetUtcNow(), _name);
                    if (await _completes.SendAsync(success).ConfigureAwait(false) == 0)
                    {
                        Log.LeaseLost(_logger, delivery.Id);
                    }
                }
                finally
                {
                    _runPermits.Release(permits);
                }
            }
            catch (Exception ex)
            {
                // Only the broker can throw here (task exceptions are outcomes). The lease stays; the task comes back.
                Log.OutcomeNotRecorded(_logger, ex, delivery.Id);
            }
            finally
            {
                _held.Remove(delivery);
                _deliveries.Return(delivery); // nothing refers to it now: the next fetch reuses it
                _slots.Release();
            }
        }
    }

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

    /// <summary>The checks before a run, none of which allocates: size, redelivery cap, envelope, revocation, expiry, task name, argument elements.</summary>
    private Admission Admit(Delivery delivery, Envelope envelope, out TaskRegistration? registration, out EnvelopeException? undecodable)
    {
        registration = null;
        undecodable = null;
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
            EnvelopeCodec.Decode(delivery.Envelope, asBytes ? null : delivery.Id, delivery.Queue, _lastTaskName, envelope, _lastReplyTo, delivery.IdUtf8);
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
            return Admission.UnknownTask;
        }

        // Counted before any formatter allocates: the decoded arguments stay within the element budget.
        return _options.MaxMessageElements > 0 && PayloadScan.Scan(envelope.Args.Span, _options.MaxMessageElements, out _) != PayloadScan.Outcome.Ok
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
                await DeadLetterAsync(delivery, TryReadTaskName(delivery), DeadLetterReasons.Oversized, $"the message is {(delivery.OversizedLength > 0 ? delivery.OversizedLength : delivery.Envelope.Length)} bytes, over the {_options.MaxMessageBytes}-byte limit").ConfigureAwait(false);
                break;
            case Admission.RedeliveryLimit:
                // Started again and again without an outcome: its workers died running it. Set aside, never run again.
                await DeadLetterAsync(delivery, TryReadTaskName(delivery), DeadLetterReasons.RedeliveryLimit, $"started {delivery.Runs} times without an outcome, delivered {delivery.DeliveryCount} times (Celeriac:Worker:MaxDeliveries is {_worker.MaxDeliveries}); its workers probably died running it").ConfigureAwait(false);
                break;
            case Admission.Undecodable:
                await DeadLetterAsync(delivery, null, undecodable!.Reason, undecodable.Message).ConfigureAwait(false);
                break;
            case Admission.IdMismatch:
                await DeadLetterAsync(delivery, envelope.Task, DeadLetterReasons.Undecodable, $"the envelope's id '{Quote.Bounded(envelope.Id)}' differs from the broker's id").ConfigureAwait(false);
                break;
            case Admission.Revoked:
                Log.TaskRevoked(_logger, envelope.Id, envelope.Task, "before it ran");
                await CompleteAsync(delivery, Revoked(envelope, "revoked")).ConfigureAwait(false);
                break;
            case Admission.Expired:
                Log.TaskExpired(_logger, envelope.Id, envelope.Task);
                await CompleteAsync(delivery, new TaskResult
                {
                    State = TaskState.Revoked,
                    Error = new TaskError("Celeriac.TaskExpired", "expired", null),
                    TaskName = envelope.Task,
                    Retries = envelope.Retries,
                    Timestamp = _time.GetUtcNow(),
                    Worker = _name,
                }).ConfigureAwait(false);
                break;
            case Admission.UnknownTask:
                await DeadLetterAsync(delivery, envelope.Task, DeadLetterReasons.UnknownTask, $"no task named '{Quote.Bounded(envelope.Task)}' is registered in worker {_name}").ConfigureAwait(false);
                break;
            case Admission.UndecodableArgs:
                PayloadScan.Outcome scanned = PayloadScan.Scan(envelope.Args.Span, _options.MaxMessageElements, out long elements);
                await DeadLetterAsync(delivery, envelope.Task, DeadLetterReasons.UndecodableArgs, $"task '{Quote.Bounded(envelope.Task)}': {PayloadScan.Describe(scanned, elements, _options.MaxMessageElements)}").ConfigureAwait(false);
                break;
            default:
                throw new InvalidOperationException($"Unexpected admission {admission}.");
        }
    }

    private async Task AcquireRunPermitsAsync(Delivery delivery, Envelope envelope, int permits)
    {
        if (permits == 1)
        {
            await _runPermits.WaitAsync().ConfigureAwait(false);
            return;
        }

        Log.RunningSuspectAlone(_logger, envelope.Id, envelope.Task, delivery.Runs);
        await _exclusiveGate.WaitAsync().ConfigureAwait(false);
        try
        {
            for (int i = 0; i < permits; i++)
            {
                await _runPermits.WaitAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            _exclusiveGate.Release();
        }
    }

    /// <summary>Starts a run's cancellation: the consumer's control, reachable by a revocation through the delivery.</summary>
    private static void Begin(Delivery delivery, RunControl run, TaskPolicy policy)
    {
        run.Begin();
        delivery.Control = run;
        Interlocked.MemoryBarrier(); // see OnRevoked: the run is visible before the flag is read
        if (delivery.RevokeRequested)
        {
            run.Revoke(run.Generation); // revoked between the admission and now
        }

        if (policy.SoftTimeLimit is { } soft)
        {
            run.StartSoftLimit(soft);
        }
    }

    private static void End(Delivery delivery, RunControl run)
    {
        delivery.Control = null;
        run.End();
    }

    private static TaskContext NewContext(Delivery delivery, Envelope envelope, IServiceProvider? services, RunControl run) => new()
    {
        TaskId = envelope.Id,
        TaskName = envelope.Task,
        Queue = delivery.Queue,
        Retries = envelope.Retries,
        DeliveryCount = delivery.DeliveryCount,
        Eta = envelope.EtaMs is { } eta ? DateTimeOffset.FromUnixTimeMilliseconds(eta) : null,
        Expires = envelope.ExpiresMs is { } exp ? DateTimeOffset.FromUnixTimeMilliseconds(exp) : null,
        ParentId = envelope.ParentId,
        RootId = envelope.RootId,
        Headers = envelope.Headers ?? EmptyHeaders,
        Services = services,
        CancellationToken = run.Token,
    };

    /// <summary>
    /// A run with a hard time limit: it may be abandoned, so it gets its own buffer and starts off this loop, so that even
    /// a handler that blocks synchronously cannot hold the slot past its limit.
    /// </summary>
    private async Task RunLimitedAsync(Delivery delivery, Envelope envelope, TaskRegistration registration, RunControl run)
    {
        TaskPolicy policy = registration.Policy;
        TimeSpan hard = policy.TimeLimit!.Value;
        AsyncServiceScope scope = _scopes.CreateAsyncScope();
        var sink = new ArrayBufferWriter<byte>(256);
        // A copy: an abandoned run may start decoding after this delivery (and the broker's buffer its bytes are in)
        // was handed back.
        ReadOnlyMemory<byte> args = envelope.Args.ToArray();
        bool abandoned = false;
        Exception? failure = null;
        TaskResult? result = null;
        long started = _time.GetTimestamp();
        Begin(delivery, run, policy);
        TaskContext context;
        try
        {
            context = NewContext(delivery, envelope, scope.ServiceProvider, run);
        }
        catch (Exception ex)
        {
            End(delivery, run);
            await scope.DisposeAsync().ConfigureAwait(false);
            await UnrunnableAsync(delivery, envelope, ex).ConfigureAwait(false);
            return;
        }

        try
        {
            RunningTask running = RunningTask.Of(envelope.Id, envelope.RootId);
            Task limited = Task.Run(() =>
            {
                RunningTask.Enter(running);
                return registration.Invoker(args, context, sink).AsTask();
            });
            using var limitCancel = new CancellationTokenSource();
            Task limit = Task.Delay(hard, _time, limitCancel.Token);
            if (await Task.WhenAny(limited, limit).ConfigureAwait(false) == limited)
            {
                await limitCancel.CancelAsync().ConfigureAwait(false);
                try
                {
                    await limited.ConfigureAwait(false);
                    result = new TaskResult { State = TaskState.Success, Value = sink.WrittenMemory, TaskName = envelope.Task, Retries = envelope.Retries, Timestamp = _time.GetUtcNow(), Worker = _name };
                    Log.TaskSucceeded(_logger, envelope.Id, envelope.Task, _time.GetElapsedTime(started).TotalMilliseconds);
                }
                catch (Exception ex)
                {
                    failure = ex;
                }
            }
            else
            {
                abandoned = true;
                run.Cancel();
                AbandonInBackground(limited, scope, envelope.Id, envelope.Task);
                Log.TimeLimitExceeded(_logger, envelope.Id, envelope.Task, hard.TotalMilliseconds);
                result = Failed(envelope, new TaskError("Celeriac.TimeLimitExceeded", $"the task exceeded its hard time limit of {hard.TotalMilliseconds:0} ms and was abandoned", null));
            }
        }
        finally
        {
            End(delivery, run);
            if (!abandoned)
            {
                await scope.DisposeAsync().ConfigureAwait(false);
            }
        }

        if (result is not null)
        {
            await CompleteAsync(delivery, result).ConfigureAwait(false);
            return;
        }

        await HandleFailureAsync(delivery, envelope, policy, run, failure!).ConfigureAwait(false);
    }

    /// <summary>The name (quoted, bounded) and reply channel of a message that is not decoded: headers and arguments are skipped.</summary>
    private static string? TryReadTaskName(Delivery delivery)
    {
        EnvelopeCodec.Peek(delivery.Envelope, out string? task, out string? replyTo);
        delivery.ReplyTo = replyTo;
        return task;
    }

    /// <summary>An abandoned run (hard time limit) keeps running in the background; its scope is disposed when it ends, its outcome ignored.</summary>
    private void AbandonInBackground(Task invocation, AsyncServiceScope scope, string taskId, string taskName)
    {
        _ = invocation.ContinueWith(
            async t =>
            {
                Log.AbandonedRunEnded(_logger, taskId, taskName, t.Status.ToString());
                await scope.DisposeAsync().ConfigureAwait(false);
            },
            CancellationToken.None,
            TaskContinuationOptions.None,
            TaskScheduler.Default).Unwrap();
    }

    private static readonly IReadOnlyDictionary<string, string> EmptyHeaders = new Dictionary<string, string>();

    private async Task ReleaseAsync(List<Delivery> deliveries)
    {
        if (deliveries.Count == 0)
        {
            return;
        }

        try
        {
            await _broker!.ReleaseAsync(deliveries, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // They stay leased and come back after the visibility timeout.
            Log.BrokerError(_logger, ex, "release", 0);
        }
    }

    private async Task<bool> Delay(int milliseconds, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(TimeSpan.FromMilliseconds(milliseconds), _time, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    public override void Dispose()
    {
        _runPermits.Dispose();
        _exclusiveGate.Dispose();
        _hardStop.Dispose();
        _slots.Dispose();
        base.Dispose();
    }
}
