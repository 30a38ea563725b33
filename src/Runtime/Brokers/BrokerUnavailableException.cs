namespace Celeriac;

/// <summary>
/// The broker could not confirm that it stored the tasks being sent (Redis unreachable, restarting or stalled). The
/// tasks may or may not have been stored: a write can reach Redis and its reply be lost. Resend with the same task ids
/// (<see cref="TaskOptions.TaskId"/>): the broker refuses an id it already holds, so a resend never makes a duplicate.
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

    /// <summary>The ids of the tasks whose storage is unconfirmed.</summary>
    public IReadOnlyList<string> TaskIds { get; }
}
