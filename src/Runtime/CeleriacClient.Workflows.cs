using Celeriac.Brokers;
using Celeriac.Protocol;
using Celeriac.Worker;

namespace Celeriac;

/// <summary>The client's side of workflows: the messages of signatures, built by the one envelope factory's rules.</summary>
public sealed partial class CeleriacClient
{
    /// <summary>The broker, connected.</summary>
    internal Task<ITaskBroker> GetBrokerAsync(CancellationToken cancellationToken) => _brokers.GetAsync(cancellationToken);

    /// <summary>The result TTL, which a chord's join state shares.</summary>
    internal TimeSpan ResultTtl => _options.ResultTtl;

    /// <summary>Refuses a signature's queue as a per-call queue override would be refused (not valid, or not declared).</summary>
    internal void CheckQueue(string queue) => CheckOptions(new TaskOptions { Queue = queue });

    /// <summary>
    /// The message of a signature sent now: its encoded arguments and options, the id chosen for it, and the workflow
    /// part of its envelope. Sent from inside a running task, it is that task's child (parent and root ids), as any send.
    /// </summary>
    internal EnqueueItem BuildSignatureItem(ITaskBroker broker, StepHeader header, ReadOnlyMemory<byte> args, string id, ReadOnlyMemory<byte> flow, string? rootId, bool reply)
    {
        long now = _time.GetUtcNow().ToUnixTimeMilliseconds();
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
            ReplyTo = reply ? broker.ReplyChannel : null,
            Flow = flow,
        };
        byte[] bytes = EnvelopeCodec.Encode(envelope);
        if (_options.MaxMessageBytes > 0 && bytes.Length > _options.MaxMessageBytes)
        {
            throw new ArgumentException($"The message of task '{header.TaskName}' is {bytes.Length} bytes, over the {_options.MaxMessageBytes}-byte limit (CeleriacOptions.MaxMessageBytes).", nameof(args));
        }

        return new EnqueueItem(id, header.Queue, bytes, eta ?? 0, header.Priority);
    }

    /// <summary>The root id a workflow sent now belongs to: the running task's root when sent from inside one.</summary>
    internal static string? CurrentRootId() => RunningTask.TryGet(out _, out string? rootId) ? rootId : null;
}
