using System.Diagnostics;
using System.Diagnostics.Metrics;
using Celeriac.Brokers;
using Celeriac.Protocol;
using Celeriac.Worker;

namespace Celeriac.Diagnostics;

/// <summary>
/// Celeriac's spans and metrics, through <c>System.Diagnostics</c> only: one <see cref="ActivitySource"/> and one
/// <see cref="Meter"/> for the process (named in <see cref="CeleriacDiagnostics"/>). The client calls
/// <see cref="StartSend"/> per send; the worker calls <see cref="RunStarting"/> when a run starts and every outcome
/// reaches <see cref="OnOutcome"/> through the <see cref="OutcomeObserver"/>. Each entry point first asks whether anyone
/// listens (<see cref="ActivitySource.HasListeners"/>, <see cref="Instrument.Enabled"/>): nobody listening costs a few
/// field reads and allocates nothing.
/// </summary>
internal static class Telemetry
{
    internal const string System = "celeriac";

    internal static readonly ActivitySource Source = new(CeleriacDiagnostics.ActivitySourceName, typeof(Telemetry).Assembly.GetName().Version?.ToString());
    internal static readonly Meter Meter = new(CeleriacDiagnostics.MeterName, typeof(Telemetry).Assembly.GetName().Version?.ToString());

    private static readonly Counter<long> Sent = Meter.CreateCounter<long>(CeleriacDiagnostics.Metrics.SentMessages, "{message}", "Tasks a client sent to the broker.");
    private static readonly Histogram<double> Duration = Meter.CreateHistogram<double>(CeleriacDiagnostics.Metrics.ProcessDuration, "s", "How long a task's run took, whatever its outcome.");
    private static readonly Counter<long> Completed = Meter.CreateCounter<long>(CeleriacDiagnostics.Metrics.Completed, "{task}", "Runs that reached a final state, by state.");
    private static readonly Counter<long> Retries = Meter.CreateCounter<long>(CeleriacDiagnostics.Metrics.Retries, "{task}", "Failed runs rescheduled as a retry.");
    private static readonly Counter<long> DeadLetters = Meter.CreateCounter<long>(CeleriacDiagnostics.Metrics.DeadLetters, "{message}", "Messages set aside (dead letters), by reason.");
    private static readonly Histogram<double> QueueWait = Meter.CreateHistogram<double>(CeleriacDiagnostics.Metrics.QueueWait, "s", "How long a task waited from when it was due until its run started.");
    private static readonly UpDownCounter<long> Active = Meter.CreateUpDownCounter<long>(CeleriacDiagnostics.Metrics.Active, "{task}", "Runs in progress.");

    // Attribute names (semantic conventions' messaging attributes, then Celeriac's own).
    internal const string MessagingSystem = "messaging.system";
    internal const string OperationName = "messaging.operation.name";
    internal const string OperationType = "messaging.operation.type";
    internal const string Destination = "messaging.destination.name";
    internal const string MessageId = "messaging.message.id";
    internal const string ConversationId = "messaging.message.conversation_id";
    internal const string BodySize = "messaging.message.body.size";
    internal const string BatchCount = "messaging.batch.message_count";
    internal const string ErrorType = "error.type";
    internal const string TaskName = "celeriac.task.name";
    internal const string TaskRetries = "celeriac.task.retries";
    internal const string TaskState = "celeriac.task.state";
    internal const string TaskOutcome = "celeriac.task.outcome";
    internal const string DeliveryCount = "celeriac.delivery.count";
    internal const string DeadLetterReason = "celeriac.dead_letter.reason";
    internal const string WorkerName = "celeriac.worker.name";

    /// <summary>Whether an outcome of <paramref name="delivery"/> has anything to record: a span or counts of its run, or an enabled outcome counter.</summary>
    public static bool Observes(Delivery delivery)
        => delivery.RunActivity is not null || delivery.RunStartTimestamp != 0 || delivery.CountedActive || Completed.Enabled;

    /// <summary>
    /// Starts the producer span of a send of <paramref name="count"/> tasks to <paramref name="queue"/>, as a child of
    /// <see cref="Activity.Current"/> (a task sending a child task: the child joins its trace). <see langword="null"/>
    /// when no listener samples it.
    /// </summary>
    public static Activity? StartSend(string queue, string taskName, int count)
    {
        if (!Source.HasListeners())
        {
            return null;
        }

        Activity? activity = Source.StartActivity("send " + queue, ActivityKind.Producer);
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag(MessagingSystem, System);
            activity.SetTag(OperationName, "send");
            activity.SetTag(OperationType, "send");
            activity.SetTag(Destination, queue);
            activity.SetTag(TaskName, taskName);
            if (count != 1)
            {
                activity.SetTag(BatchCount, count);
            }
        }

        return activity;
    }

    /// <summary>
    /// The W3C trace context of <paramref name="activity"/> as the envelope carries it (traceparent, tracestate); none
    /// when the process makes hierarchical ids (<see cref="Activity.DefaultIdFormat"/>), which a worker cannot parent by.
    /// </summary>
    public static (byte[]? Parent, byte[]? State) TraceContextOf(Activity activity)
    {
        if (activity.IdFormat != ActivityIdFormat.W3C)
        {
            return default;
        }

        byte[] parent = global::System.Text.Encoding.UTF8.GetBytes(activity.Id!); // W3C: 00-<trace>-<span>-<flags>
        byte[]? state = activity.TraceStateString is { Length: > 0 } ts ? global::System.Text.Encoding.UTF8.GetBytes(ts) : null;
        return (parent, state);
    }

    /// <summary>Tags a send span with its single message's id and size.</summary>
    public static void TagMessage(Activity? activity, string id, int size)
    {
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag(MessageId, id);
            activity.SetTag(BodySize, size);
        }
    }

    /// <summary>The send reached the broker: counts <paramref name="count"/> sent messages.</summary>
    public static void SendSucceeded(string queue, string taskName, int count)
    {
        if (Sent.Enabled)
        {
            var tags = new TagList { { MessagingSystem, System }, { OperationName, "send" }, { Destination, queue }, { TaskName, taskName } };
            Sent.Add(count, in tags);
        }
    }

    /// <summary>
    /// The send failed: the span records the error; when the messages were handed to the broker
    /// (<paramref name="attempted"/>: it refused them or could not be reached), they are counted with <c>error.type</c>,
    /// as the conventions count attempted sends.
    /// </summary>
    public static void SendFailed(Activity? activity, Exception error, bool attempted, string queue, string taskName, int count)
    {
        string type = error.GetType().FullName ?? error.GetType().Name;
        if (activity is not null)
        {
            activity.SetStatus(ActivityStatusCode.Error, error.Message);
            activity.SetTag(ErrorType, type);
        }

        if (attempted && Sent.Enabled)
        {
            var tags = new TagList { { MessagingSystem, System }, { OperationName, "send" }, { Destination, queue }, { TaskName, taskName }, { ErrorType, type } };
            Sent.Add(count, in tags);
        }
    }

    /// <summary>
    /// A run starts (its start counted by the broker): starts its consumer span, parented by the trace context the
    /// envelope carries, and makes it <see cref="Activity.Current"/> for the run (so the task's own sends join the
    /// trace); records the queue wait and the in-flight count. Keeps what the outcome needs on the delivery.
    /// </summary>
    public static void RunStarting(Delivery delivery, Envelope envelope, TimeProvider time, string worker)
    {
        if (Source.HasListeners())
        {
            StartRunActivity(delivery, envelope, worker);
        }

        if (Duration.Enabled || delivery.RunActivity is not null)
        {
            delivery.RunStartTimestamp = time.GetTimestamp();
        }

        if (QueueWait.Enabled)
        {
            long due = Math.Max(envelope.CreatedMs, envelope.EtaMs ?? 0);
            double waited = Math.Max(0, time.GetUtcNow().ToUnixTimeMilliseconds() - due) / 1000.0;
            TagList tags = RunTags(delivery.Queue, envelope.Task);
            QueueWait.Record(waited, in tags);
        }

        if (Active.Enabled)
        {
            delivery.CountedActive = true;
            delivery.ActiveTask = envelope.Task;
            TagList tags = RunTags(delivery.Queue, envelope.Task);
            Active.Add(1, in tags);
        }
    }

    private static void StartRunActivity(Delivery delivery, Envelope envelope, string worker)
    {
        ActivityContext parent = default;
        if (!envelope.TraceParent.IsEmpty)
        {
            string traceParent = global::System.Text.Encoding.UTF8.GetString(envelope.TraceParent.Span);
            string? traceState = envelope.TraceState.IsEmpty ? null : global::System.Text.Encoding.UTF8.GetString(envelope.TraceState.Span);
            _ = ActivityContext.TryParse(traceParent, traceState, isRemote: true, out parent); // a bad one: a root span
        }

        Activity? activity = Source.StartActivity("process " + delivery.Queue, ActivityKind.Consumer, parent);
        if (activity is null)
        {
            return;
        }

        if (activity.IsAllDataRequested)
        {
            activity.SetTag(MessagingSystem, System);
            activity.SetTag(OperationName, "process");
            activity.SetTag(OperationType, "process");
            activity.SetTag(Destination, delivery.Queue);
            activity.SetTag(MessageId, envelope.Id);
            if (envelope.RootId is { } root && !string.Equals(root, envelope.Id, StringComparison.Ordinal))
            {
                activity.SetTag(ConversationId, root);
            }

            activity.SetTag(BodySize, delivery.Envelope.Length);
            activity.SetTag(TaskName, envelope.Task);
            activity.SetTag(TaskRetries, envelope.Retries);
            activity.SetTag(DeliveryCount, delivery.DeliveryCount);
            activity.SetTag(WorkerName, worker);
        }

        delivery.RunActivity = activity;
    }

    /// <summary>
    /// An outcome was decided: ends the run's span with it and counts it. The task name becomes a metric attribute only
    /// when <paramref name="catalog"/> knows it: a refused message (unknown task, expired, revoked before it ran) may
    /// name anything, and an attribute value per name sent would grow the metric series without bound.
    /// </summary>
    public static void OnOutcome(in Outcome outcome, TimeProvider time, TaskCatalog? catalog)
    {
        Delivery delivery = outcome.Delivery;
        string? task = (Completed.Enabled || Retries.Enabled || DeadLetters.Enabled || Duration.Enabled) && outcome.TaskName is { } name
            && (catalog is null || catalog.TryGet(name, out _)) ? name : null; // looked up only when something is counted
        string? state = outcome.Kind switch
        {
            OutcomeKind.Succeeded => "success",
            OutcomeKind.Failed => "failure",
            OutcomeKind.Revoked or OutcomeKind.Expired => "revoked",
            _ => null,
        };
        if (state is not null && Completed.Enabled)
        {
            TagList tags = RunTags(delivery.Queue, task);
            tags.Add(TaskState, state);
            Completed.Add(1, in tags);
        }

        if (outcome.Kind == OutcomeKind.Retried && Retries.Enabled)
        {
            TagList tags = RunTags(delivery.Queue, task);
            Retries.Add(1, in tags);
        }

        if (outcome.Kind == OutcomeKind.DeadLettered && DeadLetters.Enabled)
        {
            TagList tags = RunTags(delivery.Queue, task);
            tags.Add(DeadLetterReason, outcome.Reason);
            DeadLetters.Add(1, in tags);
        }

        if (delivery.RunStartTimestamp != 0 && outcome.Kind is OutcomeKind.Succeeded or OutcomeKind.Failed or OutcomeKind.Retried or OutcomeKind.Revoked or OutcomeKind.DeadLettered)
        {
            double seconds = time.GetElapsedTime(delivery.RunStartTimestamp).TotalSeconds;
            delivery.RunStartTimestamp = 0; // one duration per run (a lost lease after a success records none)
            if (Duration.Enabled)
            {
                TagList tags = RunTags(delivery.Queue, task);
                if (outcome.Error is { } failed)
                {
                    tags.Add(ErrorType, failed.Type);
                }

                Duration.Record(seconds, in tags);
            }
        }

        if (delivery.RunActivity is { } activity)
        {
            delivery.RunActivity = null;
            EndActivity(activity, in outcome);
        }

        EndActive(delivery);
    }

    private static void EndActivity(Activity activity, in Outcome outcome)
    {
        if (activity.IsAllDataRequested)
        {
            activity.SetTag(TaskOutcome, OutcomeName(outcome.Kind));
            if (outcome.Reason is { } reason)
            {
                activity.SetTag(DeadLetterReason, reason);
            }

            if (outcome.Error is { } error)
            {
                activity.SetTag(ErrorType, error.Type);
                activity.AddEvent(new ActivityEvent("exception", tags: new ActivityTagsCollection
                {
                    { "exception.type", error.Type },
                    { "exception.message", error.Message },
                }));
            }
        }

        if (outcome.Kind is OutcomeKind.Failed or OutcomeKind.DeadLettered or OutcomeKind.NotRecorded or OutcomeKind.LeaseLost)
        {
            activity.SetStatus(ActivityStatusCode.Error, outcome.Error?.Message ?? OutcomeName(outcome.Kind));
        }

        activity.Stop();
    }

    /// <summary>
    /// The worker is done with a delivery: ends what no outcome ended (a span, the in-flight count) and leaves the
    /// consumer's flow with no <see cref="Activity.Current"/> (an outcome decided in a method of its own stopped the span
    /// there, which left this flow's current activity as it was).
    /// </summary>
    public static void RunFinished(Delivery delivery)
    {
        if (delivery.RunActivity is { } activity)
        {
            delivery.RunActivity = null;
            activity.Stop();
        }

        EndActive(delivery);
        if (Activity.Current is not null)
        {
            Activity.Current = null;
        }
    }

    private static void EndActive(Delivery delivery)
    {
        if (delivery.CountedActive)
        {
            delivery.CountedActive = false;
            TagList tags = RunTags(delivery.Queue, delivery.ActiveTask); // the series the start counted in
            Active.Add(-1, in tags);
        }
    }

    private static TagList RunTags(string queue, string? task)
    {
        var tags = new TagList { { MessagingSystem, System }, { OperationName, "process" }, { Destination, queue } };
        if (task is not null)
        {
            tags.Add(TaskName, task);
        }

        return tags;
    }

    private static string OutcomeName(OutcomeKind kind) => kind switch
    {
        OutcomeKind.Succeeded => "succeeded",
        OutcomeKind.Failed => "failed",
        OutcomeKind.Retried => "retried",
        OutcomeKind.Revoked => "revoked",
        OutcomeKind.Expired => "expired",
        OutcomeKind.DeadLettered => "dead-lettered",
        OutcomeKind.Released => "released",
        OutcomeKind.LeaseLost => "lease-lost",
        _ => "not-recorded",
    };
}
