namespace Celeriac.Control;

/// <summary>A task running on a worker, as <see cref="WorkerInspector.ActiveAsync"/> reports it.</summary>
public sealed class ActiveTask
{
    /// <summary>The task's id.</summary>
    public required string TaskId { get; init; }

    /// <summary>The task's wire name (<see langword="null"/> when its envelope could not be read).</summary>
    public string? TaskName { get; init; }

    /// <summary>The queue it was fetched from.</summary>
    public required string Queue { get; init; }

    /// <summary>When this run started (the worker's clock).</summary>
    public required DateTimeOffset StartedAt { get; init; }

    /// <summary>How long it had been running when the worker answered.</summary>
    public required TimeSpan Runtime { get; init; }

    /// <summary>How many times the broker has handed this message out, this time included.</summary>
    public required int DeliveryCount { get; init; }
}

/// <summary>A task a worker has fetched (leased, its lease renewed) and not started yet, as <see cref="WorkerInspector.ReservedAsync"/> reports it.</summary>
public sealed class ReservedTask
{
    /// <summary>The task's id.</summary>
    public required string TaskId { get; init; }

    /// <summary>The task's wire name (<see langword="null"/> when its envelope could not be read).</summary>
    public string? TaskName { get; init; }

    /// <summary>The queue it was fetched from.</summary>
    public required string Queue { get; init; }

    /// <summary>How many times the broker has handed this message out, this time included.</summary>
    public required int DeliveryCount { get; init; }
}

/// <summary>A task a worker can run (an entry of its dispatch table), as <see cref="WorkerInspector.RegisteredAsync"/> reports it.</summary>
public sealed class RegisteredTask
{
    /// <summary>The task's wire name.</summary>
    public required string Name { get; init; }

    /// <summary>The queue its messages are routed to by default.</summary>
    public required string Queue { get; init; }

    /// <summary>Where the worker runs it (<see cref="TaskPolicy.Execution"/>: the thread pool, or the worker's CPU threads).</summary>
    public TaskExecution Execution { get; init; }
}

/// <summary>A worker's counters and settings now, as <see cref="WorkerInspector.StatsAsync"/> reports them.</summary>
public sealed class WorkerStats
{
    /// <summary>The machine it runs on.</summary>
    public required string Host { get; init; }

    /// <summary>Its process id.</summary>
    public required int ProcessId { get; init; }

    /// <summary>The version of the Celeriac runtime it runs.</summary>
    public required string Version { get; init; }

    /// <summary>The broker it consumes from (<c>redis</c> or <c>in-memory</c>).</summary>
    public required string Broker { get; init; }

    /// <summary>When it started.</summary>
    public required DateTimeOffset StartedAt { get; init; }

    /// <summary>How long it has been running.</summary>
    public required TimeSpan Uptime { get; init; }

    /// <summary>The queues it consumes now.</summary>
    public required IReadOnlyList<string> Queues { get; init; }

    /// <summary>How many tasks it runs at once now.</summary>
    public required int Concurrency { get; init; }

    /// <summary>How many tasks it holds at once, running and waiting.</summary>
    public required int Prefetch { get; init; }

    /// <summary>How many messages it has finished with (run, refused or handed back).</summary>
    public required long Processed { get; init; }

    /// <summary>How many runs raised an exception (failed, retried or timed out).</summary>
    public required long Failed { get; init; }

    /// <summary>How many tasks are running.</summary>
    public required int Active { get; init; }

    /// <summary>How many tasks it holds without running them yet (prefetched).</summary>
    public required int Reserved { get; init; }

    /// <summary>Whether its last call to the broker succeeded.</summary>
    public required bool BrokerReachable { get; init; }

    /// <summary>The least concurrency autoscale moves between (<see cref="WorkerOptions.Autoscale"/>), or <see langword="null"/> when autoscale is off.</summary>
    public int? AutoscaleMin { get; init; }

    /// <summary>The most concurrency autoscale moves between (<see cref="WorkerOptions.Autoscale"/>), or <see langword="null"/> when autoscale is off.</summary>
    public int? AutoscaleMax { get; init; }
}

/// <summary>One worker's answer to a command: a value, or why the worker refused.</summary>
/// <typeparam name="T">The command's reply type.</typeparam>
public sealed class WorkerReply<T>
{
    /// <summary>The worker that answered.</summary>
    public required string Worker { get; init; }

    /// <summary>The answer; <see langword="default"/> when the worker refused (<see cref="Error"/>).</summary>
    public T? Value { get; init; }

    /// <summary>Why the worker refused the command (for example, cancelling the only queue it consumes), or <see langword="null"/>.</summary>
    public string? Error { get; init; }

    /// <summary>The worker carried out the command.</summary>
    public bool Succeeded => Error is null;
}

/// <summary>
/// The answers to one command, collected until every addressed worker answered or the timeout passed. A worker that
/// did not answer in time (dead, frozen, overloaded, or not in the registry at all) is in <see cref="Missing"/>.
/// </summary>
/// <typeparam name="T">The command's reply type.</typeparam>
public sealed class ControlReplies<T>
{
    /// <summary>The answers, in the order they arrived.</summary>
    public required IReadOnlyList<WorkerReply<T>> Replies { get; init; }

    /// <summary>The addressed workers that did not answer within the timeout, or that the registry does not list.</summary>
    public required IReadOnlyList<string> Missing { get; init; }

    /// <summary>The answer of worker <paramref name="workerId"/>, or <see langword="null"/> when it did not answer.</summary>
    /// <param name="workerId">The worker's id.</param>
    /// <returns>Its reply.</returns>
    public WorkerReply<T>? Of(string workerId) => Replies.FirstOrDefault(r => string.Equals(r.Worker, workerId, StringComparison.Ordinal));
}
