using Celeriac.Brokers;
using Celeriac.Worker;

namespace Celeriac;

/// <summary>The client's side of workflows: the messages of signatures, built by the one envelope factory's rules.</summary>
public sealed partial class CeleriacClient
{
    /// <summary>The broker, connected.</summary>
    internal Task<ITaskBroker> GetBrokerAsync(CancellationToken cancellationToken) => _brokers.GetAsync(cancellationToken);

    /// <summary>The result TTL, which a chord's join state shares.</summary>
    internal TimeSpan ResultTtl => _options.ResultTtl;

    /// <summary>How long a revocation is kept by default.</summary>
    internal TimeSpan RevokeTtl => _options.RevokeTtl;

    /// <summary>Refuses a signature's queue as a per-call queue override would be refused (not valid, or not declared).</summary>
    internal void CheckQueue(string queue) => _envelopes.CheckOptions(new TaskOptions { Queue = queue });

    /// <summary>The message of a signature sent now (<see cref="Client.EnvelopeFactory.Signature"/>), with this client's reply channel when <paramref name="reply"/>.</summary>
    internal EnqueueItem BuildSignatureItem(ITaskBroker broker, StepHeader header, ReadOnlyMemory<byte> args, string id, ReadOnlyMemory<byte> flow, string? rootId, bool reply)
        => _envelopes.Signature(header, args, id, flow, rootId, reply ? broker.ReplyChannel : null);

    /// <summary>The root id a workflow sent now belongs to: the running task's root when sent from inside one.</summary>
    internal static string? CurrentRootId() => RunningTask.TryGet(out _, out string? rootId) ? rootId : null;
}
