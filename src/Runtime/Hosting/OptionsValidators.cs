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
/// Also checks that every queue the worker listens on is declared (<c>[assembly: TaskQueue(...)]</c>) by a loaded task
/// assembly. A catalog with no declarations at all passes: declarations are opt-in, so existing workers keep running.
/// </remarks>
internal sealed class WorkerOptionsValidator(TaskCatalog catalog) : IValidateOptions<WorkerOptions>
{
    public ValidateOptionsResult Validate(string? name, WorkerOptions options)
    {
        if (options.Validate() is { } problem)
        {
            return ValidateOptionsResult.Fail(problem);
        }

        if (catalog.HasQueueDeclarations)
        {
            List<string> undeclared = options.EffectiveQueues.Where(q => !catalog.IsQueueDeclared(q)).Distinct(StringComparer.Ordinal).ToList();
            if (undeclared.Count > 0)
            {
                return ValidateOptionsResult.Fail(
                    $"Celeriac:Worker:Queues lists {(undeclared.Count == 1 ? "a queue" : "queues")} no loaded task assembly declares: "
                    + string.Join(", ", undeclared.Select(q => "'" + q + "'"))
                    + ". Declared queues: " + string.Join(", ", catalog.DeclaredQueues.Select(q => "'" + q + "'"))
                    + ". Declare it with [assembly: Celeriac.TaskQueue(\"...\")] in the tasks library, or fix the worker's queue list.");
            }
        }

        return ValidateOptionsResult.Success;
    }
}
