using Microsoft.Extensions.Logging;

namespace Celeriac.TestTasks;

/// <summary>A task that logs through its own <see cref="ILogger{TCategoryName}"/>: the worker's run scope (task id and name) should be on its lines.</summary>
public sealed partial class Chatter(ILogger<Chatter> logger)
{
    /// <summary>Logs <paramref name="text"/> at Information and returns its length.</summary>
    [Task]
    public int Say(string text)
    {
        logger.LogInformation("chatter says {Text}", text);
        return text.Length;
    }
}
