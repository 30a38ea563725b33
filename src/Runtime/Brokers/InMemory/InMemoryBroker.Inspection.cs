using Celeriac.Inspection;

namespace Celeriac.Brokers.InMemory;

internal sealed partial class InMemoryBroker
{
    public Task<IReadOnlyList<string>> GetQueuesAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult<IReadOnlyList<string>>([.. _queues.Keys.Order(StringComparer.Ordinal)]);
        }
    }

    public Task<DeadLetter?> GetDeadLetterAsync(string queue, string taskId, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (!GetQueue(queue).Dead.Contains(taskId) || !_messages.TryGetValue(taskId, out StoredMessage? message))
            {
                return Task.FromResult<DeadLetter?>(null);
            }

            return Task.FromResult<DeadLetter?>(DeadLetter.Read(taskId, queue, message.DeadReason ?? "unknown", DateTimeOffset.FromUnixTimeMilliseconds(message.DeadAtMs), message.Envelope));
        }
    }

    public Task<QueueCounts> GetQueueCountsAsync(string queue, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            QueueState state = GetQueue(queue);
            return Task.FromResult(new QueueCounts(queue, state.Pending.Count, state.Scheduled.Count, state.Active.Count, state.Dead.Count));
        }
    }

    public Task<TaskLocation?> FindTaskAsync(string taskId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(taskId);
        lock (_gate)
        {
            if (!_messages.TryGetValue(taskId, out StoredMessage? message))
            {
                return Task.FromResult<TaskLocation?>(null);
            }

            QueueState state = GetQueue(message.Queue);
            (TaskPlace place, long? ms) = message.DeadReason is not null ? (TaskPlace.Dead, message.DeadAtMs)
                : state.Active.Contains(taskId) ? (TaskPlace.Active, message.LeaseDeadlineMs)
                : state.Scheduled.FirstOrDefault(s => s.Id == taskId) is { Id: not null } due ? (TaskPlace.Scheduled, due.DueMs)
                : (TaskPlace.Pending, (long?)null);
            string? name = Protocol.EnvelopeFormats.For(message.Envelope).TryReadSummary(message.Envelope, out string? task, out _) ? task : null;
            return Task.FromResult<TaskLocation?>(new TaskLocation(
                taskId, message.Queue, place, ms is { } at ? DateTimeOffset.FromUnixTimeMilliseconds(at) : null, message.DeliveryCount, name));
        }
    }

    public Task<long> PurgeQueueAsync(string queue, int max, CancellationToken cancellationToken)
    {
        long purged = 0;
        lock (_gate)
        {
            QueueState state = GetQueue(queue);
            while (purged < max && state.Pending.TryTakeFirst(out string? id))
            {
                _messages.Remove(id);
                purged++;
            }
        }

        return Task.FromResult(purged);
    }
}
