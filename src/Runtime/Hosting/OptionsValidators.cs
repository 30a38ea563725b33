using Microsoft.Extensions.Options;

namespace Celeriac.Hosting;

/// <summary>Checks <see cref="CeleriacOptions"/> when the host starts, with messages that name the setting.</summary>
internal sealed class CeleriacOptionsValidator : IValidateOptions<CeleriacOptions>
{
    public ValidateOptionsResult Validate(string? name, CeleriacOptions options)
        => options.Validate() is { } problem ? ValidateOptionsResult.Fail(problem) : ValidateOptionsResult.Success;
}

/// <summary>Checks <see cref="WorkerOptions"/> when the host starts, with messages that name the setting.</summary>
/// <remarks>
/// Also checks that worker processes (<see cref="WorkerOptions.Processes"/>) have Redis to share, that the worker has tasks to run (a worker with none would dead-letter every message as an unknown task),
/// and that every queue the worker listens on is declared (<c>[assembly: TaskQueue(...)]</c>) by a loaded task
/// assembly. A catalog with no declarations at all passes: declarations are opt-in, so existing workers keep running.
/// </remarks>
internal sealed class WorkerOptionsValidator(TaskCatalog catalog, IOptions<CeleriacOptions>? celeriac = null) : IValidateOptions<WorkerOptions>
{
    /// <summary>Why a worker with no tasks does not start, and how to fix it.</summary>
    internal const string NoTasksMessage =
        "The worker has no tasks: no task assembly registered any in its TaskCatalog, so every message would be dead-lettered as an unknown task. "
        + "Tasks are registered by the Celeriac source generator, which must run in the worker project itself: add the Celeriac package to the worker "
        + "(dotnet add package Celeriac; it brings the generator) besides its reference to the tasks library (see docs/getting-started.md).";

    /// <summary>Why worker processes need Redis.</summary>
    internal const string ProcessesNeedRedisMessage =
        "Celeriac:Worker:Processes needs a shared broker (Celeriac:Redis): with the in-process broker, each worker process would have a broker of its own that no client reaches.";

    public ValidateOptionsResult Validate(string? name, WorkerOptions options)
    {
        if (options.Validate() is { } problem)
        {
            return ValidateOptionsResult.Fail(problem);
        }

        var failures = new List<string>();
        if (catalog.Count == 0)
        {
            failures.Add(NoTasksMessage);
        }

        if (options.Processes > 0 && celeriac is not null && !celeriac.Value.UsesRedis)
        {
            failures.Add(ProcessesNeedRedisMessage);
        }

        if (catalog.HasQueueDeclarations)
        {
            List<string> undeclared = options.EffectiveQueues.Concat(options.Pools.SelectMany(p => p.Value.EffectiveQueues(p.Key)))
                .Where(q => !catalog.IsQueueDeclared(q)).Distinct(StringComparer.Ordinal).ToList();
            if (undeclared.Count > 0)
            {
                failures.Add(
                    $"Celeriac:Worker:Queues lists {(undeclared.Count == 1 ? "a queue" : "queues")} no loaded task assembly declares: "
                    + string.Join(", ", undeclared.Select(q => "'" + q + "'"))
                    + ". Declared queues: " + string.Join(", ", catalog.DeclaredQueues.Select(q => "'" + q + "'"))
                    + ". Declare it with [assembly: Celeriac.TaskQueue(\"...\")] in the tasks library, or fix the worker's queue list.");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
