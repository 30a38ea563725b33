using Celeriac.Brokers;
using Microsoft.Extensions.Logging;

namespace Celeriac.Control;

/// <summary>What a worker answers and changes at a control command's request (implemented by the worker).</summary>
internal interface IControlledWorker
{
    /// <summary>The worker's id.</summary>
    string Name { get; }

    /// <summary>The worker's registry entry now (its expiry is set by the registry).</summary>
    WorkerInfo Describe(DateTimeOffset expiresAt);

    /// <summary>The running tasks.</summary>
    IReadOnlyList<ActiveTask> Active();

    /// <summary>The fetched tasks not started yet.</summary>
    IReadOnlyList<ReservedTask> Reserved();

    /// <summary>The dispatch table, by name.</summary>
    IReadOnlyList<RegisteredTask> Registered();

    /// <summary>The counters and settings now.</summary>
    WorkerStats Stats();

    /// <summary>Consumes <paramref name="queue"/> too; returns why not, or <see langword="null"/>.</summary>
    Task<string?> AddQueueAsync(string queue);

    /// <summary>Stops consuming <paramref name="queue"/>; returns why not, or <see langword="null"/>.</summary>
    string? CancelQueue(string queue);

    /// <summary>The queues consumed now.</summary>
    IReadOnlyList<string> Queues { get; }

    /// <summary>Changes the concurrency by <paramref name="delta"/> (never below 1); returns the new concurrency, or why not.</summary>
    (int Concurrency, string? Error) Resize(int delta);

    /// <summary>Begins a warm shutdown of the worker's host.</summary>
    void Shutdown();
}

/// <summary>
/// A worker's half of the registry and the command path: one loop that refreshes the worker's registry entry every
/// <see cref="WorkerOptions.RegistryInterval"/> and, woken by a command hint or each heartbeat, takes the commands queued
/// for the worker, carries them out and replies. It runs beside the worker's loops and touches nothing per task.
/// </summary>
internal sealed class WorkerControl
{
    /// <summary>How long a stopping worker tries to remove its entry before it leaves it to expire.</summary>
    private static readonly TimeSpan RemoveBound = TimeSpan.FromSeconds(2);

    private readonly IWorkerControl _broker;
    private readonly IControlledWorker _worker;
    private readonly TimeSpan _interval;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private TaskCompletionSource? _signal;
    private int _hinted;

    public WorkerControl(IWorkerControl broker, IControlledWorker worker, TimeSpan interval, TimeProvider time, ILogger logger)
    {
        _broker = broker;
        _worker = worker;
        _interval = interval;
        _time = time;
        _logger = logger;
    }

    /// <summary>How long an entry lives after its last refresh: three intervals.</summary>
    public TimeSpan Ttl => _interval * 3;

    /// <summary>Registers the worker (the first heartbeat) and subscribes to its command hints; then <see cref="RunAsync(CancellationToken)"/> keeps it up.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _broker.SubscribeCommandsAsync(_worker.Name, OnHint, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            ControlLog.CommandsFailed(_logger, _worker.Name, ex.Message); // the heartbeat still takes the queued commands
        }

        await HeartbeatAsync().ConfigureAwait(false);
    }

    /// <summary>Refreshes the entry every interval and answers commands until <paramref name="stop"/>.</summary>
    public async Task RunAsync(CancellationToken stop)
    {
        long lastBeat = _time.GetTimestamp();
        while (!stop.IsCancellationRequested)
        {
            Interlocked.Exchange(ref _hinted, 0);
            await TakeCommandsAsync().ConfigureAwait(false);

            TimeSpan left = _interval - _time.GetElapsedTime(lastBeat);
            if (left > TimeSpan.Zero)
            {
                // The signal first, the flag after (OnHint: the flag first, the signal after): a hint is never missed.
                var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                Interlocked.Exchange(ref _signal, signal);
                if (Volatile.Read(ref _hinted) == 0)
                {
                    using var delayStop = CancellationTokenSource.CreateLinkedTokenSource(stop);
                    Task delay = Task.Delay(left, _time, delayStop.Token);
                    await Task.WhenAny(delay, signal.Task).ConfigureAwait(false);
                    await delayStop.CancelAsync().ConfigureAwait(false); // a delay still running ends here
                }
            }

            if (!stop.IsCancellationRequested && _time.GetElapsedTime(lastBeat) >= _interval)
            {
                lastBeat = _time.GetTimestamp();
                await HeartbeatAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>Removes the worker's entry (its graceful stop is done).</summary>
    public async Task RemoveAsync()
    {
        try
        {
            // Bounded: with Redis unreachable the stop should not wait out the client's timeout for this.
            await _broker.RemoveWorkerAsync(_worker.Name, CancellationToken.None).WaitAsync(RemoveBound, _time).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            ControlLog.RemoveFailed(_logger, _worker.Name, ex.Message);
        }
    }

    /// <summary>A command was queued: wake the loop (its continuation runs on the thread pool, never on the notifying thread).</summary>
    private void OnHint()
    {
        Interlocked.Exchange(ref _hinted, 1);
        Volatile.Read(ref _signal)?.TrySetResult();
    }

    private async Task HeartbeatAsync()
    {
        try
        {
            DateTimeOffset expires = _time.GetUtcNow() + Ttl;
            byte[] record = ControlCodec.EncodeWorker(_worker.Describe(expires), (long)_interval.TotalMilliseconds);
            await _broker.HeartbeatWorkerAsync(_worker.Name, record, expires.ToUnixTimeMilliseconds(), CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            ControlLog.HeartbeatFailed(_logger, _worker.Name, ex.Message, (long)_interval.TotalMilliseconds);
        }
    }

    private async Task TakeCommandsAsync()
    {
        try
        {
            foreach (ReadOnlyMemory<byte> bytes in await _broker.TakeCommandsAsync(_worker.Name, CancellationToken.None).ConfigureAwait(false))
            {
                if (ControlCodec.DecodeCommand(bytes) is not { } command)
                {
                    continue;
                }

                long late = _time.GetUtcNow().ToUnixTimeMilliseconds() - command.DeadlineMs;
                if (late > 0)
                {
                    // Its sender has stopped waiting: carried out now it would surprise (a shutdown a minute late).
                    ControlLog.CommandExpired(_logger, _worker.Name, command.Name, late);
                    continue;
                }

                byte[] reply = await RunAsync(command).ConfigureAwait(false);
                await _broker.ReplyAsync(command.RequestId, reply, ControlRequests.ReplyExpiry(command.DeadlineMs), CancellationToken.None).ConfigureAwait(false);
                if (command.Name == ControlCommands.Shutdown)
                {
                    ControlLog.CommandRun(_logger, _worker.Name, command.Name, string.Empty, "stopping");
                    _worker.Shutdown(); // after the reply: the sender hears of it before the stop begins
                }
            }
        }
        catch (Exception ex)
        {
            ControlLog.CommandsFailed(_logger, _worker.Name, ex.Message);
        }
    }

    private async Task<byte[]> RunAsync(ControlCommand command)
    {
        string name = _worker.Name;
        switch (command.Name)
        {
            case ControlCommands.Ping:
                return ControlCodec.EncodeReply(name, null, w => w.WriteStringValue("pong"));
            case ControlCommands.Active:
                IReadOnlyList<ActiveTask> active = _worker.Active();
                return ControlCodec.EncodeReply(name, null, w => ControlCodec.WriteActive(w, active));
            case ControlCommands.Reserved:
                IReadOnlyList<ReservedTask> reserved = _worker.Reserved();
                return ControlCodec.EncodeReply(name, null, w => ControlCodec.WriteReserved(w, reserved));
            case ControlCommands.Registered:
                IReadOnlyList<RegisteredTask> registered = _worker.Registered();
                return ControlCodec.EncodeReply(name, null, w => ControlCodec.WriteRegistered(w, registered));
            case ControlCommands.Stats:
                WorkerStats stats = _worker.Stats();
                return ControlCodec.EncodeReply(name, null, w => ControlCodec.WriteStats(w, stats));
            case ControlCommands.AddConsumer or ControlCommands.CancelConsumer:
                string queue = command.Argument ?? string.Empty;
                string? refused = QueueName.Validate(queue) is { } problem
                    ? $"'{queue}' is not a valid queue name: {problem}"
                    : command.Name == ControlCommands.AddConsumer ? await _worker.AddQueueAsync(queue).ConfigureAwait(false) : _worker.CancelQueue(queue);
                string queues = string.Join(",", _worker.Queues);
                ControlLog.CommandRun(_logger, name, command.Name, queue, refused ?? "queues now " + queues);
                return ControlCodec.EncodeReply(name, refused, w => w.WriteStringValue(queues));
            case ControlCommands.Grow or ControlCommands.Shrink:
                if (command.Number < 1)
                {
                    return ControlCodec.EncodeReply(name, $"{command.Name} needs a positive count (got {command.Number})", null);
                }

                (int concurrency, string? error) = _worker.Resize(command.Name == ControlCommands.Grow ? command.Number : -command.Number);
                ControlLog.CommandRun(_logger, name, command.Name, command.Number.ToString(System.Globalization.CultureInfo.InvariantCulture), error ?? "concurrency now " + concurrency.ToString(System.Globalization.CultureInfo.InvariantCulture));
                return ControlCodec.EncodeReply(name, error, w => w.WriteNumberValue(concurrency));
            case ControlCommands.Shutdown:
                return ControlCodec.EncodeReply(name, null, w => w.WriteStringValue("stopping"));
            default:
                return ControlCodec.EncodeReply(name, $"unknown command '{command.Name}'", null);
        }
    }
}
