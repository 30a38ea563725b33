namespace Celeriac;

/// <summary>Per-call options of <c>ApplyAsync</c>. Every member is optional; unset members take the task's defaults.</summary>
public sealed class TaskOptions
{
    /// <summary>The task id to use instead of a new one. Sending a second task with an id in use fails.</summary>
    public string? TaskId { get; set; }

    /// <summary>Run no earlier than this long after sending. Setting it together with <see cref="Eta"/> is refused at send (<see cref="ArgumentException"/>).</summary>
    public TimeSpan? Countdown { get; set; }

    /// <summary>Run no earlier than this instant (held in the broker, never in a worker's memory).</summary>
    public DateTimeOffset? Eta { get; set; }

    /// <summary>Do not run after this instant; a task found expired is marked revoked instead.</summary>
    public DateTimeOffset? Expires { get; set; }

    /// <summary>Do not run later than this long after sending. Setting it together with <see cref="Expires"/> is refused at send (<see cref="ArgumentException"/>).</summary>
    public TimeSpan? ExpiresIn { get; set; }

    /// <summary>
    /// The queue to send to instead of the task's routed queue, as a string the compiler cannot check.
    /// Prefer <see cref="QueueName"/> with a generated constant (<c>Celeriac.Generated.{Assembly}.Queues.Billing</c>).
    /// Checked at send: a name that is not valid (<see cref="Celeriac.QueueName.Validate"/>; no <c>{</c> or <c>}</c>) is
    /// refused, and so is a queue that no loaded task assembly declares when any of them declares queues
    /// (<see cref="TaskCatalog.HasQueueDeclarations"/>). When none declares queues the sender cannot know which queues
    /// workers consume, and the task is sent as asked.
    /// </summary>
    public string? Queue { get; set; }

    /// <summary>
    /// The queue to send to instead of the task's routed queue, typed: use a generated constant
    /// (<c>Celeriac.Generated.{Assembly}.Queues.Billing</c>) so that only declared queues compile. Reads and writes
    /// <see cref="Queue"/>.
    /// </summary>
    public QueueName? QueueName
    {
        get => Queue is null ? null : new QueueName(Queue);
        set => Queue = value?.Value;
    }

    /// <summary>The message priority, 0 (lowest) to 9 (highest), instead of the task's default.</summary>
    public int? Priority { get; set; }

    /// <summary>Application headers carried with the message and visible in <see cref="TaskContext.Headers"/>.</summary>
    public IDictionary<string, string>? Headers { get; set; }

    /// <summary>The id of the task that sends this one (workflows and tracing); when unset, a task sent from inside a running task gets the running task's id.</summary>
    public string? ParentId { get; set; }

    /// <summary>The id of the first task of the workflow this one belongs to; when unset, a task sent from inside a running task gets the running task's root id (else its own id).</summary>
    public string? RootId { get; set; }
}
