using Microsoft.Extensions.Options;

namespace Celeriac.Hosting;

/// <summary>Checks <see cref="CeleriacOptions"/> when the host starts, with messages that name the setting.</summary>
internal sealed class CeleriacOptionsValidator : IValidateOptions<CeleriacOptions>
{
    public ValidateOptionsResult Validate(string? name, CeleriacOptions options)
        => options.Validate() is { } problem ? ValidateOptionsResult.Fail(problem) : ValidateOptionsResult.Success;
}

/// <summary>Checks <see cref="WorkerOptions"/> when the host starts, with messages that name the setting.</summary>
internal sealed class WorkerOptionsValidator : IValidateOptions<WorkerOptions>
{
    public ValidateOptionsResult Validate(string? name, WorkerOptions options)
        => options.Validate() is { } problem ? ValidateOptionsResult.Fail(problem) : ValidateOptionsResult.Success;
}
