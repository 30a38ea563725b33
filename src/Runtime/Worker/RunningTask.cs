using Celeriac.Protocol;

namespace Celeriac.Worker;

/// <summary>
/// The task a consumer is running, as seen by the sends its code makes: the client reads it to set a sent task's
/// <see cref="TaskOptions.ParentId"/> and <see cref="TaskOptions.RootId"/>. A consumer enters its own once, at the start
/// of its loop (setting an <see cref="AsyncLocal{T}"/> allocates, so it is not set per run), and points it at each run's
/// envelope; a run costs two field writes.
/// </summary>
/// <remarks>
/// Work a task leaves running after it returned shares its consumer's instance, so it sees no parent (or the next run's)
/// once its run ended. A run with a hard time limit, which may be abandoned, gets an instance of its own.
/// </remarks>
internal sealed class RunningTask
{
    private static readonly AsyncLocal<RunningTask?> Current = new();

    private Envelope? _envelope; // the consumer's reused envelope: read only while its run lasts
    private string? _id; // a run of its own: fixed strings, still right after the run was abandoned
    private string? _rootId;
    private ReadOnlyMemory<byte> _flow; // a run of its own: a copy of its workflow part (empty outside a workflow)

    /// <summary>Makes <paramref name="running"/> the running task of the calling flow and of the flows it starts.</summary>
    public static void Enter(RunningTask running) => Current.Value = running;

    /// <summary>A running task with fixed ids, for a run that may outlive its consumer's attention (hard time limit).</summary>
    public static RunningTask Of(string id, string? rootId, ReadOnlyMemory<byte> flow) => new() { _id = id, _rootId = rootId ?? id, _flow = flow };

    /// <summary>The running task's id and root id, when the calling code runs inside a task.</summary>
    public static bool TryGet(out string? id, out string? rootId)
    {
        if (Current.Value is { } running)
        {
            if (running._id is { } fixedId)
            {
                id = fixedId;
                rootId = running._rootId;
                return true;
            }

            if (Volatile.Read(ref running._envelope) is { } envelope)
            {
                id = envelope.Id;
                rootId = envelope.RootId ?? id;
                return true;
            }
        }

        id = null;
        rootId = null;
        return false;
    }

    /// <summary>The running task's workflow part (its envelope's <c>flow</c>), when the calling code runs inside a task of a consumer.</summary>
    public static bool TryGetFlow(out ReadOnlyMemory<byte> flow)
    {
        if (Current.Value is { } running)
        {
            if (running._id is not null)
            {
                flow = running._flow;
                return true;
            }

            if (Volatile.Read(ref running._envelope) is { } envelope)
            {
                flow = envelope.Flow;
                return true;
            }
        }

        flow = default;
        return false;
    }

    /// <summary>A run of <paramref name="envelope"/> begins on this consumer.</summary>
    public void Begin(Envelope envelope) => Volatile.Write(ref _envelope, envelope);

    /// <summary>The run ended: sends made from now on have no parent.</summary>
    public void End() => Volatile.Write(ref _envelope, null);
}
