using System.Buffers;
using System.Diagnostics;
using Celeriac.Brokers;
using Celeriac.Diagnostics;
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
    private readonly TaskRegistration _map;
    private readonly IServiceScopeFactory _scopes;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly string _name;
    private readonly HeldSet _held;
    private readonly DeliveryPool _deliveries;

    /// <summary>The memory budget of the messages held (<see cref="WorkerOptions.MaxMemoryInFlight"/>), or <see langword="null"/> when unlimited.</summary>
    private readonly MemoryBudget? _budget;
    private readonly Dispatch _dispatch;
    private readonly SemaphoreSlim _slots;
    private volatile QueueSelector _queueSelector; // replaced (never changed) when a control command changes the queues
    private readonly CancellationTokenSource _hardStop = new();
    private readonly SemaphoreSlim _runPermits;
    private readonly SemaphoreSlim _exclusiveGate = new(1, 1);
    /// <summary>Suspects waiting to run alone (queued at <see cref="_exclusiveGate"/> or gathering every permit): other runs wait behind them.</summary>
    private int _suspectsWaiting;
    /// <summary>
    /// <see cref="RunIdle"/>, <see cref="RunActive"/> while <see cref="RunAsync"/> runs, or <see cref="RunDisposeDeferred"/>
    /// when a dispose came meanwhile: the run's primitives are then disposed when it ends, not under it.
    /// </summary>
    private int _runState;
    private const int RunIdle = 0, RunActive = 1, RunDisposeDeferred = 2;
    private readonly GroupCommit<StartItem> _starts;
    private readonly GroupCommit<CompleteItem> _completes;
    private readonly GroupCommit<Workflows.FlowCompletion> _flowCompletes;
    private readonly OutcomeObserver _outcomes;
    private readonly Middleware.MiddlewarePipeline _middleware;
    private readonly Control.EventPublisher _events;

    /// <summary>The dedicated CPU threads, made only when a loaded task runs there (<see cref="TaskExecution.Cpu"/>).</summary>
    private readonly CpuPool? _cpu;

    /// <summary>A pool whose <see cref="WorkerPool.Execution"/> is <see cref="TaskExecution.Cpu"/>: every task runs on <see cref="_cpu"/>.</summary>
    private readonly bool _allCpu;
    /// <summary>The logger of the run scopes (<see cref="WorkerOptions.TaskLogScopes"/>), or <see langword="null"/> when they are off.</summary>
    private readonly ILogger? _taskLogger;
    private readonly WorkerStatus _status;
    private volatile bool _stopping;

    /// <summary>Cancelled when a graceful stop begins: ends the waits of rate-limited tasks, which are then handed back.</summary>
    private readonly CancellationTokenSource _stopWaiting = new();

    /// <summary>The rate limits of this worker, per task (made on a task's first rate-limited run).</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, RateGate> _rateGates = new(StringComparer.Ordinal);
    private string? _lastTaskName; // hints for the decoder (reuse the strings); races are harmless
    private string? _lastReplyTo;
    private ITaskBroker? _broker;
    private Workflows.FlowForwarder? _flows;
    private Workflows.IWorkflowStore? _flowStore;

    public CeleriacWorker(BrokerProvider brokers, IOptions<CeleriacOptions> options, IOptions<WorkerOptions> worker, TaskCatalog catalog, IServiceScopeFactory scopes, ILogger<CeleriacWorker> logger, TimeProvider time, IEnumerable<IOutcomeListener> listeners, ILoggerFactory loggers, WorkerStatus status, IHostApplicationLifetime lifetime, Middleware.MiddlewarePipeline? middleware = null, Control.EventPublisher? events = null, Supervision.ProcessRole? role = null)
        : this(brokers, options.Value, worker.Value, null, null, catalog, scopes, logger, time, listeners, loggers, status, lifetime, middleware, events, role)
    {
    }

    /// <summary>
    /// The worker (<paramref name="pool"/> null), or its pool <paramref name="poolName"/>, with <paramref name="worker"/>
    /// the pool's options. A pool plays no process role: the worker recycles and names the process.
    /// </summary>
    private CeleriacWorker(BrokerProvider brokers, CeleriacOptions options, WorkerOptions worker, string? poolName, WorkerPool? pool, TaskCatalog catalog, IServiceScopeFactory scopes, ILogger<CeleriacWorker> logger, TimeProvider time, IEnumerable<IOutcomeListener> listeners, ILoggerFactory loggers, WorkerStatus status, IHostApplicationLifetime lifetime, Middleware.MiddlewarePipeline? middleware, Control.EventPublisher? events, Supervision.ProcessRole? role)
    {
        _lifetime = lifetime;
        _role = role ?? Supervision.ProcessRole.Alone;
        _brokers = brokers;
        _options = options;
        _worker = worker;
        _isPool = pool is not null;
        _catalog = catalog;
        _map = Workflows.MapTask.For(catalog);
        _scopes = scopes;
        _logger = logger;
        _time = time;
        _name = _role.WorkerName(_worker.Name);
        // No maximum count: a control command may grow the concurrency, and the prefetch with it (CeleriacWorker.Control.cs).
        _slots = new SemaphoreSlim(_worker.EffectivePrefetch);
        _prefetch = _worker.EffectivePrefetch;
        _concurrency = _worker.InitialConcurrency;
        _queues = [.. _worker.EffectiveQueues];
        _held = new HeldSet(_worker.EffectivePrefetch);
        _budget = _worker.MaxMemoryInFlight > 0 ? new MemoryBudget(_worker.MaxMemoryInFlight) : null;
        _deliveries = new DeliveryPool { Budget = _budget };
        _dispatch = new Dispatch(_worker.EffectivePrefetch, _worker.InitialConcurrency);
        _queueSelector = new QueueSelector(_worker.EffectiveQueues, _worker.QueueOrder, _worker.QueueWeights);
        _runPermits = new SemaphoreSlim(_worker.InitialConcurrency);
        _starts = new GroupCommit<StartItem>(SendStartsAsync, OnCommitError, _options.VisibilityTimeout, time);
        _completes = new GroupCommit<CompleteItem>(SendCompletesAsync, OnCommitError, _options.VisibilityTimeout, time);
        _flowCompletes = new GroupCommit<Workflows.FlowCompletion>(SendFlowCompletesAsync, OnCommitError, _options.VisibilityTimeout, time);
        _middleware = middleware ?? Middleware.MiddlewarePipeline.None;
        _events = events ?? new Control.EventPublisher(brokers, _options, time, logger);
        // A pool's Execution decides for all its tasks: Cpu runs every one on its CPU threads, Pool none. Solo runs every
        // task inline on its consumer: no CPU threads, so Cpu tasks run there too.
        _allCpu = pool?.Execution == TaskExecution.Cpu;
        _cpu = !_worker.Solo && pool?.Execution != TaskExecution.Pool && (_allCpu || _catalog.Tasks.Any(static t => t.Policy.Execution == TaskExecution.Cpu)) ? new CpuPool(_worker.CpuThreads, poolName) : null;
        _outcomes = new OutcomeObserver(logger, listeners, time, catalog, _middleware, _name, _events);
        _taskLogger = _worker.TaskLogScopes ? loggers.CreateLogger(TaskLogScope.Category) : null;
        _status = status;
        _autoscaler = _worker.Autoscale is { } autoscale ? new Autoscaler(this, autoscale, time, logger) : null;
        _pools = pool is not null || _worker.Pools.Count == 0
            ? []
            : [.. _worker.Pools.OrderBy(static p => p.Key, StringComparer.Ordinal).Select(p => new CeleriacWorker(brokers, options, _worker.ForPool(p.Key, p.Value, _name), p.Key, p.Value, catalog, scopes, logger, time, listeners, loggers, status, lifetime, middleware, _events, null))];
        _root = this;
        foreach (CeleriacWorker child in _pools)
        {
            child._root = this;
        }
    }

    /// <summary>The dedicated CPU threads, or <see langword="null"/> when no loaded task runs there (tests).</summary>
    internal CpuPool? Cpu => _cpu;

    /// <summary>The worker's name, as recorded in results.</summary>
    public string Name => _name;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_role.IsSupervisor)
        {
            return; // the supervisor's children run the workers (WorkerOptions.Processes)
        }

        _startedAt = _time.GetUtcNow();
        _status.Starting(_name);
        // The pools stop with the worker, and the worker with a pool that failed (CeleriacWorker.Pools.cs).
        using CancellationTokenSource? poolStop = _pools.Length == 0 ? null : CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        try
        {
            if (poolStop is not null)
            {
                StartPools(poolStop);
            }

            await RunAsync(poolStop?.Token ?? stoppingToken).ConfigureAwait(false);
            _status.Stopped(null);
        }
        catch (Exception ex)
        {
            if (poolStop is not null)
            {
                await StopPoolsAfterFailureAsync(poolStop).ConfigureAwait(false);
            }

            _status.Stopped(ex is OperationCanceledException && stoppingToken.IsCancellationRequested ? null : ex);
            throw;
        }
    }

    private async Task RunAsync(CancellationToken stoppingToken)
    {
        Interlocked.CompareExchange(ref _runState, RunActive, RunIdle);
        try
        {
            await RunCoreAsync(stoppingToken).ConfigureAwait(false);
        }
        finally
        {
            if (Interlocked.Exchange(ref _runState, RunIdle) == RunDisposeDeferred)
            {
                DisposePrimitives();
            }
        }
    }

    private async Task RunCoreAsync(CancellationToken stoppingToken)
    {
        if (_worker.ReserveThreadPool)
        {
            // Headroom for the I/O completions (lease renewals, outcomes) when every handler blocks its thread.
            ThreadPool.GetMinThreads(out int workers, out int io);
            int wanted = (_worker.Solo ? 1 : _worker.Autoscale?.Max ?? _worker.Concurrency) + PoolsConcurrency() + Environment.ProcessorCount;
            if (workers < wanted && ThreadPool.SetMinThreads(wanted, io))
            {
                Log.ThreadPoolReserved(_logger, workers, wanted);
            }
        }

        _broker = await _brokers.GetAsync(stoppingToken).ConfigureAwait(false);
        // Events: the run-time switch is read before the first fetch, so a worker started while events are on writes from its first task.
        if (!_isPool)
        {
            // One source of events for the process: the worker's name; the heartbeat counts the running tasks of every pool.
            await _events.AttachWorkerAsync(_name, _worker.Events, _worker.EventHeartbeat, () => CountHeld().Active + PoolsActive()).ConfigureAwait(false); // the running tasks (the concurrency may change at run time: control grow/shrink)
        }

        Log.WorkerStarted(_logger, _name, _broker.Name, string.Join(", ", _worker.EffectiveQueues), _worker.InitialConcurrency, _worker.EffectivePrefetch, _catalog.Count);

        try
        {
            await _broker.SubscribeRevocationsAsync(OnRevoked, stoppingToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The heartbeat's re-check still finds revoked tasks; only the instant notification is missing.
            Log.BrokerError(_logger, ex, "revocation subscription", 0);
        }

        try
        {
            await _broker.RegisterQueuesAsync(_worker.EffectiveQueues, stoppingToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Clients register a queue on their first send to it too; only lookups by id alone may miss this queue until then.
            Log.BrokerError(_logger, ex, "queue registration", 0);
        }

        // The worker registry and the control commands: a loop of their own, on the registry's interval and a subscription.
        using var controlStop = new CancellationTokenSource();
        Control.WorkerControl? control = _broker is IWorkerControl registry
            ? new Control.WorkerControl(registry, this, _worker.RegistryInterval, _time, _logger)
            : null;
        Task controlLoop = Task.CompletedTask;
        if (control is not null)
        {
            await control.StartAsync(stoppingToken).ConfigureAwait(false);
            controlLoop = Task.Run(() => control.RunAsync(controlStop.Token), CancellationToken.None);
        }

        // Workflow follow-ups a dead worker left in these queues' outboxes are carried out by the sweep (docs/workflows.md).
        using var sweepStop = new CancellationTokenSource();
        Task sweep = Task.CompletedTask;
        Task pump = Task.CompletedTask;
        if (_broker is Workflows.IWorkflowStore store)
        {
            _flowStore = store;
            _flows = new Workflows.FlowForwarder(store, _time, _options.ResultTtl, _logger, _name);
            sweep = _flows.SweepLoopAsync(_worker.EffectiveQueues, sweepStop.Token);
            pump = Task.Run(_flows.PumpAsync, CancellationToken.None);
        }

        using var heartbeatStop = new CancellationTokenSource();
        var heartbeatDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var heartbeatThread = new Thread(() =>
        {
            try
            {
                HeartbeatThread(heartbeatStop.Token);
            }
            catch (Exception ex)
            {
                // An exception on a thread of our own would end the process: logged instead. Leases are then no longer
                // renewed, so what this worker holds comes back to the queue when they expire.
                Log.HeartbeatFailed(_logger, ex);
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
        try
        {
            await ConsumeUntilStoppedAsync(stoppingToken).ConfigureAwait(false);
        }
        finally
        {
            // On every way out, an exception too: the thread waits on heartbeatStop, which is disposed when this method
            // ends. Left running, its next wait would throw on the disposed source, on its own thread: the process dies.
            await heartbeatStop.CancelAsync().ConfigureAwait(false);
            await heartbeat.ConfigureAwait(false);
        }

        await sweepStop.CancelAsync().ConfigureAwait(false);
        await sweep.ConfigureAwait(false);
        _flows?.Complete(); // the consumers are done: what they posted is carried out before the worker stops
        try
        {
            await pump.WaitAsync(_worker.ShutdownTimeout, _time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // Still in the outbox: another worker's sweep carries them out.
        }
        // Listed and answering until the stop is done; then gone from the registry at once (not after its entry expires).
        await controlStop.CancelAsync().ConfigureAwait(false);
        await controlLoop.ConfigureAwait(false);
        if (control is not null)
        {
            await control.RemoveAsync().ConfigureAwait(false);
        }

        foreach (Consumer consumer in ConsumerOwners())
        {
            consumer.Run.Dispose();
        }

        if (!_isPool)
        {
            await _poolsDone.ConfigureAwait(false); // every pool has handed back what it held (or throws what failed one)
            await _events.WorkerOfflineAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The consumers and the fetch loop, from the start until the stop (<paramref name="stoppingToken"/>) has run its
    /// graceful course: prefetched tasks handed back, running ones finished or handed back at the deadline.
    /// </summary>
    private async Task ConsumeUntilStoppedAsync(CancellationToken stoppingToken)
    {
        lock (_resizeGate)
        {
            for (int i = 0; i < _worker.InitialConcurrency; i++)
            {
                StartConsumerLocked();
            }
        }

        if (!_isPool)
        {
            _ = _status.Ready.ContinueWith(static (_, s) => ((CeleriacWorker)s!).OnReady(), this, CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
        }

        using var autoscaleStop = new CancellationTokenSource();
        Task autoscale = _autoscaler is null ? Task.CompletedTask : Task.Run(() => _autoscaler.RunAsync(autoscaleStop.Token), CancellationToken.None);
        await FetchLoopAsync(stoppingToken).ConfigureAwait(false);
        await autoscaleStop.CancelAsync().ConfigureAwait(false);
        await autoscale.ConfigureAwait(false);
        _status.Stopping();
        if (_middleware.Any && !_isPool)
        {
            _middleware.WorkerStopping(_name);
        }

        await StopGracefullyAsync(ConsumerTasks()).ConfigureAwait(false);
    }

    /// <summary>
    /// One consumer's loop. The common path (decode, start, run, complete) is awaited here and not in methods called per
    /// task, so that one state machine serves every task this consumer runs: the per-task allocations are the task's own.
    /// The uncommon outcomes (dead letters, expiry, revocation, failures, time limits) go through their own methods.
    /// </summary>
    private async Task ConsumeLoopAsync(Consumer consumer)
    {
        RunningTask.Enter(consumer.Running); // once: every run of this loop flows from here
        if (Activity.Current is not null)
        {
            Activity.Current = null; // a run's span is a child of its send, or a root: never of whatever started the host
        }

        while (true)
        {
            Delivery? delivery = await _dispatch.TakeAsync(consumer).ConfigureAwait(false);
            if (delivery is null)
            {
                return;
            }

            IDisposable? logScope = null;
            try
            {
                if (_stopping)
                {
                    _outcomes.Released(delivery, null);
                    await ReleaseAsync([delivery]).ConfigureAwait(false);
                    continue;
                }

                Envelope envelope = consumer.Envelope;
                Admission admission = Admit(delivery, envelope, out TaskRegistration? registration, out EnvelopeException? undecodable, out long elements);
                if (admission != Admission.Run)
                {
                    await RefuseAsync(delivery, envelope, admission, undecodable).ConfigureAwait(false);
                    continue;
                }

                if (_events.Enabled)
                {
                    _events.Run(TaskEventKind.TaskReceived, delivery, envelope);
                }

                // What the arguments decode into is charged before they are decoded: a run waits while it does not fit.
                if (_budget is not null)
                {
                    long elementBytes = elements * MemoryBudget.ElementCost;
                    if (!_budget.TryChargeElements(elementBytes))
                    {
                        await _budget.ChargeElementsAsync(elementBytes, CancellationToken.None).ConfigureAwait(false);
                    }

                    delivery.Charged += elementBytes;
                    delivery.ElementsCharged = true;
                }

                // A rate-limited task waits for its turn before it takes a run permit; a stop ends the wait and hands it back.
                if (registration!.Policy.RateLimitInterval is { } interval && !await WaitForRateAsync(registration.Name, interval).ConfigureAwait(false))
                {
                    _outcomes.Released(delivery, null);
                    await ReleaseAsync([delivery]).ConfigureAwait(false);
                    continue;
                }

                // With run scopes on, every log line of the run (the worker's and the task's own) carries the task's id and name.
                if (_taskLogger is not null && _taskLogger.IsEnabled(LogLevel.Critical))
                {
                    logScope = TaskLogScope.Begin(_taskLogger, envelope);
                }

                // A suspect (started before without an outcome: its worker probably died running it) runs alone, so
                // that if it is a poison message its crash takes no innocent running task with it, and innocent suspects
                // are not blamed again for a poison message they happened to run next to.
                int permits = delivery.Runs > 0 ? 0 : 1; // 0: all of them (AcquireRunPermitsAsync)
                if (permits != 1 || Volatile.Read(ref _suspectsWaiting) != 0 || !_runPermits.Wait(0))
                {
                    permits = await AcquireRunPermitsAsync(delivery, envelope, permits).ConfigureAwait(false);
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
                            _outcomes.LeaseLost(delivery); // another delivery owns it now; do not run it twice
                            continue;
                        }

                        delivery.RunStarted = true;
                    }

                    Telemetry.RunStarting(delivery, envelope, _time, _name);
                    if (_events.Enabled)
                    {
                        _events.Run(TaskEventKind.TaskStarted, delivery, envelope);
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
                        context = (registration.Needs & TaskNeeds.Context) != 0 || _middleware.Any // a hook sees the run's id and headers
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

                    if (_middleware.Any)
                    {
                        _middleware.Running(context);
                    }

                    try
                    {
                        ValueTask invocation;
                        try
                        {
                            invocation = _cpu is not null && (policy.Execution == TaskExecution.Cpu || _allCpu)
                                ? _cpu.Run(registration.Invoker, envelope.Args, context, output)
                                : registration.Invoker(envelope.Args, context, output); // awaited once, below
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
                        if (_middleware.Any)
                        {
                            _middleware.Ran(context, failure); // while the run's scope (context.Services) still lives
                        }

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

                    _outcomes.Succeeded(delivery, envelope, started);

                    // No copy of the value: this consumer reuses its buffer only after the outcome is stored (the group
                    // commit encodes the record before it releases this consumer).
                    CompleteItem success = CompleteItem.Success(delivery, output.WrittenMemory, envelope.Task, envelope.Retries, _time.GetUtcNow(), _name);
                    if (!envelope.Flow.IsEmpty)
                    {
                        await CompleteFlowAsync(delivery, envelope, success).ConfigureAwait(false); // a workflow step: its follow-ups go with it
                    }
                    else if (await _completes.SendAsync(success).ConfigureAwait(false) == 0)
                    {
                        _outcomes.LeaseLost(delivery);
                    }
                }
                finally
                {
                    // A shrink in progress keeps the permits it is owed (CeleriacWorker.Control.cs); else released.
                    if (Volatile.Read(ref _owedPermits) != 0)
                    {
                        permits = PayPermitDebt(permits);
                    }

                    if (permits > 0)
                    {
                        _runPermits.Release(permits);
                    }
                }
            }
            catch (Exception ex)
            {
                // Only the broker can throw here (task exceptions are outcomes). The lease stays; the task comes back.
                _status.BrokerFailed(ex);
                _outcomes.NotRecorded(delivery, ex);
            }
            finally
            {
                logScope?.Dispose();
                if (delivery.RunActivity is not null || delivery.CountedActive || Activity.Current is not null)
                {
                    Telemetry.RunFinished(delivery);
                }

                _held.Remove(delivery);
                _deliveries.Return(delivery); // nothing refers to it now: the next fetch reuses it
                if (Volatile.Read(ref _owedSlots) == 0 || !PaySlotDebt())
                {
                    _slots.Release();
                }
            }
        }
    }

    /// <summary>The worker became ready (connected, consuming): the lifecycle hooks hear it.</summary>
    private void OnReady()
    {
        _events.WorkerOnline();
        if (_middleware.Any)
        {
            _middleware.WorkerReady(_name);
        }
    }

    /// <summary>Waits for a rate-limited task's turn in this worker (<see cref="RateGate"/>); <see langword="false"/> when a stop began meanwhile.</summary>
    private async ValueTask<bool> WaitForRateAsync(string task, TimeSpan interval)
    {
        TimeSpan wait = _rateGates.GetOrAdd(task, static (_, i) => new RateGate(i), interval).Reserve(_time.GetUtcNow());
        if (wait > TimeSpan.Zero)
        {
            try
            {
                await Task.Delay(wait, _time, _stopWaiting.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return false;
            }
        }

        return !_stopping;
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

        if (_middleware.Any)
        {
            _middleware.Running(context);
        }

        try
        {
            RunningTask running = RunningTask.Of(envelope.Id, envelope.RootId, envelope.Flow.IsEmpty ? default : envelope.Flow.ToArray());
            Task limited = Task.Run(() =>
            {
                RunningTask.Enter(running);
                return _cpu is not null && (registration.Policy.Execution == TaskExecution.Cpu || _allCpu)
                    ? _cpu.Run(registration.Invoker, args, context, sink).AsTask()
                    : registration.Invoker(args, context, sink).AsTask();
            });
            using var limitCancel = new CancellationTokenSource();
            Task limit = Task.Delay(hard, _time, limitCancel.Token);
            if (await Task.WhenAny(limited, limit).ConfigureAwait(false) == limited)
            {
                await limitCancel.CancelAsync().ConfigureAwait(false);
                try
                {
                    await limited.ConfigureAwait(false);
                    if (_middleware.Any)
                    {
                        _middleware.Ran(context, null);
                    }

                    result = new TaskResult { State = TaskState.Success, Value = sink.WrittenMemory, TaskName = envelope.Task, Retries = envelope.Retries, Timestamp = _time.GetUtcNow(), Worker = _name };
                    _outcomes.Succeeded(delivery, envelope, started);
                }
                catch (Exception ex)
                {
                    failure = ex;
                    if (_middleware.Any)
                    {
                        _middleware.Ran(context, ex);
                    }
                }
            }
            else
            {
                abandoned = true;
                Interlocked.Increment(ref _failedRuns);
                run.Cancel();
                AbandonInBackground(limited, scope, envelope.Id, envelope.Task);
                var error = new TaskError(ErrorTypes.TimeLimitExceeded, $"the task exceeded its hard time limit of {hard.TotalMilliseconds:0} ms and was abandoned", null);
                _outcomes.TimeLimitExceeded(delivery, envelope, hard, error);
                result = Failed(envelope, error);
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
            await CompleteAsync(delivery, result, envelope).ConfigureAwait(false);
            return;
        }

        await HandleFailureAsync(delivery, envelope, policy, run, failure!).ConfigureAwait(false);
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
        foreach (CeleriacWorker pool in _pools)
        {
            pool.Dispose();
        }

        base.Dispose();
        if (Interlocked.CompareExchange(ref _runState, RunDisposeDeferred, RunActive) == RunIdle)
        {
            DisposePrimitives();
        }

        // Else the host gave up waiting for the stop (its own shutdown timeout) and disposes the worker while the stop
        // still runs: what the stop uses is disposed when it ends, so that it goes on to its end (the deadline, the
        // hand-back) instead of failing halfway on disposed objects.
    }

    private void DisposePrimitives()
    {
        _cpu?.Dispose();
        _stopWaiting.Dispose();
        _runPermits.Dispose();
        _exclusiveGate.Dispose();
        _hardStop.Dispose();
        _slots.Dispose();
    }
}
