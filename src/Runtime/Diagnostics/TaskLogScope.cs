using System.Collections;
using Celeriac.Protocol;
using Microsoft.Extensions.Logging;

namespace Celeriac.Diagnostics;

/// <summary>
/// The logging scope of a run: <c>TaskId</c> and <c>TaskName</c> as structured values (a list of pairs, as
/// <c>[LoggerMessage]</c> states are), so that every line logged during the run — the worker's and the task's own,
/// through any logger of the host's factory — carries them. Opened only when <see cref="WorkerOptions.TaskLogScopes"/> is on and the <see cref="Category"/> logger is
/// enabled (any level): with logging off, or that category set to <c>None</c>, a run opens no scope and allocates nothing.
/// </summary>
internal sealed class TaskLogScope : IReadOnlyList<KeyValuePair<string, object?>>
{
    /// <summary>The logging category whose level switches the run scope on (any level) or off (<c>None</c>).</summary>
    public const string Category = "Celeriac.Tasks";

    /// <summary>The scope's key for the task id.</summary>
    public const string TaskIdKey = "TaskId";

    /// <summary>The scope's key for the task name.</summary>
    public const string TaskNameKey = "TaskName";

    private readonly string _id;
    private readonly string _name;

    private TaskLogScope(string id, string name)
    {
        _id = id;
        _name = name;
    }

    /// <summary>Opens the scope of a run of <paramref name="envelope"/> (its values are copied: the envelope is reused).</summary>
    public static IDisposable? Begin(ILogger logger, Envelope envelope) => logger.BeginScope(new TaskLogScope(envelope.Id, envelope.Task));

    public int Count => 2;

    public KeyValuePair<string, object?> this[int index] => index switch
    {
        0 => new(TaskIdKey, _id),
        1 => new(TaskNameKey, _name),
        _ => throw new ArgumentOutOfRangeException(nameof(index)),
    };

    public IEnumerator<KeyValuePair<string, object?>> GetEnumerator()
    {
        yield return this[0];
        yield return this[1];
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>How a text formatter shows the scope: <c>TaskId:… TaskName:…</c>.</summary>
    public override string ToString() => $"TaskId:{_id} TaskName:{_name}";
}
