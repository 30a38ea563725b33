using Celeriac;

namespace MyWorker;

/// <summary>
/// A task of the worker's own, so that it has something to run from the start. Tasks shared with clients belong in a
/// library (dotnet new celeriac-tasks): reference it here (dotnet add reference) and its tasks are registered too.
/// </summary>
public static partial class WorkerTasks
{
    [Task]
    public static string Ping(string message) => $"pong: {message}";
}
