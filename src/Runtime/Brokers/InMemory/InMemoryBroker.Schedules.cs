using Celeriac.Scheduling;

namespace Celeriac.Brokers.InMemory;

internal sealed partial class InMemoryBroker : IScheduleStore
{
    // The stored schedules by name (definition and state), and the change counter schedulers poll; under _gate.
    private readonly Dictionary<string, ScheduleRecord> _schedules = new(StringComparer.Ordinal);
    private long _schedulesVersion;

    /// <inheritdoc />
    public Task ClaimTicksAsync(string queue, IReadOnlyList<TickClaim> claims, string claimer, long[] outcomes, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            long now = NowMs;
            bool stored = false;
            for (int i = 0; i < claims.Count; i++)
            {
                TickClaim claim = claims[i];
                ScheduleRecord state = StateLocked(claim.Schedule, queue);
                if (state.LastTickMs is { } last && last >= claim.TickMs)
                {
                    outcomes[i] = last;
                }
                else if (state.Paused)
                {
                    _schedules[claim.Schedule] = state with { LastTickMs = claim.TickMs };
                    outcomes[i] = ClaimOutcome.Paused;
                }
                else if (_messages.ContainsKey(claim.Item.Id))
                {
                    outcomes[i] = ClaimOutcome.IdInUse;
                }
                else
                {
                    EnqueueItem item = claim.Item;
                    _messages[item.Id] = new StoredMessage(item.Id, queue, item.Envelope.ToArray()) { Priority = Math.Clamp(item.Priority, 0, 9) };
                    GetQueue(queue).Pending.AddLast(item.Id, _messages[item.Id].Priority);
                    _schedules[claim.Schedule] = state with { LastTickMs = claim.TickMs, LastTaskId = item.Id, LastClaimMs = now, LastClaimedBy = claimer };
                    outcomes[i] = ClaimOutcome.Claimed;
                    stored = true;
                }
            }

            if (stored)
            {
                SignalQueues();
            }
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<ScheduleRecord>> ListSchedulesAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult<IReadOnlyList<ScheduleRecord>>([.. _schedules.Values.Where(s => s.TaskName.Length > 0).OrderBy(s => s.Name, StringComparer.Ordinal)]);
        }
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<ScheduleRecord?>> ReadSchedulesAsync(IReadOnlyList<(string Name, string Queue)> schedules, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var records = new ScheduleRecord?[schedules.Count];
            for (int i = 0; i < records.Length; i++)
            {
                records[i] = _schedules.TryGetValue(schedules[i].Name, out ScheduleRecord? record) && record.Queue == schedules[i].Queue
                    ? record
                    : new ScheduleRecord { Name = schedules[i].Name, Queue = schedules[i].Queue, TaskName = string.Empty };
            }

            return Task.FromResult<IReadOnlyList<ScheduleRecord?>>(records);
        }
    }

    /// <inheritdoc />
    public Task<long> GetSchedulesVersionAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult(_schedulesVersion);
        }
    }

    /// <inheritdoc />
    public Task UpsertScheduleAsync(ScheduleRecord schedule, bool onlyIfAbsent, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        lock (_gate)
        {
            if (_schedules.TryGetValue(schedule.Name, out ScheduleRecord? existing) && existing.Queue == schedule.Queue)
            {
                if (onlyIfAbsent && existing.TaskName.Length > 0)
                {
                    return Task.CompletedTask;
                }

                // The state stays (last tick, paused); the definition is replaced.
                _schedules[schedule.Name] = schedule with
                {
                    Paused = existing.Paused,
                    LastTickMs = existing.LastTickMs,
                    LastTaskId = existing.LastTaskId,
                    LastClaimMs = existing.LastClaimMs,
                    LastClaimedBy = existing.LastClaimedBy,
                };
            }
            else
            {
                _schedules[schedule.Name] = schedule with { Paused = false, LastTickMs = null, LastTaskId = null, LastClaimMs = null, LastClaimedBy = null };
            }

            if (!schedule.IsStatic)
            {
                _schedulesVersion++;
            }
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task<bool> RemoveScheduleAsync(string name, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            bool removed = _schedules.Remove(name);
            _schedulesVersion++;
            return Task.FromResult(removed);
        }
    }

    /// <inheritdoc />
    public Task<bool> SetPausedAsync(string name, bool paused, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (!_schedules.TryGetValue(name, out ScheduleRecord? record) || record.TaskName.Length == 0)
            {
                return Task.FromResult(false);
            }

            _schedules[name] = record with { Paused = paused };
            _schedulesVersion++;
            return Task.FromResult(true);
        }
    }

    /// <summary>The stored schedule (or a state-only record for one claimed before its definition was stored).</summary>
    private ScheduleRecord StateLocked(string name, string queue)
        => _schedules.TryGetValue(name, out ScheduleRecord? record) && record.Queue == queue
            ? record
            : _schedules[name] = new ScheduleRecord { Name = name, Queue = queue, TaskName = string.Empty };
}
