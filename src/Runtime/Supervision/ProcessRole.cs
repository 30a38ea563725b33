namespace Celeriac.Supervision;

/// <summary>
/// The part this process plays: a worker of its own (the default), the supervisor of <see cref="WorkerOptions.Processes"/>
/// worker processes, or one of a supervisor's children. A child is known by the pipes its supervisor passed it
/// (<see cref="PipesVariable"/>), read once per process.
/// </summary>
internal sealed class ProcessRole
{
    /// <summary>The child's index, 1 to <see cref="WorkerOptions.Processes"/>: set by the supervisor, left for the user's code to read.</summary>
    internal const string IndexVariable = "CELERIAC_WORKER_INDEX";

    /// <summary>The two pipe handles a child talks to its supervisor through: cleared once read, so that the child's own children do not take them for theirs.</summary>
    internal const string PipesVariable = "CELERIAC_SUPERVISOR_PIPES";

    private static readonly Lazy<SupervisorLink?> ChildLink = new(SupervisorLink.FromEnvironment, LazyThreadSafetyMode.ExecutionAndPublication);

    private ProcessRole(bool isSupervisor, SupervisorLink? link)
    {
        IsSupervisor = isSupervisor;
        Link = link;
    }

    /// <summary>A worker of its own: no supervisor, no children (also what a test host gets).</summary>
    internal static ProcessRole Alone { get; } = new(false, null);

    /// <summary>This process supervises worker processes: it runs no worker and fetches nothing.</summary>
    public bool IsSupervisor { get; }

    /// <summary>The link to this child's supervisor, or <see langword="null"/> when the process is no supervisor's child.</summary>
    public SupervisorLink? Link { get; }

    /// <summary>The role of this process under <paramref name="options"/>.</summary>
    public static ProcessRole For(WorkerOptions options)
    {
        SupervisorLink? link = ChildLink.Value;
        return link is not null ? new ProcessRole(false, link) : options.Processes > 0 ? new ProcessRole(true, null) : Alone;
    }

    /// <summary>The worker's name in this role: a child's is distinct per process (<c>base-index:pid</c>), since a recycling child and its replacement live at once.</summary>
    public string WorkerName(string? configured)
    {
        if (Link is null)
        {
            return configured ?? $"{Environment.MachineName}:{Environment.ProcessId}:{Guid.NewGuid().ToString("N")[..6]}";
        }

        string index = Link.Index.ToString(System.Globalization.CultureInfo.InvariantCulture);
        string pid = Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return configured is not null ? $"{configured}-{index}:{pid}" : $"{Environment.MachineName}-{index}:{pid}:{Guid.NewGuid().ToString("N")[..6]}";
    }
}
