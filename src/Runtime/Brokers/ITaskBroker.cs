namespace Celeriac.Brokers;

/// <summary>A message to store: its id, target queue, encoded envelope, and when it is due.</summary>
/// <param name="Id">The task id (unique; the broker refuses a second message with an id still in use).</param>
/// <param name="Queue">The queue.</param>
/// <param name="Envelope">The encoded envelope (see <c>EnvelopeCodec</c>).</param>
/// <param name="DueAtMs">Unix milliseconds when the task becomes runnable; 0 or a past instant means now.</param>
/// <param name="Priority">0 (lowest) to 9 (highest): within a queue, runnable messages of a higher priority are delivered first, FIFO within one priority.</param>
internal readonly record struct EnqueueItem(string Id, string Queue, ReadOnlyMemory<byte> Envelope, long DueAtMs, int Priority = 0);

/// <summary>A message leased to a worker. Only the holder of <see cref="LeaseToken"/> can complete, release or dead-letter it (fencing).</summary>
/// <remarks>
/// A delivery that came from a <see cref="DeliveryPool"/> (<see cref="Pool"/>) is reused for another message once the
/// worker is done with it: nothing may keep it past that (the worker's held set hands out copies).
/// </remarks>
internal sealed class Delivery
{
    private string? _id;
    private string? _leaseToken;

    /// <summary>The task id (made from <see cref="IdUtf8"/> on first use when the broker gave bytes).</summary>
    public string Id
    {
        get => _id ??= System.Text.Encoding.UTF8.GetString(IdUtf8.Span);
        set => _id = value;
    }

    /// <summary>The task id as the broker's bytes (a slice of its reply), or empty when it gave a string.</summary>
    public ReadOnlyMemory<byte> IdUtf8 { get; set; }

    public required string Queue { get; set; }

    /// <summary>The raw envelope bytes exactly as stored (may be garbage: the worker decodes and dead-letters what it cannot read).</summary>
    public required ReadOnlyMemory<byte> Envelope { get; set; }

    /// <summary>How many times the broker has handed this message out, this time included.</summary>
    public required int DeliveryCount { get; set; }

    /// <summary>Identifies this lease; a reclaimed lease gets a new token and the old one no longer matches.</summary>
    public string LeaseToken
    {
        get => _leaseToken ??= System.Text.Encoding.UTF8.GetString(LeaseTokenUtf8.Span);
        set => _leaseToken = value;
    }

    /// <summary>The lease token as the broker's bytes, or empty when it gave a string.</summary>
    public ReadOnlyMemory<byte> LeaseTokenUtf8 { get; set; }

    /// <summary>The task was revoked (by id) before this delivery: the worker records REVOKED instead of running it.</summary>
    public bool Revoked { get; set; }

    /// <summary>
    /// The stored message's length when it is over <see cref="CeleriacOptions.MaxMessageBytes"/> and the broker handed
    /// over only a prefix of it as <see cref="Envelope"/> (the worker refuses it by this length, decoding nothing); 0 otherwise.
    /// </summary>
    public int OversizedLength { get; set; }

    /// <summary>How many runs of this message were started (<see cref="ITaskTransport.MarkStartedManyAsync"/>) before this delivery without an outcome; a retry starts a new count.</summary>
    public int Runs { get; set; }

    /// <summary>The sending client's reply channel (the envelope's <c>reply_to</c>), set by the worker once it decoded the envelope; outcomes publish the final result there too.</summary>
    public string? ReplyTo { get; set; }

    /// <summary>
    /// This delivery's run was counted: by the fetch (<see cref="FetchRequest.StartCount"/>) or by
    /// <see cref="ITaskTransport.MarkStartedManyAsync"/>. A release then takes the count back (interrupted, not failed).
    /// </summary>
    public bool RunStarted { get; set; }

    /// <summary>What this delivery is charged in its worker's memory budget (<see cref="Celeriac.Worker.MemoryBudget"/>), given back with it.</summary>
    internal long Charged { get; set; }

    /// <summary>Whether <see cref="Charged"/> includes a charge for its argument elements.</summary>
    internal bool ElementsCharged { get; set; }

    /// <summary>The pool this delivery returns to once the worker is done with it, or <see langword="null"/>.</summary>
    public DeliveryPool? Pool { get; init; }

    // The worker's bookkeeping while it holds the delivery (no dictionary node per task): its place in the held set, the
    // run's cancellation while it runs, and a revocation that arrived while it was held.
    internal int HeldSlot = -1;
    internal volatile Worker.RunControl? Control;
    internal volatile bool RevokeRequested;

    // The run's telemetry (Diagnostics.Telemetry), set only while someone listens: its consumer span, its start (for the
    // duration) and whether it is counted in flight, under which task name.
    internal System.Diagnostics.Activity? RunActivity;
    internal long RunStartTimestamp;
    internal bool CountedActive;
    internal string? ActiveTask;

    /// <summary>The broker's buffer that <see cref="IdUtf8"/>, <see cref="LeaseTokenUtf8"/> and <see cref="Envelope"/> point into, when it is lent (pooled deliveries only): released by <see cref="Clear"/>.</summary>
    internal SharedBuffer? Buffer;

    /// <summary>A copy of what identifies the lease (id, queue, token, counts), for use outside the holder's lifetime.</summary>
    /// <remarks>An id whose bytes are not UTF-8 keeps its bytes (a copy): its string is lossy and would address another message.</remarks>
    public Delivery CopyLease() => new()
    {
        Id = Id,
        IdUtf8 = IdUtf8.IsEmpty || System.Text.Unicode.Utf8.IsValid(IdUtf8.Span) ? default : IdUtf8.ToArray(),
        Queue = Queue,
        Envelope = default,
        DeliveryCount = DeliveryCount,
        LeaseToken = LeaseToken,
        Runs = Runs,
        RunStarted = RunStarted,
    };

    /// <summary>Forgets the message, for reuse by its pool.</summary>
    internal void Clear()
    {
        SharedBuffer? buffer = Buffer;
        Buffer = null;
        buffer?.Release(); // the memory goes back to the broker's pool once every delivery of its reply is done
        _id = null;
        _leaseToken = null;
        IdUtf8 = default;
        Queue = string.Empty;
        Envelope = default;
        DeliveryCount = 0;
        LeaseTokenUtf8 = default;
        Revoked = false;
        OversizedLength = 0;
        Runs = 0;
        ReplyTo = null;
        RunStarted = false;
        Charged = 0;
        ElementsCharged = false;
        HeldSlot = -1;
        Control = null;
        RevokeRequested = false;
        RunActivity = null;
        RunStartTimestamp = 0;
        CountedActive = false;
        ActiveTask = null;
    }
}

/// <summary>
/// A pooled buffer shared by the deliveries of one fetch reply (their id, token and envelope point into it): counted,
/// and given back to its owner when the last of them is done. Nothing is allocated per delivery for the bytes.
/// </summary>
/// <param name="owner">What returns the memory when disposed (the reply's lease).</param>
internal sealed class SharedBuffer(IDisposable owner)
{
    private int _references = 1;

    /// <summary>One more delivery points into the buffer.</summary>
    public void AddReference() => Interlocked.Increment(ref _references);

    /// <summary>One holder is done; the last one gives the memory back.</summary>
    public void Release()
    {
        if (Interlocked.Decrement(ref _references) == 0)
        {
            owner.Dispose();
        }
    }
}

/// <summary>
/// Reusable deliveries for a worker's fetches (<see cref="FetchRequest.Pool"/>): the broker rents one per leased message,
/// the worker returns it once the message's outcome is recorded and nothing refers to it any more. After warm-up a
/// fetch allocates no delivery objects.
/// </summary>
internal sealed class DeliveryPool
{
    private readonly System.Collections.Concurrent.ConcurrentQueue<Delivery> _free = new();

    /// <summary>A cleared delivery of this pool.</summary>
    public Delivery Rent() => _free.TryDequeue(out Delivery? delivery) ? delivery : new Delivery { Queue = string.Empty, Envelope = default, DeliveryCount = 0, Pool = this };

    /// <summary>The worker's memory budget, given back each returned delivery's charges; <see langword="null"/> when it has none.</summary>
    public Celeriac.Worker.MemoryBudget? Budget { get; init; }

    /// <summary>Takes <paramref name="delivery"/> back (it must be this pool's, and no longer used); its budget charges are given back.</summary>
    public void Return(Delivery delivery)
    {
        if (delivery.Charged != 0 || delivery.ElementsCharged)
        {
            Budget?.Release(delivery.Charged, delivery.ElementsCharged);
            delivery.Charged = 0;
            delivery.ElementsCharged = false;
        }

        if (!ReferenceEquals(delivery.Pool, this))
        {
            return;
        }

        delivery.Clear();
        _free.Enqueue(delivery);
    }
}

/// <summary>
/// One outcome of a batched completion (<see cref="ITaskTransport.CompleteManyAsync"/>): the leased delivery and its final
/// result. A success is carried as its fields (<see cref="Success"/>), so that the worker's common path allocates no
/// <see cref="TaskResult"/>; <see cref="Result"/> builds one for a broker that stores objects.
/// </summary>
internal readonly struct CompleteItem
{
    private readonly TaskResult? _result;

    /// <summary>An outcome given as a result object.</summary>
    /// <param name="delivery">The leased delivery (its lease token fences the write).</param>
    /// <param name="result">The final result to store.</param>
    public CompleteItem(Delivery delivery, TaskResult result)
    {
        Delivery = delivery;
        _result = result;
        State = result.State;
        Value = result.Value;
        TaskName = result.TaskName;
        Retries = result.Retries;
        Timestamp = result.Timestamp ?? default;
        Worker = result.Worker;
    }

    private CompleteItem(Delivery delivery, ReadOnlyMemory<byte> value, string taskName, int retries, DateTimeOffset timestamp, string worker)
    {
        Delivery = delivery;
        State = TaskState.Success;
        Value = value;
        TaskName = taskName;
        Retries = retries;
        Timestamp = timestamp;
        Worker = worker;
    }

    /// <summary>A success, without a result object.</summary>
    /// <param name="delivery">The leased delivery.</param>
    /// <param name="value">The encoded return value (it must stay unchanged until the completion returned).</param>
    /// <param name="taskName">The task's wire name.</param>
    /// <param name="retries">How many times the task was retried.</param>
    /// <param name="timestamp">When it finished.</param>
    /// <param name="worker">The worker's name.</param>
    public static CompleteItem Success(Delivery delivery, ReadOnlyMemory<byte> value, string taskName, int retries, DateTimeOffset timestamp, string worker)
        => new(delivery, value, taskName, retries, timestamp, worker);

    /// <summary>The leased delivery (its lease token fences the write).</summary>
    public Delivery Delivery { get; }

    /// <summary>The final state.</summary>
    public TaskState State { get; }

    /// <summary>The encoded return value of a success.</summary>
    public ReadOnlyMemory<byte> Value { get; }

    /// <summary>The task's wire name, when known.</summary>
    public string? TaskName { get; }

    /// <summary>How many times the task was retried.</summary>
    public int Retries { get; }

    /// <summary>When the outcome was recorded (<see langword="default"/>: not given; the broker uses its clock).</summary>
    public DateTimeOffset Timestamp { get; }

    /// <summary>The worker's name, when known.</summary>
    public string? Worker { get; }

    /// <summary>The error of a failure or a revocation.</summary>
    public TaskError? Error => _result?.Error;

    /// <summary>The outcome as a result object (the one given, or a new one for a success given as fields).</summary>
    public TaskResult Result => _result ?? new TaskResult
    {
        State = State,
        Value = Value,
        TaskName = TaskName,
        Retries = Retries,
        Timestamp = Timestamp == default ? null : Timestamp,
        Worker = Worker,
    };
}

/// <summary>One run start of a batched start (<see cref="ITaskTransport.MarkStartedManyAsync"/>).</summary>
/// <param name="Delivery">The leased delivery (its lease token fences the write).</param>
/// <param name="State">The STARTED state to record, or <see langword="null"/> to only count the run.</param>
internal readonly record struct StartItem(Delivery Delivery, TaskResult? State);

/// <summary>What to fetch: from which queues (in order), how many at most, for how long to lease, how long to block when nothing is ready.</summary>
/// <param name="Queues">The queues, in the order to try them.</param>
/// <param name="MaxCount">The most messages to lease.</param>
/// <param name="Lease">How long the leases last before the heartbeat must renew them.</param>
/// <param name="MaxWait">How long to block when nothing is ready.</param>
/// <param name="WorkerId">The worker's name (part of each lease token).</param>
/// <param name="StartCount">
/// How many of the leased messages (the first ones) start running at once, because idle consumers wait for them: their
/// run is counted in the same call (as <see cref="ITaskTransport.MarkStartedManyAsync"/> would, without a STARTED state) and
/// their <see cref="Delivery.RunStarted"/> is set. The others are prefetched and counted when they start.
/// </param>
/// <param name="Drained">
/// The caller's previous fetch of the same queues leased fewer than it asked for: they were drained then. A broker that
/// is woken by every new message (Redis: each enqueue leaves a wake-up token) may then go straight to its blocking wait
/// instead of first looking again (one call less per idle cycle), unless a scheduled message has fallen due since.
/// </param>
/// <param name="Pool">Where to take the delivery objects from (the caller returns them), or <see langword="null"/> for new ones.</param>
/// <param name="MaxBytes">
/// The most message bytes to lease (0: no limit), the worker's memory budget (<see cref="WorkerOptions.MaxMemoryInFlight"/>):
/// once the messages leased reach it, no more are leased, and what was taken from a queue but not read goes back to it in
/// its order. At least one message is leased whatever its size.
/// </param>
internal readonly record struct FetchRequest(IReadOnlyList<string> Queues, int MaxCount, TimeSpan Lease, TimeSpan MaxWait, string WorkerId, int StartCount = 0, bool Drained = false, DeliveryPool? Pool = null, long MaxBytes = 0);

/// <summary>A message set aside because it could not be run, with the reason.</summary>
/// <param name="Id">The task id.</param>
/// <param name="Queue">The queue it came from.</param>
/// <param name="Reason">Why it was set aside: a short code (<c>undecodable</c>, <c>unsupported-version</c>, <c>oversized</c>, <c>unknown-task</c>, <c>undecodable-args</c>, <c>redelivery-limit</c>, <c>failed</c>) followed by ": " and details.</param>
/// <param name="At">When it was set aside.</param>
/// <param name="Envelope">The message's bytes exactly as received.</param>
/// <param name="TaskName">The task's wire name, read from the envelope; <see langword="null"/> when the envelope cannot be decoded.</param>
/// <param name="Retries">How many times the task had been retried when it was set aside (0 for a first run), read from the envelope; <see langword="null"/> when the envelope cannot be decoded.</param>
public sealed record DeadLetter(string Id, string Queue, string Reason, DateTimeOffset At, ReadOnlyMemory<byte> Envelope, string? TaskName = null, int? Retries = null)
{
    /// <summary>A dead letter with its task name and retry count read from <paramref name="envelope"/> when it decodes.</summary>
    internal static DeadLetter Read(string id, string queue, string reason, DateTimeOffset at, ReadOnlyMemory<byte> envelope)
        => Protocol.EnvelopeFormats.For(envelope.Span).TryReadSummary(envelope, out string? task, out int retries)
            ? new DeadLetter(id, queue, reason, at, envelope, task, retries)
            : new DeadLetter(id, queue, reason, at, envelope);
}

/// <summary>
/// A broker: every role at once, over one connection. Two implementations with one contract per role (tested by one
/// suite each, run on both): <c>RedisBroker</c> and <c>InMemoryBroker</c>. Semantics: at-least-once with leases (a
/// fetched message stays owned by its lease until completed, released or dead-lettered; an expired lease puts it back),
/// ETA held in the broker, results with a TTL. Code that needs one role takes that role's interface; the split and the
/// alternatives rejected are in docs/design/brokers.md.
/// </summary>
internal interface ITaskBroker : ITaskTransport, IResultStore, IControlChannel, IQueueInspector, IQueueAdministration, IAsyncDisposable
{
}
