using Celeriac;

namespace MyTasks;

/// <summary>
/// Tasks: methods marked [Task] in a partial type. The Celeriac generator adds a nested class per task with typed entry
/// points (ExampleTasks.AddTask.DelayAsync(client, 4, 5)). Reference this library from the worker and from the clients;
/// the worker also references the Celeriac package, whose generator registers this library's tasks there.
/// </summary>
public static partial class ExampleTasks
{
    [Task]
    public static int Add(int x, int y) => x + y;

    [Task(MaxRetries = 3)]
    public static async Task<string> Greet(string name, TaskContext context, CancellationToken cancellationToken)
    {
        await Task.Delay(10, cancellationToken);
        return $"Hello, {name} (task {context.TaskId})";
    }
}
