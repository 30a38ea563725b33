namespace Celeriac.TestTasks;

/// <summary>Static tasks: arithmetic and a task that always fails.</summary>
public static partial class Calc
{
    [Task]
    public static int Add(int x, int y) => x + y;

    [Task]
    public static int Fail(string message) => throw new InvalidOperationException(message);
}
