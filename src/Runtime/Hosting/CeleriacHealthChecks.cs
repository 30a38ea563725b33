using Celeriac;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the worker's health checks (<c>Microsoft.Extensions.Diagnostics.HealthChecks</c>; no ASP.NET Core needed).</summary>
public static class CeleriacHealthCheckBuilderExtensions
{
    /// <summary>The name of the readiness check.</summary>
    public const string ReadyCheckName = "celeriac-worker-ready";

    /// <summary>The name of the liveness check.</summary>
    public const string LiveCheckName = "celeriac-worker-live";

    /// <summary>
    /// Adds two checks of the host's worker (<see cref="WorkerStatus"/>): <see cref="ReadyCheckName"/>, tagged
    /// <c>ready</c> — Healthy while the worker consumes, Degraded while it cannot reach its broker, Unhealthy while it
    /// starts, stops or after it stopped; and <see cref="LiveCheckName"/>, tagged <c>live</c> — Healthy from its start
    /// until it stops or fails (an unreachable broker leaves it Healthy: a restart would not bring Redis back).
    /// </summary>
    /// <param name="builder">The health checks builder (<c>services.AddHealthChecks()</c>).</param>
    /// <returns>The builder.</returns>
    /// <remarks>Map them with ASP.NET Core's <c>MapHealthChecks("/ready", new() { Predicate = c =&gt; c.Tags.Contains("ready") })</c>, or read them with <see cref="HealthCheckService"/>.</remarks>
    public static IHealthChecksBuilder AddCeleriacWorker(this IHealthChecksBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Add(new HealthCheckRegistration(ReadyCheckName, sp => new WorkerHealthCheck(sp.GetRequiredService<WorkerStatus>(), live: false), failureStatus: null, tags: ["ready"]));
        builder.Add(new HealthCheckRegistration(LiveCheckName, sp => new WorkerHealthCheck(sp.GetRequiredService<WorkerStatus>(), live: true), failureStatus: null, tags: ["live"]));
        return builder;
    }

    /// <summary>Reads the worker's status: readiness (Degraded while the broker is unreachable) or liveness.</summary>
    private sealed class WorkerHealthCheck(WorkerStatus status, bool live) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            HealthStatus failed = context.Registration.FailureStatus;
            HealthCheckResult result = live
                ? status.IsRunning ? HealthCheckResult.Healthy(status.ToString()) : new HealthCheckResult(failed, status.ToString())
                : !status.IsReady ? new HealthCheckResult(failed, status.ToString())
                : !status.IsBrokerReachable ? HealthCheckResult.Degraded(status.ToString(), data: new Dictionary<string, object>
                {
                    ["unreachableSince"] = status.UnreachableSince?.ToString("O", System.Globalization.CultureInfo.InvariantCulture) ?? string.Empty,
                    ["error"] = status.BrokerError ?? string.Empty,
                })
                : HealthCheckResult.Healthy(status.ToString());
            return Task.FromResult(result);
        }
    }
}
