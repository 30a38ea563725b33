namespace Celeriac.Diagnostics;

/// <summary>
/// The names under which Celeriac reports traces and metrics through <c>System.Diagnostics</c>: subscribe to
/// <see cref="ActivitySourceName"/> (an <see cref="System.Diagnostics.ActivityListener"/>, or OpenTelemetry's
/// <c>AddSource</c>) and <see cref="MeterName"/> (a <see cref="System.Diagnostics.Metrics.MeterListener"/>, or
/// <c>AddMeter</c>). Nothing is recorded, and nothing allocated per task, while nobody listens. docs/observability.md
/// lists every span, metric and attribute.
/// </summary>
public static class CeleriacDiagnostics
{
    /// <summary>The <see cref="System.Diagnostics.ActivitySource"/> of the producer (send) and consumer (process) spans: <c>Celeriac</c>.</summary>
    public const string ActivitySourceName = "Celeriac";

    /// <summary>The <see cref="System.Diagnostics.Metrics.Meter"/> of the task counters, histograms and the in-flight gauge: <c>Celeriac</c>.</summary>
    public const string MeterName = "Celeriac";

    /// <summary>The OpenTelemetry semantic conventions the span and metric names and attributes follow (messaging, development status).</summary>
    public const string SemanticConventionsVersion = "1.36.0";

    /// <summary>Metric names (see docs/observability.md for their attributes).</summary>
    public static class Metrics
    {
        /// <summary>Counter, <c>{message}</c>: tasks a client sent (semantic conventions' <c>messaging.client.sent.messages</c>).</summary>
        public const string SentMessages = "messaging.client.sent.messages";

        /// <summary>Histogram, seconds: how long a run took, whatever its outcome (semantic conventions' <c>messaging.process.duration</c>).</summary>
        public const string ProcessDuration = "messaging.process.duration";

        /// <summary>Counter, <c>{task}</c>: runs that reached a final state, by <c>celeriac.task.state</c> (success, failure, revoked).</summary>
        public const string Completed = "celeriac.task.completed";

        /// <summary>Counter, <c>{task}</c>: failed runs rescheduled as a retry.</summary>
        public const string Retries = "celeriac.task.retries";

        /// <summary>Counter, <c>{message}</c>: messages set aside (dead letters), by <c>celeriac.dead_letter.reason</c>.</summary>
        public const string DeadLetters = "celeriac.task.dead_letters";

        /// <summary>Histogram, seconds: how long a task waited from when it was due (sent, or its ETA) until its run started.</summary>
        public const string QueueWait = "celeriac.task.queue_wait";

        /// <summary>UpDownCounter, <c>{task}</c>: runs in progress now (the in-flight gauge).</summary>
        public const string Active = "celeriac.task.active";
    }
}
