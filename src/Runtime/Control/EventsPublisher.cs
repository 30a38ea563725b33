using System.Globalization;
using System.Threading.Channels;
using Celeriac.Brokers;
using Celeriac.Protocol;
using Celeriac.Worker;
using Microsoft.Extensions.Logging;

namespace Celeriac.Control;

/// <summary>
/// Writes task events (docs/observability.md, "Task events") off the hot path: the client's sends and the worker's
/// outcomes put plain records into one bounded channel, drained in batches by one writer into the broker's event
/// stream. The worker and the client test <see cref="Enabled"/> (one volatile read) before anything else: with events
/// off nothing is made or called. A full channel or an unreachable broker drops events and counts them
/// (<see cref="Dropped"/>); a task never waits for an event.
/// </summary>
/// <remarks>
/// Whether events are on: the run-time switch in the broker when set (<see cref="IEventStream.GetEventsSwitchAsync"/>),
/// else the worker's <see cref="WorkerOptions.Events"/> (a process without a worker: off). The switch is read when the
/// publisher starts, again on every change notification, and on every <see cref="WorkerOptions.EventHeartbeat"/>, so a
/// missed notification costs at most one heartbeat. One publisher per process (a DI singleton shared by the client and
/// the worker).
/// </remarks>
internal sealed partial class EventPublisher : IAsyncDisposable
{
    /// <summary>How many events wait for the writer at most; more are dropped.</summary>
    internal const int Capacity = 16_384;

    /// <summary>The most events written in one batch.</summary>
    internal const int BatchSize = 512;

    private static readonly TimeSpan FailureBackoff = TimeSpan.FromMilliseconds(500);

    private readonly BrokerProvider _brokers;
    private readonly int _maxLength;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Channel<EventRecord> _channel = Channel.CreateBounded<EventRecord>(new BoundedChannelOptions(Capacity)
    {
        SingleReader = true,
        FullMode = BoundedChannelFullMode.Wait, // TryWrite then refuses (and the event is counted as dropped); nobody waits
    });

    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _firstRead = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _enabled;
    private volatile bool _defaultOn;
    private bool? _switch;
    private long _switchVersion;
    private int _refreshWanted;
    private int _refreshing;
    private int _started;
    private long _queued;
    private long _done;
    private long _dropped;
    private long _processed;
    private bool _failing;
    private string _source = Environment.MachineName + ":" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
    private string? _worker;
    private Func<int>? _active;
    private TimeSpan _heartbeat = WorkerOptions.DefaultEventHeartbeat;
    private Task _writer = Task.CompletedTask;
    private Task _follower = Task.CompletedTask;

    /// <param name="brokers">Where the event stream is.</param>
    /// <param name="options">The stream's length (<see cref="CeleriacOptions.EventStreamLength"/>).</param>
    /// <param name="time">The clock of the events' timestamps and of the heartbeat.</param>
    /// <param name="logger">Where a failing stream is reported (once per outage).</param>
    public EventPublisher(BrokerProvider brokers, CeleriacOptions options, TimeProvider time, ILogger logger)
    {
        _brokers = brokers;
        _maxLength = options.EventStreamLength;
        _time = time;
        _logger = logger;
    }

    /// <summary>Whether events are written now (one volatile read: the hot path's only cost with events off).</summary>
    public bool Enabled => _enabled;

    /// <summary>Events this process dropped: the channel was full, or the broker could not take them.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>
    /// Starts following the switch (and the writer) once, in the background: a client calls it on its first send; the
    /// worker through <see cref="AttachWorkerAsync"/>.
    /// </summary>
    public void EnsureStarted()
    {
        if (Volatile.Read(ref _started) == 0 && Interlocked.CompareExchange(ref _started, 1, 0) == 0)
        {
            _writer = Task.Run(WriteLoopAsync);
            _follower = Task.Run(FollowLoopAsync);
        }
    }

    /// <summary>
    /// The worker of this process: its name becomes the events' source, its option the default when no switch is set,
    /// <paramref name="active"/> the heartbeat's count of runs in progress. Returns once the switch was read (bounded),
    /// so that a worker started while events are switched on writes from its first task.
    /// </summary>
    public async Task AttachWorkerAsync(string name, bool eventsByDefault, TimeSpan heartbeat, Func<int> active)
    {
        _worker = name;
        _source = name;
        _active = active;
        _heartbeat = heartbeat;
        _defaultOn = eventsByDefault;
        Apply();
        EnsureStarted();
        try
        {
            await _firstRead.Task.WaitAsync(TimeSpan.FromSeconds(5), _time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // The broker is slow to answer: the option decides until the switch is read.
        }
    }

    /// <summary>A client sent <paramref name="item"/> (a task named <paramref name="taskName"/>).</summary>
    public void Sent(EnqueueItem item, string taskName) => Publish(new EventRecord
    {
        Kind = TaskEventKind.TaskSent,
        AtMs = NowMs,
        Source = _source,
        TaskId = item.Id,
        TaskName = taskName,
        Queue = item.Queue,
        EtaMs = item.DueAtMs,
        RuntimeMs = -1,
        Load = double.NaN,
    });

    /// <summary>The worker received (admitted) or started a delivery.</summary>
    public void Run(TaskEventKind kind, Delivery delivery, Envelope envelope) => Publish(new EventRecord
    {
        Kind = kind,
        AtMs = NowMs,
        Source = _source,
        TaskId = envelope.Id,
        TaskName = envelope.Task,
        Queue = delivery.Queue,
        Retries = envelope.Retries,
        RuntimeMs = -1,
        Load = double.NaN,
    });

    /// <summary>An outcome was decided (through the <see cref="OutcomeObserver"/>): the matching event, none for a release, lost lease or unrecorded outcome.</summary>
    public void OnOutcome(in Outcome outcome)
    {
        TaskEventKind kind;
        switch (outcome.Kind)
        {
            case OutcomeKind.Succeeded:
                kind = TaskEventKind.TaskSucceeded;
                break;
            case OutcomeKind.Failed:
                kind = TaskEventKind.TaskFailed;
                break;
            case OutcomeKind.Retried:
                kind = TaskEventKind.TaskRetried;
                break;
            case OutcomeKind.Revoked or OutcomeKind.Expired:
                kind = TaskEventKind.TaskRevoked;
                break;
            case OutcomeKind.DeadLettered:
                kind = TaskEventKind.TaskDeadLettered;
                break;
            default:
                return;
        }

        Interlocked.Increment(ref _processed);
        long now = NowMs;
        Publish(new EventRecord
        {
            Kind = kind,
            AtMs = now,
            Source = _source,
            TaskId = outcome.Delivery.Id,
            TaskName = outcome.TaskName,
            Queue = outcome.Delivery.Queue,
            Retries = outcome.Envelope?.Retries ?? 0,
            ErrorType = outcome.Error?.Type,
            ErrorMessage = outcome.Error?.Message,
            Reason = outcome.Kind switch
            {
                OutcomeKind.Revoked => "revoked",
                OutcomeKind.Expired => "expired",
                _ => outcome.Reason,
            },
            RuntimeMs = outcome.Kind is OutcomeKind.Succeeded or OutcomeKind.Failed or OutcomeKind.Retried && outcome.Elapsed > TimeSpan.Zero ? outcome.Elapsed.TotalMilliseconds : -1,
            EtaMs = outcome.Kind == OutcomeKind.Retried ? now + (long)outcome.RetryDelay.TotalMilliseconds : 0,
            Load = double.NaN,
        });
    }

    /// <summary>The worker is ready (<c>worker-online</c>) when events are on.</summary>
    public void WorkerOnline()
    {
        if (_enabled)
        {
            Publish(WorkerEvent(TaskEventKind.WorkerOnline));
        }
    }

    /// <summary>The worker stopped: <c>worker-offline</c> when events are on, then what waits is written (bounded by <paramref name="timeout"/>).</summary>
    public async Task WorkerOfflineAsync(TimeSpan timeout)
    {
        if (_enabled)
        {
            Publish(WorkerEvent(TaskEventKind.WorkerOffline));
        }

        await FlushAsync(timeout).ConfigureAwait(false);
    }

    /// <summary>Waits (bounded) until every event queued before the call was written or dropped.</summary>
    public async Task FlushAsync(TimeSpan timeout)
    {
        long target = Interlocked.Read(ref _queued);
        long deadline = _time.GetTimestamp();
        while (Interlocked.Read(ref _done) < target && _time.GetElapsedTime(deadline) < timeout)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(10), _time).ConfigureAwait(false);
        }
    }

    private long NowMs => _time.GetUtcNow().ToUnixTimeMilliseconds();

    private EventRecord WorkerEvent(TaskEventKind kind) => new()
    {
        Kind = kind,
        AtMs = NowMs,
        Source = _source,
        Active = _active?.Invoke() ?? 0,
        Processed = Interlocked.Read(ref _processed),
        Load = kind == TaskEventKind.WorkerHeartbeat ? LoadAverage() : double.NaN,
        RuntimeMs = -1,
    };

    private void Publish(in EventRecord record)
    {
        if (_channel.Writer.TryWrite(record))
        {
            Interlocked.Increment(ref _queued);
        }
        else
        {
            Interlocked.Increment(ref _dropped);
        }
    }

    /// <summary>The one writer: takes what waits (up to a batch) and appends it; a failed batch is dropped and counted.</summary>
    private async Task WriteLoopAsync()
    {
        var batch = new List<EventRecord>(BatchSize);
        ChannelReader<EventRecord> reader = _channel.Reader;
        try
        {
            while (await reader.WaitToReadAsync(_stop.Token).ConfigureAwait(false))
            {
                while (batch.Count < BatchSize && reader.TryRead(out EventRecord record))
                {
                    batch.Add(record);
                }

                try
                {
                    ITaskBroker broker = await _brokers.GetAsync(_stop.Token).ConfigureAwait(false);
                    if (broker is IEventStream stream)
                    {
                        await stream.AppendEventsAsync(batch, _maxLength, CancellationToken.None).ConfigureAwait(false);
                    }

                    if (_failing)
                    {
                        _failing = false;
                        StreamRecovered(_logger, Dropped);
                    }
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !_stop.IsCancellationRequested)
                {
                    Interlocked.Add(ref _dropped, batch.Count);
                    if (!_failing)
                    {
                        _failing = true;
                        StreamFailed(_logger, ex, batch.Count);
                    }

                    await Task.Delay(FailureBackoff, _time, _stop.Token).ConfigureAwait(false); // meanwhile a full channel drops
                }
                finally
                {
                    Interlocked.Add(ref _done, batch.Count);
                    batch.Clear();
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            // Disposed.
        }
    }

    /// <summary>Reads the switch now, on each change notification and on each heartbeat; writes the worker's heartbeat while events are on.</summary>
    private async Task FollowLoopAsync()
    {
        try
        {
            IEventStream? stream = null;
            while (stream is null)
            {
                try
                {
                    if (await _brokers.GetAsync(_stop.Token).ConfigureAwait(false) is not IEventStream found)
                    {
                        _firstRead.TrySetResult();
                        return;
                    }

                    stream = found;
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !_stop.IsCancellationRequested)
                {
                    SwitchUnread(_logger, ex); // no broker yet: the option decides until one answers
                    _firstRead.TrySetResult();
                    await Task.Delay(_heartbeat, _time, _stop.Token).ConfigureAwait(false);
                }
            }

            try
            {
                await stream.SubscribeEventsSwitchAsync(() => _ = RefreshAsync(stream), _stop.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                SwitchUnread(_logger, ex); // the heartbeat's re-read still follows the switch
            }

            while (true)
            {
                await RefreshAsync(stream).ConfigureAwait(false);
                _firstRead.TrySetResult();
                await Task.Delay(_heartbeat, _time, _stop.Token).ConfigureAwait(false);
                if (_worker is not null && _enabled)
                {
                    Publish(WorkerEvent(TaskEventKind.WorkerHeartbeat));
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            // Disposed.
        }
    }

    /// <summary>
    /// Reads the switch. Calls that arrive while a read is under way are not dropped: that read may have been answered
    /// before the change they announce, so the reader reads once more after it (one more read however many arrived).
    /// </summary>
    private async Task RefreshAsync(IEventStream stream)
    {
        Volatile.Write(ref _refreshWanted, 1);
        while (Volatile.Read(ref _refreshWanted) == 1 && Interlocked.CompareExchange(ref _refreshing, 1, 0) == 0)
        {
            try
            {
                while (Interlocked.Exchange(ref _refreshWanted, 0) == 1)
                {
                    long version = Interlocked.Read(ref _switchVersion);
                    bool? read = await stream.GetEventsSwitchAsync(_stop.Token).ConfigureAwait(false);
                    if (Interlocked.Read(ref _switchVersion) == version) // else this process set it meanwhile: keep that
                    {
                        _switch = read;
                        Apply();
                    }
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !_stop.IsCancellationRequested)
            {
                SwitchUnread(_logger, ex); // keep the last known state; the next heartbeat reads again
            }
            finally
            {
                Volatile.Write(ref _refreshing, 0);
            }
        }
    }

    /// <summary>
    /// This process set the switch (<see cref="TaskEventClient.SetEnabledAsync"/>, stored already): it follows it at
    /// once, not when its own notification comes back, and a read that started before is not applied over it.
    /// </summary>
    public void SwitchSet(bool? value)
    {
        Interlocked.Increment(ref _switchVersion);
        _switch = value;
        Apply();
    }

    private void Apply() => _enabled = _switch ?? _defaultOn;

    /// <summary>The host's one-minute load average (Linux <c>/proc/loadavg</c>), or NaN where there is none.</summary>
    private static double LoadAverage()
    {
        try
        {
            if (OperatingSystem.IsLinux())
            {
                string line = File.ReadAllText("/proc/loadavg");
                int space = line.IndexOf(' ', StringComparison.Ordinal);
                return double.TryParse(space > 0 ? line.AsSpan(0, space) : line, NumberStyles.Float, CultureInfo.InvariantCulture, out double load) ? load : double.NaN;
            }
        }
        catch (IOException)
        {
            // No load average here.
        }
        catch (UnauthorizedAccessException)
        {
            // No load average here.
        }

        return double.NaN;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        _channel.Writer.TryComplete();
        try
        {
            await _writer.WaitAsync(TimeSpan.FromSeconds(2), _time).ConfigureAwait(false); // what waits is written first
        }
        catch (TimeoutException)
        {
            // The broker is gone: the rest is dropped.
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(_writer, _follower).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Stopped.
        }

        _stop.Dispose();
    }

    [LoggerMessage(5510, LogLevel.Warning, "Task events cannot be written (a batch of {Count} dropped); events are dropped and counted until the broker takes them again")]
    private static partial void StreamFailed(ILogger logger, Exception exception, int count);

    [LoggerMessage(5511, LogLevel.Information, "Task events are written again ({Dropped} dropped in all by this process)")]
    private static partial void StreamRecovered(ILogger logger, long dropped);

    [LoggerMessage(5512, LogLevel.Warning, "The task events switch could not be read; the last known state stays until the next heartbeat")]
    private static partial void SwitchUnread(ILogger logger, Exception exception);
}
