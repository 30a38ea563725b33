using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.Channels;
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
internal sealed class CeleriacWorker : BackgroundService
{
    private readonly BrokerProvider _brokers;
    private readonly CeleriacOptions _options;
    private readonly WorkerOptions _worker;
    private readonly TaskCatalog _catalog;
    private readonly IServiceScopeFactory _scopes;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly string _name;
    private readonly ConcurrentDictionary<string, Delivery> _held = new(StringComparer.Ordinal);
    private readonly Channel<Delivery> _ready = Channel.CreateUnbounded<Delivery>(new UnboundedChannelOptions { SingleWriter = true });
    private readonly SemaphoreSlim _slots;
    private readonly CancellationTokenSource _hardStop = new();
    private volatile bool _stopping;
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
    }

    /// <summary>The worker's name, as recorded in results.</summary>
    public string Name => _name;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        _broker = await _brokers.GetAsync(stoppingToken).ConfigureAwait(false);
        Log.WorkerStarted(_logger, _name, _broker.Name, string.Join(", ", _worker.EffectiveQueues), _worker.Concurrency, _worker.EffectivePrefetch, _catalog.Count);

        using var heartbeatStop = new CancellationTokenSource();
        Task heartbeat = Task.Run(() => HeartbeatLoopAsync(heartbeatStop.Token), CancellationToken.None);
        var consumers = new Task[_worker.Concurrency];
        for (int i = 0; i < consumers.Length; i++)
        {
            consumers[i] = Task.Run(ConsumeLoopAsync, CancellationToken.None);
        }

        await FetchLoopAsync(stoppingToken).ConfigureAwait(false);

        // Graceful stop: no more fetching; hand back what was prefetched but not started; let running tasks finish.
        _stopping = true;
        _ready.Writer.TryComplete();
        var unstarted = new List<Delivery>();
        while (_ready.Reader.TryRead(out Delivery? delivery))
        {
            unstarted.Add(delivery);
            _held.TryRemove(delivery.Id, out _);
            _slots.Release();
        }

        await ReleaseAsync(unstarted).ConfigureAwait(false);
        Log.WorkerStopping(_logger, _name, _held.Count, unstarted.Count);

        Task all = Task.WhenAll(consumers);
        if (await Task.WhenAny(all, Task.Delay(_worker.ShutdownTimeout, _time, CancellationToken.None)).ConfigureAwait(false) != all)
        {
            Log.ShutdownAbandoned(_logger, _name, _held.Count);
            await _hardStop.CancelAsync().ConfigureAwait(false);
            await Task.WhenAny(all, Task.Delay(TimeSpan.FromSeconds(2), _time, CancellationToken.None)).ConfigureAwait(false);
            await ReleaseAsync([.. _held.Values]).ConfigureAwait(false);
        }

        await heartbeatStop.CancelAsync().ConfigureAwait(false);
        await heartbeat.ConfigureAwait(false);
    }

    private async Task FetchLoopAsync(CancellationToken stoppingToken)
    {
        var batch = new List<Delivery>(_worker.EffectivePrefetch);
        var request = new FetchRequest(_worker.EffectiveQueues, 0, _options.VisibilityTimeout, _worker.FetchWait, _name);
        int backoffMs = 0;
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

            batch.Clear();
            try
            {
                await _broker!.FetchAsync(request with { MaxCount = free }, batch, stoppingToken).ConfigureAwait(false);
                backoffMs = 0;
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                backoffMs = Math.Clamp(backoffMs * 2, 50, 2000);
                Log.BrokerError(_logger, ex, "fetch", backoffMs);
                _slots.Release(free);
                await Delay(backoffMs, stoppingToken).ConfigureAwait(false);
                continue;
            }
            catch (OperationCanceledException)
            {
            }

            if (free > batch.Count)
            {
                _slots.Release(free - batch.Count);
            }

            foreach (Delivery delivery in batch)
            {
                _held[delivery.Id] = delivery;
                _ready.Writer.TryWrite(delivery);
            }
        }
    }

    private async Task ConsumeLoopAsync()
    {
        var output = new ArrayBufferWriter<byte>(256);
        await foreach (Delivery delivery in _ready.Reader.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
        {
            try
            {
                if (_stopping)
                {
                    await ReleaseAsync([delivery]).ConfigureAwait(false);
                    continue;
                }

                output.ResetWrittenCount();
                await ProcessAsync(delivery, output).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                // Only the broker can throw here (task exceptions are outcomes). The lease stays; the task comes back.
                Log.OutcomeNotRecorded(_logger, ex, delivery.Id);
            }
            finally
            {
                _held.TryRemove(delivery.Id, out _);
                _slots.Release();
            }
        }
    }

    private async Task ProcessAsync(Delivery delivery, ArrayBufferWriter<byte> output)
    {
        ITaskBroker broker = _broker!;
        if (_options.MaxMessageBytes > 0 && delivery.Envelope.Length > _options.MaxMessageBytes)
        {
            await DeadLetterAsync(delivery, null, "oversized", $"the message is {delivery.Envelope.Length} bytes, over the {_options.MaxMessageBytes}-byte limit").ConfigureAwait(false);
            return;
        }

        Envelope envelope;
        try
        {
            envelope = EnvelopeCodec.Decode(delivery.Envelope);
        }
        catch (EnvelopeException ex)
        {
            await DeadLetterAsync(delivery, null, ex.Reason, ex.Message).ConfigureAwait(false);
            return;
        }

        if (envelope.Id != delivery.Id)
        {
            await DeadLetterAsync(delivery, envelope.Task, "undecodable", $"the envelope's id '{envelope.Id}' differs from the broker's id").ConfigureAwait(false);
            return;
        }

        long now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        if (envelope.ExpiresMs is { } expires && expires <= now)
        {
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
            return;
        }

        if (!_catalog.TryGet(envelope.Task, out TaskRegistration? registration))
        {
            await DeadLetterAsync(delivery, envelope.Task, "unknown-task", $"no task named '{envelope.Task}' is registered in worker {_name}").ConfigureAwait(false);
            return;
        }

        if (_worker.TrackStarted)
        {
            await broker.SetStateAsync(envelope.Id, new TaskResult { State = TaskState.Started, TaskName = envelope.Task, Retries = envelope.Retries, Timestamp = _time.GetUtcNow(), Worker = _name }, _options.ResultTtl, CancellationToken.None).ConfigureAwait(false);
        }

        TaskResult result;
        long started = Stopwatch.GetTimestamp();
        await using (AsyncServiceScope scope = _scopes.CreateAsyncScope())
        {
            var context = new TaskContext
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
                Services = scope.ServiceProvider,
                CancellationToken = _hardStop.Token,
            };

            try
            {
                await registration.Invoker(envelope.Args, context, output).ConfigureAwait(false);
                result = new TaskResult { State = TaskState.Success, Value = output.WrittenMemory.ToArray(), TaskName = envelope.Task, Retries = envelope.Retries, Timestamp = _time.GetUtcNow(), Worker = _name };
                Log.TaskSucceeded(_logger, envelope.Id, envelope.Task, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }
            catch (TaskPayloadException ex)
            {
                await DeadLetterAsync(delivery, envelope.Task, "undecodable-args", ex.Message).ConfigureAwait(false);
                return;
            }
            catch (Exception ex)
            {
                string type = ex.GetType().FullName ?? ex.GetType().Name;
                Log.TaskFailed(_logger, envelope.Id, envelope.Task, type, ex.Message);
                result = new TaskResult { State = TaskState.Failure, Error = new TaskError(type, ex.Message, ex.StackTrace), TaskName = envelope.Task, Retries = envelope.Retries, Timestamp = _time.GetUtcNow(), Worker = _name };
            }
        }

        await CompleteAsync(delivery, result).ConfigureAwait(false);
    }

    private static readonly IReadOnlyDictionary<string, string> EmptyHeaders = new Dictionary<string, string>();

    private async Task CompleteAsync(Delivery delivery, TaskResult result)
    {
        if (!await _broker!.CompleteAsync(delivery, result, _options.ResultTtl, CancellationToken.None).ConfigureAwait(false))
        {
            Log.LeaseLost(_logger, delivery.Id);
        }
    }

    private async Task DeadLetterAsync(Delivery delivery, string? taskName, string reason, string detail)
    {
        string full = reason + ": " + detail;
        Log.DeadLettered(_logger, delivery.Id, delivery.Queue, full);
        var failure = new TaskResult
        {
            State = TaskState.Failure,
            Error = new TaskError("Celeriac." + ReasonToTypeName(reason), detail, null),
            TaskName = taskName,
            Timestamp = _time.GetUtcNow(),
            Worker = _name,
        };
        if (!await _broker!.DeadLetterAsync(delivery, full, failure, _options.ResultTtl, CancellationToken.None).ConfigureAwait(false))
        {
            Log.LeaseLost(_logger, delivery.Id);
        }
    }

    private static string ReasonToTypeName(string reason) => reason switch
    {
        "unknown-task" => "UnknownTask",
        "undecodable" => "UndecodableMessage",
        "unsupported-version" => "UnsupportedVersion",
        "oversized" => "OversizedMessage",
        "undecodable-args" => "UndecodableArguments",
        _ => "DeadLetter",
    };

    private async Task HeartbeatLoopAsync(CancellationToken cancellationToken)
    {
        TimeSpan interval = _options.VisibilityTimeout / 3;
        var snapshot = new List<Delivery>();
        while (!cancellationToken.IsCancellationRequested)
        {
            if (!await Delay((int)interval.TotalMilliseconds, cancellationToken).ConfigureAwait(false))
            {
                return;
            }

            snapshot.Clear();
            snapshot.AddRange(_held.Values);
            if (snapshot.Count == 0)
            {
                continue;
            }

            try
            {
                await _broker!.ExtendLeasesAsync(snapshot, _options.VisibilityTimeout, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                Log.BrokerError(_logger, ex, "heartbeat", (int)interval.TotalMilliseconds);
            }
        }
    }

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
        _hardStop.Dispose();
        _slots.Dispose();
        base.Dispose();
    }
}
