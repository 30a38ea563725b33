using System.Runtime.CompilerServices;
using Celeriac.Brokers;
using Celeriac.Control;

namespace Celeriac;

/// <summary>
/// The task event stream, from a client (docs/observability.md, "Task events"): follow it live and catch up after a
/// reconnect (<see cref="ReadAsync"/>), read its newest entries (<see cref="ReadLatestAsync"/>), and switch events on or
/// off on every worker at run time (<see cref="SetEnabledAsync"/>). Get it from <see cref="CeleriacClient.Events"/>.
/// </summary>
public sealed class TaskEventClient
{
    /// <summary>The position before the oldest event the stream keeps: <c>ReadAsync(TaskEventClient.Beginning)</c> reads all of it, then follows.</summary>
    public const string Beginning = "0-0";

    /// <summary>How long <see cref="ReadAsync"/> waits before it asks again when it has read everything (the stream is polled, not blocked on).</summary>
    internal static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);

    private const int ReadBatch = 256;

    private readonly Func<CancellationToken, Task<ITaskBroker>> _broker;
    private readonly EventPublisher _publisher;
    private readonly TimeProvider _time;

    internal TaskEventClient(Func<CancellationToken, Task<ITaskBroker>> broker, EventPublisher publisher, TimeProvider time)
    {
        _broker = broker;
        _publisher = publisher;
        _time = time;
    }

    /// <summary>Events this process could not write (its queue of events was full, or the broker could not take them): dropped, never waited for.</summary>
    public long Dropped => _publisher.Dropped;

    /// <summary>
    /// Follows the event stream: every event after <paramref name="after"/> (an <see cref="TaskEvent.Id"/> read before,
    /// to catch up from there; <see cref="Beginning"/> for all the stream keeps), or, with <see langword="null"/>, every
    /// event written from now on; oldest first, without end until <paramref name="cancellationToken"/> is cancelled.
    /// While the broker is unreachable it waits and reads on from the last event it returned, so nothing between is lost
    /// (unless the stream's cap, <see cref="CeleriacOptions.EventStreamLength"/>, trimmed it meanwhile).
    /// </summary>
    /// <param name="after">The id to read after, or <see langword="null"/> for "now".</param>
    /// <param name="cancellationToken">Ends the enumeration.</param>
    /// <returns>The events, as they come.</returns>
    public async IAsyncEnumerable<TaskEvent> ReadAsync(string? after = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        IEventStream stream = await StreamAsync(cancellationToken).ConfigureAwait(false);
        string position = after ?? await stream.LastEventIdAsync(cancellationToken).ConfigureAwait(false);
        int backoffMs = 100;
        while (true)
        {
            IReadOnlyList<TaskEvent> read;
            try
            {
                read = await stream.ReadEventsAsync(position, ReadBatch, cancellationToken).ConfigureAwait(false);
                backoffMs = 100;
            }
            catch (Exception ex) when (ex is not OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                // Unreachable now: wait and read on from the same position.
                await Task.Delay(TimeSpan.FromMilliseconds(backoffMs), _time, cancellationToken).ConfigureAwait(false);
                backoffMs = Math.Min(backoffMs * 2, 2000);
                continue;
            }

            foreach (TaskEvent e in read)
            {
                position = e.Id;
                yield return e;
            }

            if (read.Count < ReadBatch)
            {
                await Task.Delay(PollInterval, _time, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>The newest events the stream holds, oldest first (for a snapshot; follow with <see cref="ReadAsync"/> from the last one's id).</summary>
    /// <param name="count">How many at most (1 to 10,000).</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>Up to <paramref name="count"/> events.</returns>
    public async Task<IReadOnlyList<TaskEvent>> ReadLatestAsync(int count = 100, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, 10_000);
        IEventStream stream = await StreamAsync(cancellationToken).ConfigureAwait(false);
        return await stream.ReadLatestEventsAsync(count, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Switches task events on (<see langword="true"/>) or off (<see langword="false"/>) on every worker and client of
    /// this broker, running or started later, or hands the choice back to each worker's <see cref="WorkerOptions.Events"/>
    /// (<see langword="null"/>). Running workers hear it at once (a notification), or at their next
    /// <see cref="WorkerOptions.EventHeartbeat"/> at the latest.
    /// </summary>
    /// <param name="enabled">On, off, or unset.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>A task that completes when the switch is stored and announced.</returns>
    public async Task SetEnabledAsync(bool? enabled, CancellationToken cancellationToken = default)
    {
        IEventStream stream = await StreamAsync(cancellationToken).ConfigureAwait(false);
        await stream.SetEventsSwitchAsync(enabled, cancellationToken).ConfigureAwait(false);
        _publisher.SwitchSet(enabled); // this client's own sends follow it from the next one
    }

    /// <summary>The run-time switch as stored: on, off, or <see langword="null"/> (unset: each worker follows its <see cref="WorkerOptions.Events"/>).</summary>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The switch.</returns>
    public async Task<bool?> GetEnabledAsync(CancellationToken cancellationToken = default)
    {
        IEventStream stream = await StreamAsync(cancellationToken).ConfigureAwait(false);
        return await stream.GetEventsSwitchAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task<IEventStream> StreamAsync(CancellationToken cancellationToken)
        => await _broker(cancellationToken).ConfigureAwait(false) as IEventStream
           ?? throw new NotSupportedException("This broker keeps no task event stream.");
}
