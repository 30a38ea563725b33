namespace Celeriac.TestTasks;

/// <summary>
/// Tasks that send tasks: what a sent task records as its parent and root. <see cref="Spawn"/> takes no
/// <see cref="TaskContext"/>, so its children learn their parent from the run itself, not from a context it passed on.
/// </summary>
public sealed partial class Lineage(ITaskClient client)
{
    /// <summary>Sends another <see cref="Spawn"/> (one level less deep) or, at depth 0, <see cref="Ids"/>; returns the sent task's id.</summary>
    [Task]
    public async Task<string> Spawn(int depth, CancellationToken cancellationToken)
    {
        return depth > 0
            ? (await SpawnTask.DelayAsync(client, depth - 1, cancellationToken).ConfigureAwait(false)).Id
            : (await IdsTask.DelayAsync(client, cancellationToken).ConfigureAwait(false)).Id;
    }

    /// <summary>Sends a chain (Flows.Step, then Flows.Lineage) from inside this run; returns the chain's last task id.</summary>
    [Task]
    public async Task<string> SpawnChain(string run, CancellationToken cancellationToken)
        => (await Workflow.Chain(Flows.StepTask.Sig(1, run, "spawned", 0), Flows.LineageTask.Then()).DelayAsync(client, cancellationToken).ConfigureAwait(false)).Id;

    /// <summary>Sends a 3-step chain from inside this run, its first step slow (<paramref name="milliseconds"/>); returns the chain's last task id.</summary>
    [Task]
    public async Task<string> SpawnSlowChain(string run, int milliseconds, CancellationToken cancellationToken)
        => (await Workflow.Chain(Flows.StepTask.Sig(1, run, "s1", milliseconds), Flows.StepTask.Then(run, "s2", 0), Flows.StepTask.Then(run, "s3", 0)).DelayAsync(client, cancellationToken).ConfigureAwait(false)).Id;

    /// <summary>Its own id, its parent's and its root's, as "id|parent|root".</summary>
    [Task]
    public static string Ids(TaskContext context) => $"{context.TaskId}|{context.ParentId}|{context.RootId}";
}
