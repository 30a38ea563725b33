using System.Buffers;
using System.Diagnostics;
using Celeriac.Brokers;
using Celeriac.Diagnostics;
using Celeriac.Protocol;
using Celeriac.Worker;

namespace Celeriac;

/// <summary>
/// The task client: sends tasks through the generated stubs and reads results. Get it from DI (<c>ITaskClient</c>
/// after <c>AddCeleriac</c>) or, without a host, from <see cref="ConnectAsync"/>. Thread-safe; share one per process.
/// </summary>
public sealed partial class CeleriacClient : ITaskClient, IAsyncDisposable
{
    private readonly BrokerProvider _brokers;
    private readonly CeleriacOptions _options;
    private readonly TimeProvider _time;
    private readonly bool _ownsBroker;
    private readonly TaskCatalog _catalog;
    private readonly Client.EnvelopeFactory _envelopes;
    private readonly Middleware.MiddlewarePipeline _middleware;
    private readonly Control.EventPublisher _events;
    private readonly bool _ownsEvents;

    internal CeleriacClient(BrokerProvider brokers, CeleriacOptions options, TimeProvider time, bool ownsBroker, TaskCatalog? catalog = null, Middleware.MiddlewarePipeline? middleware = null, Control.EventPublisher? events = null)
    {
        _middleware = middleware ?? Middleware.MiddlewarePipeline.None;
        _ownsEvents = events is null;
        _events = events ?? new Control.EventPublisher(brokers, options, time, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        Events = new TaskEventClient(brokers.GetAsync, _events, time);
        _brokers = brokers;
        _options = options;
        _time = time;
        _ownsBroker = ownsBroker;
        _catalog = catalog ?? TaskCatalog.Global;
        _envelopes = new Client.EnvelopeFactory(options, _catalog, time, _middleware);
        Schedules = new ScheduleClient(brokers.GetAsync, _envelopes, time);
        var control = new global::Celeriac.Control.ControlRequests(brokers.GetAsync, time);
        Workers = new global::Celeriac.Control.WorkerRegistry(control);
        Inspect = new global::Celeriac.Control.WorkerInspector(control);
        Control = new global::Celeriac.Control.WorkerController(control, RevokeAsync);
    }

    /// <summary>The worker registry: the live workers with their queues, concurrency and counts (docs/observability.md).</summary>
    public global::Celeriac.Control.WorkerRegistry Workers { get; }

    /// <summary>Asks running workers what they do: ping, active, reserved, registered, stats (docs/observability.md).</summary>
    public global::Celeriac.Control.WorkerInspector Inspect { get; }

    /// <summary>Changes running workers: queues consumed, concurrency, warm shutdown; revoke (docs/observability.md).</summary>
    public global::Celeriac.Control.WorkerController Control { get; }
    /// <summary>The task event stream: follow it, read its newest events, switch events on or off at run time (docs/observability.md).</summary>
    public TaskEventClient Events { get; }

    /// <summary>The schedules stored in the broker (added at run time) and every schedule's state: list, pause, resume, trigger now (docs/scheduling.md).</summary>
    public ScheduleClient Schedules { get; }

    /// <summary>Creates a client without a host. With <see cref="CeleriacOptions.Redis"/> unset, the client has its own in-process broker (useful only together with a worker in the same process; prefer DI for that).</summary>
    /// <param name="options">Where the broker is.</param>
    /// <param name="cancellationToken">Cancels the connection attempt.</param>
    /// <returns>A connected client; dispose it to close its connections.</returns>
    /// <exception cref="ArgumentException">The options are invalid; the message names the setting.</exception>
    public static async Task<CeleriacClient> ConnectAsync(CeleriacOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Validate() is { } problem)
        {
            throw new ArgumentException(problem, nameof(options));
        }

        var brokers = new BrokerProvider(options, TimeProvider.System, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);
        _ = await brokers.GetAsync(cancellationToken).ConfigureAwait(false);
        return new CeleriacClient(brokers, options, TimeProvider.System, ownsBroker: true);
    }

    /// <summary>"redis" or "in-memory": which broker this client talks to.</summary>
    public string BrokerName => _options.UsesRedis ? "redis" : "in-memory";

    /// <inheritdoc/>
    public async ValueTask<string> SendAsync<TArgs>(TaskDefinition<TArgs> task, TArgs args, TaskOptions? options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(task);
        _envelopes.CheckOptions(options);
        ITaskBroker broker = await _brokers.GetAsync(cancellationToken).ConfigureAwait(false);
        string queue = options?.Queue ?? task.Queue;
        using Activity? activity = Telemetry.StartSend(queue, task.Name, 1); // null unless a listener samples it
        bool attempted = false;
        SendingTask? sending = null;
        try
        {
            (byte[]? traceParent, byte[]? traceState) = activity is null ? default : Telemetry.TraceContextOf(activity);
            EnqueueItem item = _envelopes.Create(task, args, options, broker, broker.ReplyChannel, traceParent, traceState, out sending);
            Telemetry.TagMessage(activity, item.Id, item.Envelope.Length);
            attempted = true;
            await broker.EnqueueAsync([item], cancellationToken).ConfigureAwait(false); // unconfirmed: BrokerUnavailableException
            Telemetry.SendSucceeded(queue, task.Name, 1);
            _events.EnsureStarted();
            if (_events.Enabled)
            {
                _events.Sent(item, task.Name);
            }

            if (sending is not null)
            {
                _middleware.Sent(sending, null);
            }

            return item.Id;
        }
        catch (Exception ex)
        {
            Telemetry.SendFailed(activity, ex, attempted, queue, task.Name, 1);
            if (sending is not null && attempted)
            {
                _middleware.Sent(sending, ex);
            }

            throw;
        }
    }

    /// <summary>Sends many tasks of one kind in as few round trips as the broker allows.</summary>
    /// <typeparam name="TArgs">The task's generated argument list.</typeparam>
    /// <param name="task">The generated definition.</param>
    /// <param name="argsList">One argument list per task.</param>
    /// <param name="options">Options applied to every task (a fixed <see cref="TaskOptions.TaskId"/> is not allowed here).</param>
    /// <param name="cancellationToken">Cancels the send.</param>
    /// <returns>The task ids, in the order of <paramref name="argsList"/>.</returns>
    public async ValueTask<string[]> SendManyAsync<TArgs>(TaskDefinition<TArgs> task, IReadOnlyList<TArgs> argsList, TaskOptions? options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(argsList);
        if (options?.TaskId is not null)
        {
            throw new ArgumentException("TaskOptions.TaskId cannot be shared by several tasks.", nameof(options));
        }

        _envelopes.CheckOptions(options);

        ITaskBroker broker = await _brokers.GetAsync(cancellationToken).ConfigureAwait(false);
        string queue = options?.Queue ?? task.Queue;
        using Activity? activity = Telemetry.StartSend(queue, task.Name, argsList.Count); // one span for the batch
        bool attempted = false;
        SendingTask?[]? sent = _middleware.Any ? new SendingTask?[argsList.Count] : null;
        try
        {
            (byte[]? traceParent, byte[]? traceState) = activity is null ? default : Telemetry.TraceContextOf(activity);
            var items = new EnqueueItem[argsList.Count];
            var ids = new string[items.Length];
            for (int i = 0; i < items.Length; i++)
            {
                items[i] = _envelopes.Create(task, argsList[i], options, broker, broker.ReplyChannel, traceParent, traceState, out SendingTask? sending);
                ids[i] = items[i].Id;
                if (sent is not null)
                {
                    sent[i] = sending;
                }
            }

            attempted = true;
            await broker.EnqueueAsync(items, cancellationToken).ConfigureAwait(false);
            Telemetry.SendSucceeded(queue, task.Name, items.Length);
            _events.EnsureStarted();
            if (_events.Enabled)
            {
                foreach (EnqueueItem item in items)
                {
                    _events.Sent(item, task.Name);
                }
            }

            SentAll(sent, null);
            return ids;
        }
        catch (Exception ex)
        {
            Telemetry.SendFailed(activity, ex, attempted, queue, task.Name, argsList.Count);
            if (attempted)
            {
                SentAll(sent, ex);
            }

            throw;
        }
    }

    private void SentAll(SendingTask?[]? sent, Exception? error)
    {
        if (sent is null)
        {
            return;
        }

        foreach (SendingTask? sending in sent)
        {
            if (sending is not null)
            {
                _middleware.Sent(sending, error);
            }
        }
    }

    /// <inheritdoc/>
    public ValueTask<TaskResult> GetResultAsync(string taskId, CancellationToken cancellationToken)
        => GetResultAsync(taskId, null, cancellationToken);

    /// <inheritdoc/>
    public async ValueTask<TaskResult> GetResultAsync(string taskId, string? queue, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(taskId);
        ITaskBroker broker = await _brokers.GetAsync(cancellationToken).ConfigureAwait(false);
        return await broker.GetResultAsync(taskId, queue, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public ValueTask<TaskResult> WaitAsync(string taskId, TimeSpan timeout, CancellationToken cancellationToken)
        => WaitAsync(taskId, null, timeout, cancellationToken);

    /// <inheritdoc/>
    public async ValueTask<TaskResult> WaitAsync(string taskId, string? queue, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(taskId);
        ITaskBroker broker = await _brokers.GetAsync(cancellationToken).ConfigureAwait(false);
        return await broker.WaitResultAsync(taskId, queue, timeout, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>How many tasks wait in <paramref name="queue"/> (runnable now; not scheduled, not running).</summary>
    /// <param name="queue">The queue.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The number of waiting tasks.</returns>
    public async Task<long> GetQueueLengthAsync(string queue, CancellationToken cancellationToken = default)
    {
        ITaskBroker broker = await _brokers.GetAsync(cancellationToken).ConfigureAwait(false);
        return await broker.GetQueueLengthAsync(queue, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Lists the messages of <paramref name="queue"/> that were set aside, oldest first.</summary>
    /// <param name="queue">The queue.</param>
    /// <param name="max">The most entries to return.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The dead letters with their reasons.</returns>
    public async Task<IReadOnlyList<DeadLetter>> GetDeadLettersAsync(string queue, int max = 100, CancellationToken cancellationToken = default)
    {
        ITaskBroker broker = await _brokers.GetAsync(cancellationToken).ConfigureAwait(false);
        return await broker.GetDeadLettersAsync(queue, max, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Lists the dead letters of several queues at once, oldest first across them: <paramref name="queues"/>, or by
    /// default every queue this process knows from its task catalog — the declared queues (<c>[assembly: TaskQueue]</c>)
    /// and the queues the registered tasks are routed to, with <c>default</c>. A queue only ever named in a per-call
    /// override is not known that way: pass it explicitly.
    /// </summary>
    /// <param name="queues">The queues to read, or <see langword="null"/> for every queue the task catalog knows.</param>
    /// <param name="maxPerQueue">The most entries to read from each queue.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The dead letters of all those queues, each with its <see cref="DeadLetter.Queue"/>, ordered by when they were set aside.</returns>
    public async Task<IReadOnlyList<DeadLetter>> GetAllDeadLettersAsync(IEnumerable<string>? queues = null, int maxPerQueue = 100, CancellationToken cancellationToken = default)
    {
        ITaskBroker broker = await _brokers.GetAsync(cancellationToken).ConfigureAwait(false);
        string[] names = queues is null ? [.. KnownQueues()] : [.. queues.Distinct(StringComparer.Ordinal)];
        IReadOnlyList<DeadLetter>[] perQueue = await Task.WhenAll(names.Select(q => broker.GetDeadLettersAsync(q, maxPerQueue, cancellationToken))).ConfigureAwait(false);
        return [.. perQueue.SelectMany(letters => letters).OrderBy(letter => letter.At)];
    }

    /// <summary>The queues the task catalog knows: declared ones, the registered tasks' queues, and <c>default</c>; sorted.</summary>
    private SortedSet<string> KnownQueues()
    {
        var known = new SortedSet<string>(_catalog.DeclaredQueues, StringComparer.Ordinal) { TaskAttribute.DefaultQueue };
        foreach (TaskRegistration task in _catalog.Tasks)
        {
            known.Add(task.Queue);
        }

        return known;
    }

    /// <summary>Deletes dead letters of <paramref name="queue"/> for good (their messages are gone; their results stay until they expire).</summary>
    /// <param name="queue">The queue.</param>
    /// <param name="ids">The task ids to delete, or <see langword="null"/> for every dead letter of the queue.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>How many were deleted.</returns>
    public async Task<long> PurgeDeadLettersAsync(string queue, IReadOnlyList<string>? ids = null, CancellationToken cancellationToken = default)
    {
        ITaskBroker broker = await _brokers.GetAsync(cancellationToken).ConfigureAwait(false);
        return await broker.PurgeDeadLettersAsync(queue, ids, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Puts dead letters back on their queue.</summary>
    /// <param name="queue">The queue.</param>
    /// <param name="ids">The task ids to requeue.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>How many were requeued.</returns>
    public async Task<int> RequeueDeadLettersAsync(string queue, IReadOnlyList<string> ids, CancellationToken cancellationToken = default)
    {
        ITaskBroker broker = await _brokers.GetAsync(cancellationToken).ConfigureAwait(false);
        return await broker.RequeueDeadLettersAsync(queue, ids, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Revokes a task by id, wherever it is: queued, scheduled (ETA or retry backoff) or running. The revocation is kept
    /// in the broker for <paramref name="keepFor"/> (default <see cref="CeleriacOptions.RevokeTtl"/>), so a worker that is
    /// offline now honours it when it comes back: the task is recorded <see cref="TaskState.Revoked"/> instead of being
    /// run. A running task sees its <see cref="CancellationToken"/> cancelled (at once through a broker notification,
    /// else at the worker's next heartbeat) and ends REVOKED unless it still returns successfully.
    /// </summary>
    /// <param name="taskId">The task's id.</param>
    /// <param name="keepFor">How long the broker remembers the revocation; <see langword="null"/> for <see cref="CeleriacOptions.RevokeTtl"/>.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>A task that completes when the broker has stored the revocation.</returns>
    public async Task RevokeAsync(string taskId, TimeSpan? keepFor = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(taskId);
        TimeSpan keep = keepFor ?? _options.RevokeTtl;
        if (keep <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(keepFor), keep, "A revocation must be kept for a positive time.");
        }

        ITaskBroker broker = await _brokers.GetAsync(cancellationToken).ConfigureAwait(false);
        await broker.RevokeAsync(taskId, keep, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (_ownsEvents)
        {
            await _events.DisposeAsync().ConfigureAwait(false); // what waits is written before the broker goes
        }

        if (_ownsBroker)
        {
            await _brokers.DisposeAsync().ConfigureAwait(false);
        }
    }
}
