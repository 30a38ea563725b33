using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Celeriac.Supervision;

/// <summary>
/// The supervision part of a worker host (<c>AddWorker</c> registers it): in a supervisor (<see cref="WorkerOptions.Processes"/>)
/// it runs the <see cref="Supervisor"/>; in a supervisor's child it watches the supervisor's pipe and stops the host when
/// it closes; otherwise it does nothing.
/// </summary>
internal sealed class SupervisionService(ProcessRole role, IOptions<WorkerOptions> worker, IHostApplicationLifetime lifetime, ILogger<Supervisor> logger, TimeProvider time) : IHostedService
{
    private Supervisor? _supervisor;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (role.IsSupervisor)
        {
            _supervisor = new Supervisor(worker.Value, ChildCommand.OfThisProcess(), logger, time, lifetime);
            _supervisor.Start();
        }
        else if (role.Link is { } link)
        {
            link.WatchSupervisor(() =>
            {
                SupervisionLog.SupervisorGone(logger, link.Index);
                lifetime.StopApplication();
            });
        }

        return Task.CompletedTask;
    }

    /// <summary>
    /// Waits for the children (up to their shutdown timeout and a margin), whatever the host's own shutdown timeout: the
    /// supervisor must not exit while a child still runs a task.
    /// </summary>
    public Task StopAsync(CancellationToken cancellationToken) => _supervisor?.StopAsync() ?? Task.CompletedTask;
}
