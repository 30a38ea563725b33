using Celeriac;

namespace MyClient;

/// <summary>
/// An example task. Tasks shared with workers belong in a library (dotnet new celeriac-tasks) that both reference; it
/// is here so that the client runs on its own, with the in-process broker.
/// </summary>
public static partial class ClientTasks
{
    [Task]
    public static int Add(int x, int y) => x + y;
}
