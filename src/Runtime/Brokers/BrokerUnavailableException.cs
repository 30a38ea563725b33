namespace Celeriac;

/// <summary>
/// The broker is unreachable, restarting or stalled. Thrown by a send the broker could not confirm: the tasks may or may
/// not have been stored (a write can reach Redis and its reply be lost); resend with the same task ids
/// (<see cref="TaskOptions.TaskId"/>): the broker refuses an id it already holds, so a resend never makes a duplicate.
/// Thrown also by a result read, or a wait whose timeout ran out while the broker stayed unreachable: the task and its
/// result are unaffected; ask again.
/// </summary>
public sealed class BrokerUnavailableException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="taskIds">The ids of the tasks whose storage is unconfirmed.</param>
    /// <param name="inner">The broker client's error.</param>
    public BrokerUnavailableException(IReadOnlyList<string> taskIds, Exception inner)
        : base(
            $"The broker did not confirm storing {(taskIds.Count == 1 ? "task " + taskIds[0] : taskIds.Count + " tasks")}: {Summarize(inner.Message)} " +
            "They may or may not have been stored; resend with the same task ids (a duplicate id is refused, so a resend never runs a task twice).",
            inner)
    {
        TaskIds = taskIds;
    }

    /// <summary>A result read or wait for <paramref name="taskId"/> that the broker could not answer.</summary>
    /// <param name="taskId">The task whose result was asked for.</param>
    /// <param name="inner">The broker client's error.</param>
    /// <returns>The exception.</returns>
    internal static BrokerUnavailableException Unreadable(string taskId, Exception inner)
        => new($"The broker could not be read for the result of task {taskId}: {Summarize(inner.Message)} The task and its result are unaffected; ask again once the broker is back.", [taskId], inner);

    private BrokerUnavailableException(string message, IReadOnlyList<string> taskIds, Exception inner)
        : base(message, inner)
    {
        TaskIds = taskIds;
    }

    /// <summary>The broker client's first statement, without its connection dump (the whole text stays on <see cref="Exception.InnerException"/>).</summary>
    private static string Summarize(string message)
    {
        int end = message.Length;
        foreach (string marker in (ReadOnlySpan<string>)[" - Last Connection Exception", "; ", ", command=", ", mc: ", "\n"])
        {
            int at = message.IndexOf(marker, StringComparison.Ordinal);
            if (at > 0 && at < end)
            {
                end = at;
            }
        }

        const int Longest = 200;
        string summary = message[..Math.Min(end, Longest)].TrimEnd('.', ' ', ',');
        return summary + (end > Longest ? "…" : ".");
    }

    /// <summary>The ids of the tasks whose storage is unconfirmed, or the task whose result could not be read.</summary>
    public IReadOnlyList<string> TaskIds { get; }
}
