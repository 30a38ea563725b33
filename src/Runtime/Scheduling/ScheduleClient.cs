using Celeriac.Brokers;
using Celeriac.Scheduling;

namespace Celeriac;

/// <summary>
/// Schedules stored in the broker, added and removed at run time (with arguments, unlike <see cref="PeriodicAttribute"/>),
/// and every schedule's state: list with next and last tick, pause, resume, trigger now. Get it from
/// <see cref="CeleriacClient.Schedules"/>. Workers pick up a change within <see cref="WorkerOptions.SchedulerRefresh"/>.
/// </summary>
public sealed class ScheduleClient
{
    private readonly Func<CancellationToken, Task<ITaskBroker>> _broker;
    private readonly TimeProvider _time;

    internal ScheduleClient(Func<CancellationToken, Task<ITaskBroker>> broker, TimeProvider time)
    {
        _broker = broker;
        _time = time;
    }

    /// <summary>
    /// Adds or replaces the schedule <paramref name="name"/>, which sends the task that <paramref name="call"/> would
    /// send (typed by the generated stub: <c>c =&gt; Billing.InvoiceTask.DelayAsync(c, "acme")</c>; its arguments are
    /// encoded once, now, and sent with every tick; an <c>ApplyAsync</c> call's queue and priority are kept). A replaced
    /// schedule keeps its last tick and its paused state, so it does not fire again for a tick already sent.
    /// </summary>
    /// <typeparam name="THandle">The handle type the stub returns (not used: nothing is sent).</typeparam>
    /// <param name="name">The schedule's name: unique among the broker's schedules; letters, digits, <c>. _ - :</c>, at most 200 characters.</param>
    /// <param name="recurrence">When it ticks.</param>
    /// <param name="call">Calls one generated stub with the given client (the call is recorded, not sent).</param>
    /// <param name="missedTicks">What to do with ticks missed while no scheduler ran.</param>
    /// <param name="maxMissedRuns">The bound of <see cref="MissedTicks.RunEach"/> (1 to 1000).</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>A task that completes when the broker stored the schedule.</returns>
    /// <exception cref="ArgumentException">The name is not valid, or <paramref name="call"/> does not send exactly one task.</exception>
    public async Task UpsertAsync<THandle>(string name, Recurrence recurrence, Func<ITaskClient, ValueTask<THandle>> call, MissedTicks missedTicks = MissedTicks.RunOnce, int maxMissedRuns = PeriodicSchedule.DefaultMaxMissedRuns, CancellationToken cancellationToken = default)
    {
        CheckName(name);
        ArgumentNullException.ThrowIfNull(recurrence);
        ArgumentNullException.ThrowIfNull(call);
        if (maxMissedRuns is < 1 or > 1000)
        {
            throw new ArgumentOutOfRangeException(nameof(maxMissedRuns), maxMissedRuns, "MaxMissedRuns must be between 1 and 1000.");
        }

        if (!Enum.IsDefined(missedTicks))
        {
            throw new ArgumentOutOfRangeException(nameof(missedTicks), missedTicks, "Not a value of MissedTicks.");
        }

        var recorder = new CallRecorder();
        await call(recorder).ConfigureAwait(false);
        if (recorder.Count != 1)
        {
            throw new ArgumentException($"The call must send exactly one task through the client it is given; it sent {recorder.Count}.", nameof(call));
        }

        ITaskBroker broker = await _broker(cancellationToken).ConfigureAwait(false);
        var record = new ScheduleRecord
        {
            Name = name,
            Queue = recorder.Queue!,
            TaskName = recorder.TaskName!,
            Cron = recurrence.CronExpression,
            EveryMs = (long)recurrence.Every.TotalMilliseconds,
            TimeZone = recurrence.TimeZone,
            MissedTicks = missedTicks,
            MaxMissedRuns = maxMissedRuns,
            Priority = recorder.Priority,
            Args = recorder.Args,
        };
        await Store(broker).UpsertScheduleAsync(record, onlyIfAbsent: false, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Removes a stored schedule and its state; its tasks already sent are not affected.</summary>
    /// <param name="name">The schedule's name.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>Whether the schedule existed.</returns>
    public async Task<bool> RemoveAsync(string name, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ITaskBroker broker = await _broker(cancellationToken).ConfigureAwait(false);
        return await Store(broker).RemoveScheduleAsync(name, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Lists every schedule the broker knows (stored ones, and static ones of workers that have started), by name.</summary>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The schedules with their next and last tick.</returns>
    public async Task<IReadOnlyList<ScheduleInfo>> ListAsync(CancellationToken cancellationToken = default)
    {
        ITaskBroker broker = await _broker(cancellationToken).ConfigureAwait(false);
        IReadOnlyList<ScheduleRecord> records = await Store(broker).ListSchedulesAsync(cancellationToken).ConfigureAwait(false);
        long now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        var infos = new List<ScheduleInfo>(records.Count);
        foreach (ScheduleRecord r in records)
        {
            DateTimeOffset? next = null;
            try
            {
                long nextMs = ScheduleSpec.Parse(r.Cron, r.EveryMs, r.TimeZone).NextAfter(Math.Max(r.LastTickMs ?? now, now));
                next = nextMs == long.MaxValue ? null : DateTimeOffset.FromUnixTimeMilliseconds(nextMs);
            }
            catch (ArgumentException)
            {
                // listed as stored, with no next tick: the schedulers refuse it too (and log why)
            }

            infos.Add(new ScheduleInfo
            {
                Name = r.Name,
                TaskName = r.TaskName,
                Queue = r.Queue,
                Cron = r.Cron,
                Every = TimeSpan.FromMilliseconds(r.EveryMs),
                TimeZone = r.TimeZone,
                MissedTicks = r.MissedTicks,
                IsStatic = r.IsStatic,
                Paused = r.Paused,
                NextTick = next,
                LastTick = r.LastTickMs is { } last ? DateTimeOffset.FromUnixTimeMilliseconds(last) : null,
                LastTaskId = r.LastTaskId,
                LastSentAt = r.LastClaimMs is { } at ? DateTimeOffset.FromUnixTimeMilliseconds(at) : null,
                LastClaimedBy = r.LastClaimedBy,
            });
        }

        return infos;
    }

    /// <summary>Pauses a schedule: its ticks pass (and are consumed) without sending anything until it is resumed.</summary>
    /// <param name="name">The schedule's name.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>Whether the schedule exists.</returns>
    public async Task<bool> PauseAsync(string name, CancellationToken cancellationToken = default)
    {
        ITaskBroker broker = await _broker(cancellationToken).ConfigureAwait(false);
        return await Store(broker).SetPausedAsync(name, true, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Resumes a paused schedule from its next tick (the ticks passed while paused are not sent).</summary>
    /// <param name="name">The schedule's name.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>Whether the schedule exists.</returns>
    public async Task<bool> ResumeAsync(string name, CancellationToken cancellationToken = default)
    {
        ITaskBroker broker = await _broker(cancellationToken).ConfigureAwait(false);
        return await Store(broker).SetPausedAsync(name, false, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Sends the schedule's task once now, outside its ticks (the ticks are not changed), with the schedule headers and
    /// <see cref="ScheduleHeaders.Trigger"/> set to <c>manual</c>.
    /// </summary>
    /// <param name="name">The schedule's name.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The id of the task sent.</returns>
    /// <exception cref="InvalidOperationException">No schedule has that name.</exception>
    public async Task<string> TriggerAsync(string name, CancellationToken cancellationToken = default)
    {
        ITaskBroker broker = await _broker(cancellationToken).ConfigureAwait(false);
        IReadOnlyList<ScheduleRecord> records = await Store(broker).ListSchedulesAsync(cancellationToken).ConfigureAwait(false);
        ScheduleRecord record = records.FirstOrDefault(r => r.Name == name) ?? throw new InvalidOperationException($"No schedule is named '{name}'.");
        long now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        EnqueueItem item = ScheduledMessage.Build(broker, record, now, expiresMs: null, now, manual: true);
        await broker.EnqueueAsync([item], cancellationToken).ConfigureAwait(false);
        return item.Id;
    }

    private static IScheduleStore Store(ITaskBroker broker)
        => broker as IScheduleStore ?? throw new NotSupportedException($"The {broker.Name} broker does not store schedules.");

    private static void CheckName(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (name.Length > 200 || name.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' or ':')))
        {
            throw new ArgumentException($"Schedule name '{name}' is not valid: at most 200 ASCII letters, digits, '.', '_', '-' or ':'.", nameof(name));
        }
    }

    /// <summary>A client that records the one task a generated stub sends instead of sending it.</summary>
    private sealed class CallRecorder : ITaskClient
    {
        public int Count { get; private set; }

        public string? TaskName { get; private set; }

        public string? Queue { get; private set; }

        public int Priority { get; private set; }

        public ReadOnlyMemory<byte> Args { get; private set; }

        public ValueTask<string> SendAsync<TArgs>(TaskDefinition<TArgs> task, TArgs args, TaskOptions? options, CancellationToken cancellationToken)
        {
            ArgumentNullException.ThrowIfNull(task);
            if (options is { TaskId: not null } or { Eta: not null } or { Countdown: not null } or { Expires: not null } or { ExpiresIn: not null } or { Headers: not null })
            {
                throw new ArgumentException("A scheduled call takes only Queue and Priority from TaskOptions: each tick gets a new id, runs at its tick, expires at the next one and carries the schedule headers.", nameof(options));
            }

            if (options?.Queue is { } queue && QueueName.Validate(queue) is { } problem)
            {
                throw new ArgumentException($"TaskOptions.Queue '{queue}' is not a valid queue name: {problem}.", nameof(options));
            }

            var buffer = new System.Buffers.ArrayBufferWriter<byte>(64);
            var writer = new MessagePack.MessagePackWriter(buffer);
            task.ArgsFormatter.Serialize(ref writer, args, task.SerializerOptions);
            writer.Flush();
            Count++;
            TaskName = task.Name;
            Queue = options?.Queue ?? task.Queue;
            Priority = options?.Priority ?? task.Priority;
            if (Priority is < 0 or > 9)
            {
                throw new ArgumentOutOfRangeException(nameof(options), Priority, "TaskOptions.Priority must be between 0 and 9.");
            }

            Args = buffer.WrittenMemory.ToArray();
            return ValueTask.FromResult("scheduled");
        }

        public ValueTask<string[]> SendManyAsync<TArgs>(TaskDefinition<TArgs> task, IReadOnlyList<TArgs> argsList, TaskOptions? options, CancellationToken cancellationToken)
            => throw new ArgumentException("A schedule sends one task per tick: call DelayAsync or ApplyAsync, not DelayManyAsync.");

        public ValueTask<TaskResult> GetResultAsync(string taskId, CancellationToken cancellationToken) => throw NotHere();

        public ValueTask<TaskResult> GetResultAsync(string taskId, string? queue, CancellationToken cancellationToken) => throw NotHere();

        public ValueTask<TaskResult> WaitAsync(string taskId, TimeSpan timeout, CancellationToken cancellationToken) => throw NotHere();

        public ValueTask<TaskResult> WaitAsync(string taskId, string? queue, TimeSpan timeout, CancellationToken cancellationToken) => throw NotHere();

        public Task RevokeAsync(string taskId, TimeSpan? keepFor, CancellationToken cancellationToken) => throw NotHere();

        private static InvalidOperationException NotHere() => new("A scheduled call only records the task it sends; it cannot read results.");
    }
}
