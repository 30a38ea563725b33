using Celeriac;

// Queues are declared: a [Task(Queue = ...)] or a worker listening on an undeclared queue is caught (CEL0209, start-up check).
[assembly: TaskQueue("mail")]

namespace Quickstart;

/// <summary>Static tasks: no state, called directly by the worker.</summary>
public static partial class MathTasks
{
    [Task]
    public static int Add(int x, int y) => x + y;

    [Task(Name = "quickstart.divide")]
    public static double Divide(double x, double y)
        => y == 0 ? throw new DivideByZeroException($"cannot divide {x} by zero") : x / y;

    [Task]
    public static async Task<string> Greet(string name, TaskContext context, CancellationToken cancellationToken)
    {
        await Task.Delay(10, cancellationToken);
        return $"Hello, {name} (task {context.TaskId[..8]}, delivery {context.DeliveryCount})";
    }
}

public enum Urgency { Low, High }

public sealed record Letter(string To, string Subject, IReadOnlyList<string> Lines, Urgency Urgency);

public interface IMailer
{
    Task<int> SendAsync(Letter letter, CancellationToken cancellationToken);
}

public sealed class ConsoleMailer : IMailer
{
    public Task<int> SendAsync(Letter letter, CancellationToken cancellationToken)
    {
        Console.WriteLine($"  [worker] mail to {letter.To}: \"{letter.Subject}\" ({letter.Lines.Count} lines, {letter.Urgency})");
        return Task.FromResult(letter.Lines.Sum(l => l.Length));
    }
}

/// <summary>An instance task: the worker resolves <see cref="MailTasks"/> from a DI scope per run.</summary>
public sealed partial class MailTasks(IMailer mailer)
{
    [Task(Queue = "mail")]
    public Task<int> Send(Letter letter, CancellationToken cancellationToken) => mailer.SendAsync(letter, cancellationToken);
}
