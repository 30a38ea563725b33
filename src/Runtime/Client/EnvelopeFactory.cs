using System.Buffers;
using Celeriac.Brokers;
using Celeriac.Protocol;
using Celeriac.Worker;

namespace Celeriac.Client;

/// <summary>
/// The one place task messages are made: the client's sends, a worker's retries, and (next) workflow steps and
/// scheduler ticks all build their envelopes here, so that every message carries the same fields, is checked against
/// the same limits and is written in the queue's wire format. See docs/design/envelopes.md.
/// </summary>
/// <param name="limits">The limits (<see cref="CeleriacOptions.MaxMessageBytes"/>, <see cref="CeleriacOptions.MaxMessageElements"/>).</param>
/// <param name="catalog">The loaded task assemblies (which queues are declared).</param>
/// <param name="time">The clock that stamps creation times and resolves countdowns.</param>
/// <param name="middleware">The send hooks of <see cref="Create"/> (<see langword="null"/>: none).</param>
internal sealed class EnvelopeFactory(CeleriacOptions limits, TaskCatalog catalog, TimeProvider time, Middleware.MiddlewarePipeline? middleware = null)
{
    /// <summary>The wire format messages are written in.</summary>
    public IEnvelopeCodec Codec { get; } = EnvelopeFormats.Native;

    /// <summary>
    /// Refuses per-call options that would send a task somewhere or at a time the caller did not mean: both a countdown
    /// and an ETA (or both expiry forms), a queue name that is not valid, or — when the loaded task assemblies declare
    /// queues — a queue none of them declares (nobody would consume it). Runs once per send, not per task of a bulk send.
    /// </summary>
    /// <param name="options">The per-call options.</param>
    public void CheckOptions(TaskOptions? options)
    {
        if (options is null)
        {
            return;
        }

        if (options is { Countdown: not null, Eta: not null })
        {
            throw new ArgumentException("TaskOptions.Countdown and TaskOptions.Eta are both set; set one of them (Countdown is relative to the send, Eta is an instant).", nameof(options));
        }

        if (options is { ExpiresIn: not null, Expires: not null })
        {
            throw new ArgumentException("TaskOptions.ExpiresIn and TaskOptions.Expires are both set; set one of them (ExpiresIn is relative to the send, Expires is an instant).", nameof(options));
        }

        if (options.Queue is { } queue)
        {
            if (QueueName.Validate(queue) is { } problem)
            {
                throw new ArgumentException($"TaskOptions.Queue '{queue}' is not a valid queue name: {problem}.", nameof(options));
            }

            if (catalog.HasQueueDeclarations && !catalog.IsQueueDeclared(queue))
            {
                throw new ArgumentException(
                    $"TaskOptions.Queue '{queue}' is not declared by any loaded task assembly, so no worker consumes it. Declared queues: "
                    + string.Join(", ", catalog.DeclaredQueues.Select(q => "'" + q + "'"))
                    + ". Use a generated constant (TaskOptions.QueueName = Celeriac.Generated.<Assembly>.Queues.<Name>) or declare it with [assembly: TaskQueue(\"" + queue + "\")].",
                    nameof(options));
            }
        }
    }

    /// <summary>
    /// Makes the message of one task: its arguments encoded, its id, queue, priority, ETA and expiry resolved from the
    /// task's defaults and <paramref name="options"/>, its parent and root taken from the running task when sent
    /// from inside one, and the result checked against the size, header and element limits.
    /// </summary>
    /// <typeparam name="TArgs">The task's generated argument list.</typeparam>
    /// <param name="task">The generated definition.</param>
    /// <param name="args">The arguments.</param>
    /// <param name="options">Per-call options (already checked by <see cref="CheckOptions"/>).</param>
    /// <param name="ids">Makes an id when the options fix none.</param>
    /// <param name="replyTo">The sender's reply channel, or <see langword="null"/>.</param>
    /// <param name="traceParent">The W3C traceparent of the send's span, or <see langword="null"/> when nobody samples it.</param>
    /// <param name="traceState">The W3C tracestate of the send's span, or <see langword="null"/>.</param>
    /// <param name="sending">What the send hooks saw (<see cref="CeleriacMiddleware.OnSending"/>), for their <see cref="CeleriacMiddleware.OnSent"/>; <see langword="null"/> when no middleware is registered.</param>
    /// <returns>The message to enqueue.</returns>
    public EnqueueItem Create<TArgs>(TaskDefinition<TArgs> task, TArgs args, TaskOptions? options, ITaskTransport ids, string? replyTo, byte[]? traceParent, byte[]? traceState, out SendingTask? sending)
    {
        var argsBuffer = new ArrayBufferWriter<byte>(64);
        var writer = new MessagePack.MessagePackWriter(argsBuffer);
        task.ArgsFormatter.Serialize(ref writer, args, task.SerializerOptions);
        writer.Flush();

        long now = time.GetUtcNow().ToUnixTimeMilliseconds();
        string id = options?.TaskId ?? ids.NewTaskId();
        int priority = options?.Priority ?? task.Priority;
        if (priority is < 0 or > 9)
        {
            throw new ArgumentOutOfRangeException(nameof(options), priority, "TaskOptions.Priority must be between 0 and 9.");
        }

        long? eta = options?.Eta?.ToUnixTimeMilliseconds() ?? (options?.Countdown is { } countdown ? now + (long)countdown.TotalMilliseconds : null);
        long? expires = options?.Expires?.ToUnixTimeMilliseconds() ?? (options?.ExpiresIn is { } expiresIn ? now + (long)expiresIn.TotalMilliseconds : null);
        string queue = options?.Queue ?? task.Queue;
        RunningTask.TryGet(out string? parentId, out string? parentRootId); // sent from inside a running task: its child
        var envelope = new Envelope
        {
            Id = id,
            Task = task.Name,
            Args = argsBuffer.WrittenMemory,
            Queue = queue,
            EtaMs = eta,
            ExpiresMs = expires,
            RootId = options?.RootId ?? parentRootId ?? id,
            ParentId = options?.ParentId ?? parentId,
            Headers = options?.Headers is { Count: > 0 } headers ? new Dictionary<string, string>(headers, StringComparer.Ordinal) : null,
            Priority = priority,
            CreatedMs = now,
            ReplyTo = replyTo,
            TraceParent = traceParent,
            TraceState = traceState,
        };
        sending = null;
        if (middleware is { Any: true } hooks)
        {
            sending = hooks.Sending(id, task.Name, queue, options?.Headers); // may add headers; a throw refuses the send
            envelope.Headers = sending.HeadersOrNull;
        }

        if (envelope.Headers is { Count: > EnvelopeCodec.MaxHeaders })
        {
            throw new ArgumentException($"Task '{task.Name}' is sent with {envelope.Headers.Count} headers; a worker reads at most {EnvelopeCodec.MaxHeaders}.", nameof(options));
        }

        byte[] bytes = Codec.Encode(envelope);
        if (limits.MaxMessageBytes > 0 && bytes.Length > limits.MaxMessageBytes)
        {
            throw new ArgumentException($"The message of task '{task.Name}' is {bytes.Length} bytes, over the {limits.MaxMessageBytes}-byte limit (CeleriacOptions.MaxMessageBytes).", nameof(args));
        }

        if (limits.MaxMessageElements > 0 && PayloadScan.Scan(envelope.Args.Span, limits.MaxMessageElements, out _) == PayloadScan.Outcome.TooManyElements)
        {
            throw new ArgumentException($"The arguments of task '{task.Name}' hold more than {limits.MaxMessageElements} MessagePack values (CeleriacOptions.MaxMessageElements).", nameof(args));
        }

        return new EnqueueItem(id, queue, bytes, eta ?? 0, priority);
    }

    /// <summary>
    /// The message of a periodic schedule's tick (or of a run triggered by hand): the stored task, arguments and priority,
    /// the schedule headers, no parent (a tick starts its own tree), an expiry when the next tick is due, and the same
    /// size limit as a send.
    /// </summary>
    /// <param name="taskName">The task's wire name.</param>
    /// <param name="queue">The queue.</param>
    /// <param name="priority">The priority (0–9).</param>
    /// <param name="args">The encoded argument list.</param>
    /// <param name="headers">The schedule headers.</param>
    /// <param name="expiresMs">When the task expires (unix ms), or <see langword="null"/>.</param>
    /// <param name="ids">Makes the task's id.</param>
    /// <returns>The message to store.</returns>
    public EnqueueItem Scheduled(string taskName, string queue, int priority, ReadOnlyMemory<byte> args, IReadOnlyDictionary<string, string> headers, long? expiresMs, ITaskTransport ids)
    {
        string id = ids.NewTaskId();
        var envelope = new Envelope
        {
            Id = id,
            Task = taskName,
            Args = args,
            Queue = queue,
            ExpiresMs = expiresMs,
            Headers = headers,
            Priority = Math.Clamp(priority, 0, 9),
            CreatedMs = time.GetUtcNow().ToUnixTimeMilliseconds(),
        };
        envelope.SetRootIsId();
        byte[] bytes = Codec.Encode(envelope);
        if (limits.MaxMessageBytes > 0 && bytes.Length > limits.MaxMessageBytes)
        {
            throw new ArgumentException($"The message of task '{taskName}' is {bytes.Length} bytes, over the {limits.MaxMessageBytes}-byte limit (CeleriacOptions.MaxMessageBytes).", nameof(args));
        }

        return new EnqueueItem(id, queue, bytes, 0, envelope.Priority);
    }

    /// <summary>
    /// The message of a retry: the same task, arguments, identity, lineage, headers and reply channel as
    /// <paramref name="current"/>, with its retry count set to <paramref name="retry"/> and due at <paramref name="dueAtMs"/>.
    /// Written in the format the current message came in.
    /// </summary>
    /// <param name="current">The envelope of the run that failed.</param>
    /// <param name="retry">The retry count of the new message (1 for the first retry).</param>
    /// <param name="dueAtMs">When the retry is due (unix ms).</param>
    /// <param name="codec">The format of the current message.</param>
    /// <returns>The retry's bytes.</returns>
    public static byte[] Retry(Envelope current, int retry, long dueAtMs, IEnvelopeCodec codec) => codec.Encode(new Envelope
    {
        Id = current.Id,
        Task = current.Task,
        Args = current.Args,
        Queue = current.Queue,
        Retries = retry,
        EtaMs = dueAtMs,
        ExpiresMs = current.ExpiresMs,
        RootId = current.RootId,
        ParentId = current.ParentId,
        Headers = current.Headers,
        Priority = current.Priority,
        CreatedMs = current.CreatedMs,
        ReplyTo = current.ReplyTo,
        Flow = current.Flow, // a retried workflow step still continues its workflow when it succeeds
        TraceParent = current.TraceParent, // the retry joins the send's trace, as the first run did
        TraceState = current.TraceState,
    });

    /// <summary>
    /// The message of a workflow signature sent by a client now (a chain's first step, a group's or chord's member): its
    /// arguments already encoded, its id chosen by the workflow, its workflow part (<paramref name="flow"/>), its parent
    /// and root taken from the running task when sent from inside one, checked against the size limit.
    /// </summary>
    /// <param name="header">The signature's task, queue and options.</param>
    /// <param name="args">The encoded argument list.</param>
    /// <param name="id">The id the workflow chose for it.</param>
    /// <param name="flow">The envelope's workflow field, or empty.</param>
    /// <param name="rootId">The workflow's root when not sent from inside a task (else the id itself).</param>
    /// <param name="replyTo">The sender's reply channel, or <see langword="null"/>.</param>
    /// <returns>The message to enqueue.</returns>
    public EnqueueItem Signature(StepHeader header, ReadOnlyMemory<byte> args, string id, ReadOnlyMemory<byte> flow, string? rootId, string? replyTo)
    {
        long now = time.GetUtcNow().ToUnixTimeMilliseconds();
        long? eta = header.Countdown is { } countdown ? now + (long)countdown.TotalMilliseconds : null;
        RunningTask.TryGet(out string? parentId, out string? parentRootId);
        var envelope = new Envelope
        {
            Id = id,
            Task = header.TaskName,
            Args = args,
            Queue = header.Queue,
            EtaMs = eta,
            ExpiresMs = header.ExpiresIn is { } expires ? now + (long)expires.TotalMilliseconds : null,
            RootId = parentRootId ?? rootId ?? id,
            ParentId = parentId,
            Priority = header.Priority,
            CreatedMs = now,
            ReplyTo = replyTo,
            Flow = flow,
        };
        byte[] bytes = Codec.Encode(envelope);
        if (limits.MaxMessageBytes > 0 && bytes.Length > limits.MaxMessageBytes)
        {
            throw new ArgumentException($"The message of task '{header.TaskName}' is {bytes.Length} bytes, over the {limits.MaxMessageBytes}-byte limit (CeleriacOptions.MaxMessageBytes).", nameof(args));
        }

        return new EnqueueItem(id, header.Queue, bytes, eta ?? 0, header.Priority);
    }

    /// <summary>
    /// The message of a later workflow step, made by the worker that records the step before it (or by a client, for a
    /// chord with no members): its first argument is <paramref name="firstArg"/> (an encoded value: the previous result,
    /// the members' results, a failure's description), the others the step's own; its countdown and expiry start now.
    /// </summary>
    /// <param name="step">The step (id, task, queue, options, arguments after the first).</param>
    /// <param name="firstArg">The encoded first argument.</param>
    /// <param name="flow">The envelope's workflow field (the steps after this one), or empty.</param>
    /// <param name="rootId">The workflow's root.</param>
    /// <param name="parentId">The task (or group) whose outcome sends it.</param>
    /// <param name="replyTo">The reply channel of the client that sent the workflow, or <see langword="null"/>.</param>
    /// <param name="nowMs">Now (unix ms).</param>
    /// <param name="codec">The format to write.</param>
    /// <returns>The message to enqueue.</returns>
    public static EnqueueItem Step(Workflows.FlowStep step, ReadOnlySpan<byte> firstArg, ReadOnlyMemory<byte> flow, string? rootId, string? parentId, string? replyTo, long nowMs, IEnvelopeCodec codec)
    {
        var args = new ArrayBufferWriter<byte>(8 + firstArg.Length + step.RestArgs.Length);
        var writer = new MessagePack.MessagePackWriter(args);
        writer.WriteArrayHeader(step.ArgCount);
        writer.Flush();
        args.Write(firstArg);
        args.Write(step.RestArgs.Span);
        long? eta = step.CountdownMs is { } countdown ? nowMs + countdown : null;
        var envelope = new Envelope
        {
            Id = step.Id,
            Task = step.Task,
            Args = args.WrittenMemory,
            Queue = step.Queue,
            EtaMs = eta,
            ExpiresMs = step.ExpiresInMs is { } expires ? nowMs + expires : null,
            RootId = rootId ?? step.Id,
            ParentId = parentId,
            Priority = step.Priority,
            CreatedMs = nowMs,
            ReplyTo = replyTo,
            Flow = flow,
        };
        return new EnqueueItem(step.Id, step.Queue, codec.Encode(envelope), eta ?? 0, step.Priority);
    }
}
