using Celeriac.Brokers;
using Microsoft.Extensions.Hosting;

namespace Celeriac.Hosting;

/// <summary>
/// Connects to the broker while the host starts, before the worker: a worker whose Redis cannot be reached (wrong
/// address, unknown host, no server) fails to start with the connection error, within the connect timeout, instead of
/// starting and then logging fetch errors forever. Registered before the worker by <c>AddWorker</c>. A supervisor of
/// worker processes (<see cref="WorkerOptions.Processes"/>) does not connect: its children do.
/// </summary>
internal sealed class BrokerStartup(BrokerProvider brokers, Supervision.ProcessRole? role = null) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (role?.IsSupervisor != true)
        {
            _ = await brokers.GetAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
